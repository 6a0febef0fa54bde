"""Searches the server builds from the customer's own words (serve/core/shopping_request.py): a
budget, a category and an order the customer stated are hard filters, whatever the model wrote.

    asked_search(text, catalogue)                    (tool, args) | None   routing.shopping_command: asked in words
    search_call(text, catalogue)                     (tool, args) | None   routing.search_command: no model needed
    search_arguments(request)                        dict                  search_products arguments for a request
    with_customer_constraints(args, said, catalogue) SearchProducts        call_arguments.grounded_arguments: the model's call, filtered

"relógio até 150 reais" never lists a product above R$ 150: the parsed budget caps the model's
max_price (the lower one wins), the customer's categories replace a model category that shares
none of them, and a sort the customer asked for replaces "relevance".

"vcs tem utensílio de cozinha?", "procuro um presente pra minha afilhada de 6 anos", "quais os
perfumes mais vendidos?", "tem blocos de montar?" are searched by the server too (`asked_search`):
the words ask for products (a question, "tem", "procuro", "queria", a gift) of a category this
catalogue has, or of a kind its product names start with, and for nothing else. Whatever a classifier makes of them, a request like that is a search; the words
of other requests (a return, an order, the cart, paying, a person, a complaint) keep a text out,
so "o relógio que comprei chegou trincado" still reaches a person.
"""

from __future__ import annotations

import re
from dataclasses import replace

from serve.contract.tools import SearchProducts
from serve.conversation.said import read_said
from serve.core.budget import fold
from serve.core.catalog import Catalogue, UnknownCategoryError
from serve.core.shopping_request import AGE, ShoppingRequest, category_slugs, parse_request

# Intents whose text may be a search the server can run itself (the nlu stage's labels).
SEARCH_INTENTS = frozenset({"search_product", "browse_categories", "recommendation"})
# Words of other requests that may also carry a product and an amount ("quero devolver o relógio
# de 150 reais", "meu pedido de 80 reais não chegou"): such texts go to the model. Products whose
# names start like those words are not such requests ("quebra-cabeça", "trocador", "tô atrás de").
NOT_A_SEARCH = re.compile(
    r"\b(?:devolv|devoluc|troc(?!ador)|cancel|reembols|estorn|rastre|entreg|cheg|atras(?!\s+d[eo]\b)|defeit|"
    r"quebr(?!a[\s-]*cabeca)|pagu|comprei|pedido|frete|(?:no|meu|ao|do|pro|pra|o) carrinho\b(?! de)|return|"
    r"refund|track|deliver|arriv|broke|my order|cart\b|shipping)"
)
# A person, a complaint, paying or taking something out: requests a product word does not make a search.
OTHER_REQUEST = re.compile(
    r"\b(?:atendent|human|pessoa\b|gerente|supervisor|falar com|conversar com|reclam|problema|pessim|horrivel|"
    r"absurd|vergonha|procon|golpe|errad|faltando|nao funciona|parou|estragad|danificad|trincad|rasgad|manchad|"
    r"vazand|amassad|riscad|resolver|finaliz|fechar a compra|pagar|pagamento|pix\b|boleto|checkout|tira\b|"
    r"tirar|remov|exclu|desist|agent\b|person\b|someone|representative|manager|complain|damaged|wrong|"
    r"missing|not working|\bpay\b|payment|remove)"
)
# The words ask for products: a question, "tem", "procuro", "queria", "me mostra", "any", a gift...
ASKS = re.compile(
    r"\?|\b(?:tem|tens|teria|tiver|ver|olhar|quais|qual|opcao|opcoes|algum|alguma|algo|me ve|comprar|compro|"
    r"levar|have|got|sell|which|any|show|want|need|buy|ideas?|looking|i'?\s?m after)\b"
    r"|\b(?:vend|trabalh|procur|busc|precis|quer|gostari|atras d|mostr|indic|sugest|suger|recomend|ideia|"
    r"recommend|suggest)"
)
MIN_KIND_LETTERS = 4  # shorter words ("kit", "par") name no kind of product on their own
# A recipient alone chooses categories only for a gift: "um presente pra minha mãe", "mimo pra sogra".
GIFT = re.compile(r"\b(?:presente|presentear|mimo|lembrancinha|gift|present\b|presents\b|surpresa|surprise)")


def _known(catalogue: Catalogue, request: ShoppingRequest) -> bool:
    slugs = {c.slug for c in catalogue.categories()}
    return any(s in slugs for s in request.categories)


def search_arguments(request: ShoppingRequest, category: bool = True) -> dict:
    """search_products arguments for `request` (max_price in reais, as the contract speaks)."""
    args: dict = {"query": (request.query or request.category_text or request.text.strip())[:120]}
    if category and request.category_text:
        args["category"] = request.category_text
    if request.max_price_cents is not None:
        args["max_price"] = request.max_price_cents / 100
    if request.sort:
        args["sort"] = request.sort
    return args


def asked_search(text: str, catalogue: Catalogue) -> tuple[str, dict] | None:
    """The search the customer's words ask for, with or without a budget: products (ASKS) of a
    category this catalogue has, chosen by a product, aisle or owner word, or by a recipient or an
    age in a gift request; None when the text also asks for something else (NOT_A_SEARCH,
    OTHER_REQUEST) or buys a quantity."""
    folded = fold(text)
    if not folded.strip() or not ASKS.search(folded) or NOT_A_SEARCH.search(folded) or OTHER_REQUEST.search(folded):
        return None
    if read_said(text).quantity:  # "quero 2 lençóis": a purchase of some product; a list would drop the 2
        return None
    request = parse_request(text)
    if not _known(catalogue, request):
        named = product_kinds(request.words, catalogue)  # "tem blocos?": no aisle word, but a kind of product
        return ("search_products", search_arguments(replace(request, words=named))) if named else None
    if request.by_hints and not (GIFT.search(folded) or AGE.search(folded)):
        return None
    return ("search_products", search_arguments(request))


def product_kinds(words: tuple[str, ...], catalogue: Catalogue) -> tuple[str, ...]:
    """The words that name a kind of product this catalogue sells: the first word of some product's
    name ("Blocos de Montar ...", "Cadeirinha para Auto ..."), plural or singular."""
    return tuple(w for w in words if len(w) >= MIN_KIND_LETTERS and catalogue.names_a_kind(w))


def search_call(text: str, catalogue: Catalogue) -> tuple[str, dict] | None:
    """A search the server runs without the model: the text names a category of this catalogue
    and a budget, and asks for nothing else (a return, an order, the cart)."""
    if not text.strip() or NOT_A_SEARCH.search(fold(text)):
        return None
    request = parse_request(text)
    if request.max_price_cents is None or not _known(catalogue, request):
        return None
    return ("search_products", search_arguments(request))


def with_customer_constraints(args: SearchProducts, said: str, catalogue: Catalogue) -> SearchProducts:
    """The model's search_products call with the budget, category and sort the customer's last
    message (`said`) states applied as hard filters."""
    if not said:
        return args
    request = parse_request(said)
    update: dict = {}
    cap = request.max_price_cents
    if cap is not None and (args.max_price_cents is None or args.max_price_cents > cap):
        update["max_price"] = cap / 100
    if _known(catalogue, request):
        try:
            given = set(category_slugs(catalogue, args.category))
        except UnknownCategoryError:
            given = set()
        if not given & set(request.categories):
            update["category"] = request.category_text
    if request.sort and args.sort == "relevance":
        update["sort"] = request.sort
    return args.model_copy(update=update) if update else args
