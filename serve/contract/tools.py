"""The tool schema: pydantic argument models are the single source of truth.

`TOOLS` (OpenAI function format, what vLLM and the chat template see) is generated from the
models, and the server validates every model-proposed call with the same models, so the schema
the model was trained on and the validation the server applies can never drift apart.
No tool takes a price or a customer id: the server knows both (extra arguments are refused).
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ToolArgs(BaseModel):
    # extra="forbid": a call carrying e.g. `price` or `customer_id` is refused, not ignored.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SearchProducts(ToolArgs):
    """Busca produtos no catálogo por texto, categoria e preço máximo."""

    query: str = Field(min_length=1, max_length=120, description="o que o cliente procura")
    category: str | None = Field(None, max_length=80, description="categoria do catálogo")
    max_price: float | None = Field(None, gt=0, le=1_000_000, description="preço máximo em reais")
    sort: Literal["relevance", "price_asc", "price_desc", "rating", "best_selling"] = "relevance"

    @property
    def max_price_cents(self) -> int | None:
        # The model speaks reais; everything past this edge is integer cents.
        return None if self.max_price is None else round(self.max_price * 100)


class GetProduct(ToolArgs):
    """Mostra os detalhes de um produto (com foto, preço, avaliações e estoque)."""

    product_id: str = Field(min_length=1, max_length=64)


class AddToCart(ToolArgs):
    """Adiciona um produto ao carrinho do cliente."""

    product_id: str = Field(min_length=1, max_length=64)
    quantity: int = Field(1, ge=1, le=99)


class RemoveFromCart(ToolArgs):
    """Remove um produto do carrinho (todas as unidades se quantity for omitido)."""

    product_id: str = Field(min_length=1, max_length=64)
    quantity: int | None = Field(None, ge=1, le=99)


class ViewCart(ToolArgs):
    """Mostra o carrinho com itens, frete e total."""


class Recommend(ToolArgs):
    """Sugere complementos de um produto, ou produtos pelo histórico do cliente."""

    product_id: str | None = Field(None, min_length=1, max_length=64)
    category: str | None = Field(None, max_length=80)


class Checkout(ToolArgs):
    """Fecha o pedido do carrinho e gera o link de pagamento."""

    payment_method: Literal["pix", "card", "boleto"]


class OrderStatus(ToolArgs):
    """Consulta o status e a entrega de um pedido (o último se order_id for omitido)."""

    order_id: str | None = Field(None, min_length=1, max_length=64)


class HandoffToHuman(ToolArgs):
    """Transfere a conversa para um atendente humano."""

    reason: str = Field(min_length=1, max_length=200)


TOOL_ARGS: dict[str, type[ToolArgs]] = {
    "search_products": SearchProducts,
    "get_product": GetProduct,
    "add_to_cart": AddToCart,
    "remove_from_cart": RemoveFromCart,
    "view_cart": ViewCart,
    "recommend": Recommend,
    "checkout": Checkout,
    "order_status": OrderStatus,
    "handoff_to_human": HandoffToHuman,
}


def _parameters(model: type[ToolArgs]) -> dict:
    """A plain JSON schema (no titles, no anyOf-null) that small models and vLLM both read."""
    properties = {}
    for name, field in model.model_fields.items():
        prop = {k: v for k, v in model.model_json_schema()["properties"][name].items() if k != "title"}
        if "anyOf" in prop:  # Optional[X] → X; optionality is expressed by `required`
            prop.update(next(s for s in prop.pop("anyOf") if s.get("type") != "null"))
        prop.pop("default", None)
        if field.description:
            prop["description"] = field.description
        properties[name] = prop
    required = [n for n, f in model.model_fields.items() if f.is_required()]
    return {"type": "object", "properties": properties, "required": required}


TOOLS: list[dict] = [
    {
        "type": "function",
        "function": {"name": name, "description": model.__doc__.strip(), "parameters": _parameters(model)},
    }
    for name, model in TOOL_ARGS.items()
]
TOOL_NAMES = frozenset(TOOL_ARGS)


class ToolCallError(ValueError):
    """A model-proposed call the server refuses; `str(err)` is safe to feed back to the model."""


def parse_tool_arguments(name: str, arguments: str | dict) -> ToolArgs:
    """Validate one tool call (arguments as the JSON string the OpenAI API carries, or a dict)."""
    if name not in TOOL_ARGS:
        raise ToolCallError(f"ferramenta desconhecida: {name!r}")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments or "{}")
        except json.JSONDecodeError as exc:
            raise ToolCallError(f"argumentos não são JSON válido: {exc.msg}") from exc
    if not isinstance(arguments, dict):
        raise ToolCallError("argumentos devem ser um objeto JSON")
    try:
        return TOOL_ARGS[name].model_validate(arguments)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or name}: {e['msg']}" for e in exc.errors())
        raise ToolCallError(f"argumentos inválidos para {name}: {problems}") from exc
