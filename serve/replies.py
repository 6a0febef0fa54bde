"""From tool outcomes to WhatsApp replies; button/list commands handled without the model.

Interactive ids are commands the server runs itself (no model call, deterministic):

    product:<ref>            get_product          (list rows of a search / recommendation)
    add_to_cart:<ref>        add_to_cart qty 1    ("Adicionar" under a product card)
    remove_from_cart:<ref>   remove_from_cart
    view_cart                view_cart
    recommend[:<ref>]        recommend            (complements of <ref>, or for the customer)
    recommend_cat:<slug>     recommend category   ("Ver novidades" for a recurring customer)
    reorder:<ref>x<qty>,...  add_to_cart per item ("Repetir pedido")
    checkout                 (navigation) choose the payment method
    checkout:<pix|card|boleto> checkout
    order_status             order_status
    human                    handoff_to_human

Every text built here comes from tool results (money already formatted by the server), so it is
grounded by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Callable

from serve.catalog import Catalogue, Product
from serve.contract.prompt import STORE_NAME
from serve.messages import ButtonsReply, ImageReply, ListReply, Reply, TextReply

PAY_NAMES = {"pix": "PIX", "card": "cartão", "boleto": "boleto"}
STATUS_PT = {
    "pending_payment": "aguardando pagamento", "created": "criado", "approved": "pagamento aprovado",
    "paid": "pagamento aprovado", "invoiced": "faturado", "processing": "em separação",
    "shipped": "enviado", "delivered": "entregue", "canceled": "cancelado", "unavailable": "indisponível",
}  # fmt: skip
FALLBACK_TEXT = (
    "Desculpe, tive um probleminha para responder agora. 😅 Pode repetir com outras palavras? "
    "Se preferir, use um dos botões abaixo."
)
BODY_MAX_CHARS = 1024  # Cloud API: body of an interactive message, caption of an image
HANDOFF_TEXT = "Certo! Vou chamar uma pessoa da nossa equipe; já já alguém te responde por aqui. 🙋"


@dataclass(frozen=True)
class Command:
    calls: tuple[tuple[str, dict], ...] = ()  # (tool, arguments) run in order
    navigation: str | None = None  # "checkout": answer with the payment choice, no tool

    @property
    def tool(self) -> str | None:
        return self.calls[0][0] if self.calls else None


def parse_command(choice_id: str | None) -> Command | None:
    """The command behind a button/list id; None for ids we do not know (the model reads the title)."""
    if not choice_id:
        return None
    head, _, arg = choice_id.partition(":")
    arg = arg.strip()
    simple = {
        "product": ("get_product", {"product_id": arg}),
        "add_to_cart": ("add_to_cart", {"product_id": arg, "quantity": 1}),
        "remove_from_cart": ("remove_from_cart", {"product_id": arg}),
        "recommend_cat": ("recommend", {"category": arg}),
        "checkout": ("checkout", {"payment_method": arg}),
    }
    if head in simple and arg:
        return Command(calls=(simple[head],))
    if head == "checkout":
        return Command(navigation="checkout")
    if head == "view_cart":
        return Command(calls=(("view_cart", {}),))
    if head == "recommend":
        return Command(calls=(("recommend", {"product_id": arg} if arg else {}),))
    if head == "order_status":
        return Command(calls=(("order_status", {}),))
    if head == "human":
        return Command(calls=(("handoff_to_human", {"reason": "cliente pediu atendimento humano pelo botão"}),))
    if head == "reorder" and arg:
        calls = []
        for part in arg.split(","):
            ref, _, qty = part.partition("x")
            calls.append(("add_to_cart", {"product_id": ref, "quantity": int(qty) if qty.isdigit() else 1}))
        return Command(calls=tuple(calls))
    return None


# Customer intents (models/nlu) the server answers itself when the classifier is confident: they
# need no arguments the model would have to extract, and a 135M model on CPU spends 1-3 s on each
# (and, in bench/turn_latency.py, answered "obrigado!" with a product search).
INTENT_COMMANDS = {
    "greeting": Command(navigation="greeting"),
    "thanks_goodbye": Command(navigation="thanks"),
    "view_cart": Command(calls=(("view_cart", {}),)),
    "order_status": Command(calls=(("order_status", {}),)),
    "checkout": Command(navigation="checkout"),
    "human_request": Command(calls=(("handoff_to_human", {"reason": "cliente pediu atendimento humano"}),)),
    "complaint": Command(calls=(("handoff_to_human", {"reason": "reclamação do cliente"}),)),
}
ORDER_CODE = re.compile(r"\b(ZV\d{4,}|[0-9a-f]{32})\b", re.IGNORECASE)


def intent_command(intent: str, text: str) -> Command | None:
    """The server-side command for a confidently classified intent; None → the model answers."""
    command = INTENT_COMMANDS.get(intent)
    if intent == "order_status" and (code := ORDER_CODE.search(text)):
        return Command(calls=(("order_status", {"order_id": code.group(1)}),))
    return command


def _money_line(item: dict) -> str:
    score = f" · ⭐ {item['score']}" if item.get("score") else ""
    return f"{item['price']}{score}"


def server_text(outcome) -> str:
    """A short pt-BR text for one tool outcome, from its result only."""
    r, name = outcome.result, outcome.name
    if "error" in r:
        if name == "order_status":
            return ("Não encontrei pedidos feitos por este número. Se comprou com outro número, me mande o "
                    "código do pedido (começa com ZV).")  # fmt: skip
        return f"Não consegui fazer isso: {r['error']}."
    if name == "get_product":
        text = f"*{r['name']}* — {r['price']}"
        if r.get("score"):
            text += f" · ⭐ {r['score']} ({r['reviews']} avaliações)"
        if r.get("low_stock"):
            text += f"\nÚltimas {r['stock']} unidades em estoque."
        if r.get("sold_out"):
            text += "\nNo momento está sem estoque."
        if r.get("comment"):
            text += f'\nUm cliente disse: "{r["comment"]}"'
        return text
    if name in ("search_products", "recommend"):
        items = list(r.get("again", [])) + list(r.get("items", []))
        if not items:
            return "Não encontrei produtos com essa descrição. Pode me contar de outro jeito o que procura?"
        lines = [f"• {i['name']} — {_money_line(i)}" for i in items]
        return "Separei estas opções:\n" + "\n".join(lines)
    if name in ("add_to_cart", "remove_from_cart", "view_cart"):
        head = ""
        if "added" in r:
            head = f"Adicionei {r['added']['qty']}x {r['added']['name']} ao carrinho. ✅\n"
        elif "removed" in r:
            head = f"Removi {r['removed']['qty']}x {r['removed']['name']} do carrinho.\n"
        if not r.get("items") and not r.get("units"):
            return head + "Seu carrinho está vazio."
        lines = [f"• {i['qty']}x {i['name']} — {i['price']}\n" for i in r.get("items", [])]
        frete = "grátis" if r.get("free_shipping") else r["freight"]
        disc = f"\nDesconto: {r['discount']}" if r.get("discount") else ""
        return head + "".join(lines) + f"Subtotal: {r['subtotal']} · Frete: {frete}{disc}\n*Total: {r['total']}*"
    if name == "checkout":
        return (f"Pedido *{r['order']}* criado! Total: {r['total']}. "
                f"Pague com {PAY_NAMES.get(r['pay'], r['pay'])} neste link: {r['link']}")  # fmt: skip
    if name == "order_status":
        text = f"Pedido {r['order']}: {STATUS_PT.get(r['status'], r['status'])}. Comprado em {r['bought']}."
        if r.get("delivered"):
            text += f" Entregue em {r['delivered']}."
        elif r.get("eta"):
            text += f" Previsão de entrega: {r['eta']}."
        return text
    if name == "handoff_to_human":
        return HANDOFF_TEXT
    return "Pronto!"


MENU_BUTTONS = (("recommend", "Mais vendidos"), ("view_cart", "Ver carrinho"), ("order_status", "Meu pedido"))


def fallback_replies() -> list[Reply]:
    return [
        TextReply(FALLBACK_TEXT),
        ButtonsReply("Posso te ajudar com:", (("recommend", "Mais vendidos"), ("view_cart", "Ver carrinho"),
                                              ("human", "Falar com atendente"))),  # fmt: skip
    ]


def navigation_replies(navigation: str, name: str | None = None) -> list[Reply]:
    """Answers that need no tool: the payment choice, a greeting, a goodbye."""
    if navigation == "checkout":
        return [payment_buttons()]
    if navigation == "greeting":
        hello = f"Olá, {name.split()[0]}! 👋" if name and name.split() else "Olá! 👋"
        return [ButtonsReply(f"{hello} Sou a assistente de vendas da {STORE_NAME}. Me conta o que você procura "
                             "ou escolha uma opção:", MENU_BUTTONS)]  # fmt: skip
    if navigation == "thanks":
        return [TextReply("Eu que agradeço! Se precisar de algo, é só chamar por aqui. 😊")]
    raise ValueError(f"unknown navigation {navigation!r}")


def payment_buttons() -> ButtonsReply:
    return ButtonsReply("Como você prefere pagar?", (("checkout:pix", "PIX"), ("checkout:card", "Cartão"),
                                                     ("checkout:boleto", "Boleto")))  # fmt: skip


def product_buttons(p: Product) -> ButtonsReply:
    return ButtonsReply(
        f"{p.name[:60]}: quer levar?",
        ((f"add_to_cart:{p.ref}", "Adicionar"), (f"recommend:{p.ref}", "Combina com"), ("view_cart", "Ver carrinho")),
    )


def product_list(items: list[dict]) -> ListReply:
    rows = tuple((f"product:{i['id']}", _cut(i["name"], 24), _cut(_money_line(i), 72)) for i in items[:10])
    return ListReply("Toque numa opção para ver foto, detalhes e avaliações:", "Ver opções", rows)


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass
class Presenter:
    """Builds the reply list for a turn; `card(product) -> png path | None` renders product cards."""

    catalogue: Catalogue
    card: Callable[[Product], str | None] | None = None
    shown: set = field(default_factory=set)

    def _card(self, p: Product, caption: str) -> list[Reply]:
        path = self.card(p) if self.card else None
        return [ImageReply(str(path), caption[:1024], p.product_id)] if path else []

    def replies(self, outcomes: list, text: str | None = None, command=None, worded_by_server: bool = False,
                name: str | None = None) -> list[Reply]:  # fmt: skip
        """The messages of one answer. `worded_by_server`: `text` is server_text of the outcomes, so
        it may become a card caption (it already names the product and its price). `name`: the
        customer's first name, for navigation texts (greeting)."""
        return fold_text(self._replies(outcomes, text, command, worded_by_server, name))

    def _replies(self, outcomes: list, text: str | None, command, worded_by_server: bool, name: str | None) -> list[Reply]:
        if command is not None and command.navigation:
            return navigation_replies(command.navigation, name)
        out: list[Reply] = [TextReply(text)] if text else []
        ok = [o for o in outcomes if o.ok]
        if not ok:
            return out
        last = ok[-1]
        r = last.result
        if last.name == "checkout":
            if r["link"] not in (text or ""):
                out.append(TextReply(f"Link de pagamento do pedido {r['order']}: {r['link']}"))
            if last.pix_code:
                out.append(TextReply(f"PIX copia e cola:\n{last.pix_code}"))
            return out
        if last.name in ("add_to_cart", "remove_from_cart", "view_cart") and (r.get("items") or r.get("units")):
            anchor = r.get("added", {}).get("id") or (r.get("items") or [{}])[-1].get("id")
            third = (f"recommend:{anchor}", "Sugestões") if anchor else ("recommend", "Sugestões")
            body = "O que você quer fazer agora?" if text and r["total"] in text else f"Total do carrinho: {r['total']}"
            out.append(ButtonsReply(body, (("checkout", "Finalizar compra"), ("view_cart", "Ver carrinho"), third)))
            return out
        if last.name == "get_product":
            p = self.catalogue.get(r["id"])
            if p is None:
                return out
            if worded_by_server and text and len(text) <= BODY_MAX_CHARS:
                card = self._card(p, text)  # one message: the card says it all
                return (card or out) + [product_buttons(p)]
            return out + self._card(p, f"{p.name} — {r['price']}") + [product_buttons(p)]
        if last.name in ("search_products", "recommend"):
            items = list(r.get("again", [])) + list(r.get("items", []))
            if len(items) == 1:
                p = self.catalogue.get(items[0]["id"])
                if p is not None:
                    return out + self._card(p, f"{p.name} — {items[0]['price']}") + [product_buttons(p)]
            if items:
                out.append(product_list(items))
        return out


def fold_text(replies: list[Reply]) -> list[Reply]:
    """A text followed by buttons or a list becomes their body: one WhatsApp message instead of two.

    Fewer messages read better, and each extra message to one recipient waits
    OUTBOUND_PER_RECIPIENT_INTERVAL_S (0.25 s) in the outbox: on a 3-message answer that was a
    quarter of the turn's latency once the model call got short.
    """
    out: list[Reply] = []
    for reply in replies:
        prev = out[-1] if out else None
        if isinstance(prev, TextReply) and isinstance(reply, (ButtonsReply, ListReply)):
            body = f"{prev.body}\n\n{reply.body}"
            if len(body) <= BODY_MAX_CHARS:
                out[-1] = replace(reply, body=body)
                continue
        out.append(reply)
    return out
