"""The front of a turn: what the customer's button, list choice or classified text asks the server
to do, as a `Command` (tool calls run without the model, or a navigation answer).

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

Free texts whose intent the nlu stage's classifier is sure of (greeting, thanks, "no, thanks", my
cart, my order, checkout, a person / a complaint) become commands too (INTENT_COMMANDS), and so
does a follow-up about the product in focus (`focus_command`) and a search that names a category
and a budget (`search_command`, serve/conversation/shopping.py).

Two free texts are commands whatever the classifier says: a request for products of a category
this catalogue has ("vcs tem ferramenta de jardim?": `shopping_command`), and, with items in the
cart, the question of what it all came to ("quanto deu com o frete?": `cart_total_command`, the
cart with its freight and total).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from serve.conversation.shopping import SEARCH_INTENTS, asked_search, search_arguments, search_call
from serve.conversation.texts import is_follow_up
from serve.core.budget import fold
from serve.core.catalog import Catalogue
from serve.core.shopping_request import parse_request


@dataclass(frozen=True)
class Command:
    calls: tuple[tuple[str, dict], ...] = ()  # (tool, arguments) run in order
    navigation: str | None = None  # "checkout": answer with the payment choice, no tool
    topic: str | None = None  # what the customer asked about the product: "details" | "shipping"
    # (or the store topic of a knowledge answer: "payment", "returns", "audio", ...)
    answer: str | None = None  # navigation "answer": the server's text (serve/conversation/knowledge.py)
    options: tuple[tuple[str, str, str], ...] = ()  # navigation "which": (choice id, name, price) to pick from

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
# need no arguments the model would have to extract, so a model call would only add latency and a
# chance of a wrong tool.
INTENT_COMMANDS = {
    "greeting": Command(navigation="greeting"),
    "thanks_goodbye": Command(navigation="thanks"),
    "decline": Command(navigation="decline"),  # "vou pensar", "não, obrigado": no insisting (system prompt)
    "view_cart": Command(calls=(("view_cart", {}),)),
    "order_status": Command(calls=(("order_status", {}),)),
    "checkout": Command(navigation="checkout"),
    "human_request": Command(calls=(("handoff_to_human", {"reason": "cliente pediu atendimento humano"}),)),
    "complaint": Command(calls=(("handoff_to_human", {"reason": "reclamação do cliente"}),)),
}
ORDER_CODE = re.compile(r"\b(ZV\d{4,}|[0-9a-f]{32})\b", re.IGNORECASE)
# Words of a message about an order already placed; without one (or a code) an order_status call
# by the model answers something nobody asked ("qual barraca mais em conta?" → "no orders found").
ORDER_WORDS = re.compile(
    r"\b(pedidos?|encomendas?|entreg\w*|rastre\w*|cheg\w*|envi\w*|compr\w*|status|codigo|nota fiscal|correios|"
    r"orders?|package|parcel|deliver\w*|track\w*|ship\w*|arriv\w*|bought|purchase\w*)\b"
)


def asks_about_orders(text: str) -> bool:
    return bool(ORDER_CODE.search(text) or ORDER_WORDS.search(fold(text)))


def intent_command(intent: str, text: str) -> Command | None:
    """The server-side command for a confidently classified intent; None → the model answers."""
    if intent == "order_status" and (coded := order_code_command(intent, text)) is not None:
        return coded
    return INTENT_COMMANDS.get(intent)


def order_code_command(intent: str, text: str) -> Command | None:
    """order_status for the order code the customer quotes ("rastreio do ZV56240 pfv"), whatever
    the classifier's confidence: a code names one order. A complaint or a request for a person
    about that order goes to a person instead (None here)."""
    if intent in ("complaint", "human_request") or not (code := ORDER_CODE.search(text)):
        return None
    return Command(calls=(("order_status", {"order_id": code.group(1)}),))


# Intents whose answer is one tool with arguments only the model can read from the customer's words
# (a query, a budget, which product): with AGENT_TOOL_FROM_INTENT the server names the tool and the
# model writes the arguments. The pairs are the ones the training dialogues show (pipelines/synth_*.py).
INTENT_TOOLS = {
    "search_product": "search_products",
    "browse_categories": "recommend",
    "recommendation": "recommend",
    "product_details": "get_product",
    "add_to_cart": "add_to_cart",
    "remove_from_cart": "remove_from_cart",
}


# Follow-up questions about the product just shown: in training the assistant answers each with
# get_product on that product (pipelines/synth_steps.py: details, synth_flows.py: objections). The
# server knows which product is in focus; a small model often does not find its id in the context.
FOCUS_TOPICS = {"product_details": "details", "objection_quality": "details", "objection_shipping": "shipping"}


def listed(result: dict) -> list[dict]:
    """The products a search/recommend result lists: the reorder offer ("again") first. An order's
    "items" are names (order_status), not products shown: none."""
    if "order" in result:
        return []
    return [i for i in [*result.get("again", []), *result.get("items", [])] if isinstance(i, dict)]


def focus_product(messages: list[dict]) -> str | None:
    """The product the conversation is about: the one product named by the latest tool result
    (a product shown, added, or a search/cart with a single item); None when it named several
    ("o segundo" needs the list: the model decides) or was about something else (an order)."""
    for m in reversed(messages):
        if m.get("role") != "tool":
            continue
        try:
            r = json.loads(m["content"]) if isinstance(m["content"], str) else m["content"]
        except (TypeError, ValueError):
            return None
        if not isinstance(r, dict):
            return None
        if "added" in r:
            return r["added"].get("id")
        if "id" in r and "price" in r:  # get_product
            return r["id"]
        items = listed(r)
        return items[0].get("id") if len(items) == 1 else None
    return None


def focus_command(intent: str, text: str, messages: list[dict]) -> Command | None:
    """get_product on the product in focus (`focus_product` of the conversation's `messages`), for
    a follow-up that names no other product."""
    topic = FOCUS_TOPICS.get(intent)
    if topic is None or not is_follow_up(text):
        return None
    product_id = focus_product(messages)
    if not product_id:
        return None
    return Command(calls=(("get_product", {"product_id": product_id}),), topic=topic)


def search_command(intent: str, text: str, catalogue: Catalogue) -> Command | None:
    """For a search-like intent (any confidence), the search the customer's words fully state
    (a category of this catalogue and a budget), run without the model; else None."""
    call = search_call(text, catalogue) if intent in SEARCH_INTENTS else None
    return Command(calls=(call,)) if call else None


def shopping_command(text: str, catalogue: Catalogue) -> Command | None:
    """The search a request for products of this catalogue asks for (shopping.asked_search), with
    or without a budget, whatever the classifier makes of it; else None."""
    call = asked_search(text, catalogue)
    return Command(calls=(call,)) if call else None


# "quanto deu?", "qnto ficou com o frete?", "qual o total?", "how much do I owe?": what everything
# in the cart comes to. A sum word (deu, ficou, tudo, total...) with an amount word, and no word
# but these: "quanto fica o frete?" asks about the product in focus, "quanto custa o lençol?" a price.
SUM = re.compile(
    r"\b(?:deu|ficou|ficaria|vai dar|vai ficar|tudo|todo|total|owe|altogether|together|come to|comes to)\b"
)
AMOUNT = re.compile(r"\b(?:quanto|qnto|qto|qt|quant|valor|qual|ql|how much|what s|whats|what is|total)\b")
TOTAL_WORDS = frozenset(
    "quanto qnto qto qt quant valor qual ql e eh o a os as com sem frete entrega envio deu ficou ficaria fica vai "
    "dar tudo todo ao no total final entao ai agora ja mais junto contando incluindo minha compra carrinho me "
    "passa diz fala ver how much is it that what s whats does do i owe come comes to with shipping delivery "
    "altogether together all in the my cart so far".split()
)


def cart_total_command(text: str, has_cart: bool) -> Command | None:
    """view_cart (its lines, freight and total) for a question about what the cart comes to; None
    without items in the cart or when the text says anything else."""
    words = re.findall(r"[a-z]+", fold(text))
    if not has_cart or not words or any(w not in TOTAL_WORDS for w in words):
        return None
    folded = " ".join(words)
    return Command(calls=(("view_cart", {}),)) if SUM.search(folded) and AMOUNT.search(folded) else None


# The classifier's guesses answered, when the model gives nothing usable, with a search of the
# customer's own words: no product in focus was found for them before the model was asked.
FALLBACK_SEARCH_INTENTS = ("search_product", "objection_price", "add_to_cart")


def fallback_command(intent: str, text: str) -> Command | None:
    """What to do with the classifier's guess when the model gave no usable answer: the intent's
    command, or for a product search the customer's own words as the query, with the budget and
    the order they state as arguments (the search reads category words from the query itself;
    a plain search beats an apology)."""
    if intent in FALLBACK_SEARCH_INTENTS and text.strip():
        args = search_arguments(parse_request(text), category=False) | {"query": text.strip()[:120]}
        return Command(calls=(("search_products", args),))
    if intent == "recommendation":
        return Command(calls=(("recommend", {}),))
    return intent_command(intent, text)
