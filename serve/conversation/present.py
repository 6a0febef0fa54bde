"""The back of a turn: tool outcomes worded as WhatsApp replies (text, product list, card, buttons).

Every text built here comes from tool results (money already formatted by the server), so it is
grounded by construction; it is worded in the customer's language from serve/conversation/texts.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from serve.contract import format_brl
from serve.contract.prompt import STORE_NAME
from serve.conversation.knowledge import HUMAN_TOPICS
from serve.conversation.messages import ButtonsReply, ImageReply, ListReply, Reply, TextReply
from serve.conversation.routing import listed
from serve.conversation.texts import say, tool_error, word
from serve.core.cart_math import FREIGHT_RULE
from serve.core.catalog import Catalogue, Product

BODY_MAX_CHARS = 1024  # Cloud API: body of an interactive message, caption of an image
FALLBACK_TEXT = say("pt", "fallback")
ANSWER_BUTTONS = (("recommend", "b_best"), ("view_cart", "b_cart"))  # after a store answer: back to shopping


def _money_line(item: dict) -> str:
    score = f" · ⭐ {item['score']}" if item.get("score") else ""
    return f"{item['price']}{score}"


def shipping_text(r: dict, lang: str) -> str:
    """A get_product result's freight, with the cart's free-shipping rule when it is not free."""
    if r["freight"] == format_brl(0):
        return say(lang, "shipping_free", name=r["name"])
    return (
        say(lang, "shipping", name=r["name"], freight=r["freight"])
        + "\n"
        + say(
            lang,
            "freight_tip",
            free_above=format_brl(FREIGHT_RULE.free_above_cents),
            extra_pct=FREIGHT_RULE.extra_unit_bp // 100,
        )
    )


CART_TOOLS = ("add_to_cart", "remove_from_cart", "view_cart")


def outcomes_text(outcomes, lang: str = "pt", topic: str | None = None) -> str:
    """server_text of each outcome of one turn, the cart's totals only once, after its last change
    ("Repetir pedido" adds two products: two lines, then one total, not a total in between)."""
    last_cart = max((i for i, o in enumerate(outcomes) if o.name in CART_TOOLS and o.ok), default=-1)
    return "\n".join(
        server_text(o, lang, topic, totals=not (o.name in CART_TOOLS and o.ok and i < last_cart))
        for i, o in enumerate(outcomes)
    )


def server_text(outcome, lang: str = "pt", topic: str | None = None, totals: bool = True) -> str:
    """A short text for one tool outcome, from its result only, in the customer's language;
    `topic` (Command.topic) picks what a product answer is about; without `totals` a cart change
    is only its line ("Adicionei 2x ...")."""
    r, name = outcome.result, outcome.name
    if "error" in r:
        return (
            say(lang, "no_orders") if name == "order_status" else say(lang, "error", error=tool_error(lang, r["error"]))
        )
    if name == "get_product" and topic == "shipping":
        return shipping_text(r, lang)
    if name == "get_product":
        text = f"*{r['name']}* — {r['price']}"
        if topic == "details" and lang == "pt" and r.get("desc"):  # descriptions are Portuguese
            text += "\n" + r["desc"]
        if r.get("score"):
            text += f" · ⭐ {r['score']} ({say(lang, 'reviews', n=r['reviews'])})"
        if r.get("low_stock"):
            text += "\n" + say(lang, "low_stock", n=r["stock"])
        if r.get("sold_out"):
            text += "\n" + say(lang, "sold_out")
        if r.get("comment"):
            text += "\n" + say(lang, "comment", comment=r["comment"])
        return text
    if name in ("search_products", "recommend"):
        items = listed(r)
        if not items:
            return say(lang, "no_results")
        head = say(lang, "rated_alike" if topic == "quality" else "options")  # nobody rated those shown
        return head + "\n" + "\n".join(f"• {i['name']} — {_money_line(i)}" for i in items)
    if name in CART_TOOLS:
        head = ""
        if "added" in r:
            added = r["added"]
            now = added.get("in_cart", added["qty"])
            key = "added_more" if now > added["qty"] else "added"  # "mais 1x: agora são 2": the total asked for
            head = say(lang, key, qty=added["qty"], name=added["name"], now=now) + "\n"
        elif "removed" in r:
            head = say(lang, "removed", qty=r["removed"]["qty"], name=r["removed"]["name"]) + "\n"
        if head and not totals:
            return head.strip()
        if not r.get("items") and not r.get("units"):
            return head + say(lang, "cart_empty")
        lines = "".join(f"• {i['qty']}x {i['name']} — {i['price']}\n" for i in r.get("items", []))
        discount = say(lang, "discount", discount=r["discount"]) if r.get("discount") else ""
        freight = say(lang, "free") if r.get("free_shipping") else r["freight"]
        return (
            head
            + lines
            + say(lang, "totals", subtotal=r["subtotal"], freight=freight, discount=discount, total=r["total"])
        )
    if name == "checkout":
        return say(
            lang, "order_created", order=r["order"], total=r["total"], pay=word(lang, "pay", r["pay"]), link=r["link"]
        )
    if name == "order_status":
        text = say(lang, "order_line", order=r["order"], status=word(lang, "st", r["status"]), bought=r["bought"])
        if r.get("delivered"):
            text += say(lang, "delivered", date=r["delivered"])
        elif r.get("eta"):
            text += say(lang, "eta", date=r["eta"])
        return text
    if name == "handoff_to_human":
        return say(lang, "handoff")
    return say(lang, "done")


def buttons(lang: str, *pairs: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """(id, title key) pairs → (id, title) in `lang`."""
    return tuple((choice_id, say(lang, key)) for choice_id, key in pairs)


def fallback_replies(lang: str = "pt") -> list[Reply]:
    return [
        TextReply(say(lang, "fallback")),
        ButtonsReply(
            say(lang, "help_with"),
            buttons(lang, ("recommend", "b_best"), ("view_cart", "b_cart"), ("human", "b_human")),
        ),
    ]


def navigation_replies(
    navigation: str,
    name: str | None = None,
    lang: str = "pt",
    answer: str | None = None,
    topic: str | None = None,
    options: tuple[tuple[str, str, str], ...] = (),
) -> list[Reply]:
    """Answers that need no tool: the payment choice, a greeting, a goodbye, a store answer
    (`answer`, serve/conversation/knowledge.py, with buttons back to shopping or to a person), or
    nothing at all (a reaction)."""
    if navigation == "checkout":  # `answer`: "consigo pagar no pix?" with a full cart
        return ([TextReply(answer)] if answer else []) + [payment_buttons(lang)]
    if navigation == "answer":
        first = (topic or "").split("+")[0]
        pairs = (("human", "b_human"), ("recommend", "b_best")) if first in HUMAN_TOPICS else ANSWER_BUTTONS
        return [TextReply(answer or ""), ButtonsReply(say(lang, "help_with"), buttons(lang, *pairs))]
    if navigation == "silent":
        return []
    if navigation == "note":  # "ok, entendi": a short acknowledgement back, no menu
        return [TextReply(answer or "")]
    if navigation == "which":  # "põe no carrinho" under a list (Command.options): which one? a tap adds it
        ask = say(lang, "which_one_remove" if topic == "remove" else "which_one")  # or takes it out of the cart
        lines = "\n".join(f"{n}. {item} — {price}" for n, (_, item, price) in enumerate(options, 1))
        if len(options) <= 3:
            choices = tuple((cid, _cut(f"{n}. {item}", 20)) for n, (cid, item, _) in enumerate(options, 1))
            return [ButtonsReply(f"{ask}\n{lines}"[:BODY_MAX_CHARS], choices)]
        rows = tuple((cid, _cut(f"{n}. {item}", 24), price) for n, (cid, item, price) in enumerate(options[:10], 1))
        return [ListReply(ask, say(lang, "b_list"), rows)]
    if navigation == "greeting":
        hello = say(lang, "hello_name", name=name.split()[0]) if name and name.split() else say(lang, "hello")
        hello = f"{hello} {answer}" if answer else hello  # "tudo bem?": "Olá! 👋 Tudo ótimo por aqui..."
        menu = buttons(lang, ("recommend", "b_best"), ("view_cart", "b_cart"), ("order_status", "b_order"))
        return [ButtonsReply(say(lang, "greeting", hello=hello, store=STORE_NAME), menu)]
    if navigation in ("thanks", "decline"):
        return [TextReply(say(lang, navigation))]
    raise ValueError(f"unknown navigation {navigation!r}")


def payment_buttons(lang: str = "pt") -> ButtonsReply:
    return ButtonsReply(
        say(lang, "how_pay"),
        buttons(lang, ("checkout:pix", "b_pix"), ("checkout:card", "b_card"), ("checkout:boleto", "b_boleto")),
    )


def product_buttons(p: Product, lang: str = "pt") -> ButtonsReply:
    return ButtonsReply(
        say(lang, "want_it", name=p.name[:60]),
        buttons(lang, (f"add_to_cart:{p.ref}", "b_add"), (f"recommend:{p.ref}", "b_pairs"), ("view_cart", "b_cart")),
    )


def product_list(items: list[dict], lang: str = "pt") -> ListReply:
    rows = tuple((f"product:{i['id']}", _cut(i["name"], 24), _cut(_money_line(i), 72)) for i in items[:10])
    return ListReply(say(lang, "list_body"), say(lang, "b_list"), rows)


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


@dataclass
class Presenter:
    """Builds the reply list for a turn; `card(product) -> png path | None` renders product cards."""

    catalogue: Catalogue
    card: Callable[[Product], str | None] | None = None

    def _card(self, p: Product, caption: str) -> list[Reply]:
        path = self.card(p) if self.card else None
        return [ImageReply(str(path), caption[:BODY_MAX_CHARS], p.product_id)] if path else []

    def replies(
        self,
        outcomes: list,
        text: str | None = None,
        command=None,
        worded_by_server: bool = False,
        name: str | None = None,
        lang: str = "pt",
    ) -> list[Reply]:
        """The messages of one answer, in `lang`. `worded_by_server`: `text` is server_text of the
        outcomes, so it may become a card caption (it already names the product and its price).
        `name`: the customer's name, for the greeting."""
        return fold_text(self._replies(outcomes, text, command, worded_by_server, name, lang))

    def _replies(self, outcomes, text, command, worded_by_server, name, lang) -> list[Reply]:
        if command is not None and command.navigation:  # after the command's calls, if it had any
            answer = navigation_replies(command.navigation, name, lang, command.answer, command.topic, command.options)
            return ([TextReply(text)] if text else []) + answer
        out: list[Reply] = [TextReply(text)] if text else []
        ok = [o for o in outcomes if o.ok]
        if not ok:
            return out
        last = ok[-1]
        r = last.result
        if last.name == "checkout":
            if r["link"] not in (text or ""):
                out.append(TextReply(say(lang, "pay_link", order=r["order"], link=r["link"])))
            if last.pix_code:
                out.append(TextReply(say(lang, "pix_code", code=last.pix_code)))
            return out
        if last.name in CART_TOOLS and (r.get("items") or r.get("units")):
            anchor = r.get("added", {}).get("id") or (r.get("items") or [{}])[-1].get("id")
            body = say(lang, "cart_next") if text and r["total"] in text else say(lang, "cart_total", total=r["total"])
            choices = buttons(
                lang,
                ("checkout", "b_checkout"),
                ("view_cart", "b_cart"),
                (f"recommend:{anchor}" if anchor else "recommend", "b_more"),
            )
            return out + [ButtonsReply(body, choices)]
        shown = [o.result for o in ok if o.name == "get_product"]
        if last.name == "get_product" and len(shown) > 1:  # "o primeiro e o terceiro": side by side, tap one
            return out + [product_list(shown, lang)]
        if last.name == "get_product":
            p = self.catalogue.get(r["id"])
            if p is None:
                return out
            if command is not None and command.topic == "shipping":  # its card was just shown
                return out + [product_buttons(p, lang)]
            if worded_by_server and text and len(text) <= BODY_MAX_CHARS:
                card = self._card(p, text)  # one message: the card says it all
                return (card or out) + [product_buttons(p, lang)]
            return out + self._card(p, f"{p.name} — {r['price']}") + [product_buttons(p, lang)]
        if last.name in ("search_products", "recommend"):
            items = listed(r)
            if len(items) == 1:
                p = self.catalogue.get(items[0]["id"])
                if p is not None:
                    return out + self._card(p, f"{p.name} — {items[0]['price']}") + [product_buttons(p, lang)]
            if items:
                out.append(product_list(items, lang))
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
