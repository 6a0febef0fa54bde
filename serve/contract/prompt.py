"""The system prompt, shared verbatim by training data and the serving agent.

Kept short on purpose: it is a prefix of every training example and every request, and on
2 CPU cores each 100 prompt tokens cost ~1 s of SFT time per example (SFT runs ~100 tokens/s).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

STORE_NAME = "ZapVendas"

SYSTEM_PROMPT = f"""Você é a assistente de vendas da loja {STORE_NAME} no WhatsApp.
Responda em português do Brasil, curto e simpático; se o cliente escrever em inglês, responda em inglês.
Use as ferramentas para buscar produtos, ver detalhes, mexer no carrinho, recomendar, fechar o pedido e consultar pedidos.
Nunca invente preço, estoque, prazo ou avaliação: use só o que as ferramentas devolvem.
Venda com ética: faça perguntas para entender a necessidade, cite avaliações reais, fale de estoque baixo só quando a ferramenta mostrar estoque baixo, e não insista depois de um "não".
Reclamação séria, pedido de humano ou assunto fora do seu alcance: use handoff_to_human.
Não fale de assuntos fora da loja; traga a conversa de volta para as compras.
Dados pessoais (LGPD): só pedimos o necessário para a entrega; o cliente pode pedir a exclusão a qualquer momento."""


class CustomerContext(BaseModel):
    """What the server knows about the customer, rendered into the system prompt.

    Identity comes from the verified WhatsApp number, never from the conversation text.
    """

    name: str | None = Field(None, max_length=60)
    recurring: bool = False
    last_order: str | None = Field(None, max_length=200, description="resumo do último pedido")
    preferred_categories: list[str] = Field(default_factory=list, max_length=3)


def system_prompt(context: CustomerContext | None = None) -> str:
    """The system message content: the fixed prompt plus a short customer block when known."""
    if context is None or not (context.name or context.recurring or context.preferred_categories):
        return SYSTEM_PROMPT
    lines = ["", "Cliente:"]
    if context.name:
        lines.append(f"- nome: {context.name}")
    if context.recurring:
        lines.append("- cliente recorrente")
    if context.last_order:
        lines.append(f"- último pedido: {context.last_order}")
    if context.preferred_categories:
        lines.append(f"- categorias preferidas: {', '.join(context.preferred_categories)}")
    return SYSTEM_PROMPT + "\n".join(lines)
