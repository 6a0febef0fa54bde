"""Searches the server builds from the customer's own words (serve/core/shopping_request.py): a
budget, a category and an order the customer stated are hard filters, whatever the model wrote.

    search_call(text, catalogue)                     (tool, args) | None   routing.search_command: no model needed
    search_arguments(request)                        dict                  search_products arguments for a request
    with_customer_constraints(args, said, catalogue) SearchProducts        agent._grounded: the model's call, filtered

"relógio até 150 reais" never lists a product above R$ 150: the parsed budget caps the model's
max_price (the lower one wins), the customer's categories replace a model category that shares
none of them, and a sort the customer asked for replaces "relevance".
"""

from __future__ import annotations

import re

from serve.contract.tools import SearchProducts
from serve.core.budget import fold
from serve.core.catalog import Catalogue, UnknownCategoryError
from serve.core.shopping_request import ShoppingRequest, category_slugs, parse_request

# Intents whose text may be a search the server can run itself (the nlu stage's labels).
SEARCH_INTENTS = frozenset({"search_product", "browse_categories", "recommendation"})
# Words of other requests that may also carry a product and an amount ("quero devolver o relógio
# de 150 reais", "meu pedido de 80 reais não chegou"): such texts go to the model.
NOT_A_SEARCH = re.compile(
    r"\b(?:devolv|devoluc|troc|cancel|reembols|estorn|rastre|entreg|cheg|atras|defeit|quebr|pagu|comprei|"
    r"pedido|frete|(?:no|meu|ao|do|pro|pra|o) carrinho\b(?! de)|return|refund|track|deliver|arriv|broke|"
    r"my order|cart\b|shipping)"
)


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
