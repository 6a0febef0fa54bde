"""The model's tool arguments, held to what the customer said.

Small models fill arguments nobody gave: an order code "1", a search for "carrinho" when the
customer asked "tem outro modelo?". Each validated call passes here before it runs.
"""

from __future__ import annotations

from pydantic import BaseModel

from serve.conversation.shopping import with_customer_constraints
from serve.conversation.turn import Turn
from serve.core.catalog import Catalogue, tokens
from serve.storage.events import EventName


def grounded_arguments(turn: Turn, name: str, args: BaseModel, catalogue: Catalogue) -> BaseModel:
    """Arguments the customer's words do not support, replaced by what they do support."""
    if name == "order_status" and args.order_id and not turn.mentions(args.order_id):
        # an order code nobody wrote: the latest order
        turn.events.append((EventName.ORDER_ID_IGNORED, {"order_id": args.order_id[:64]}))
        return args.model_copy(update={"order_id": None})
    if name == "search_products":
        said = turn.last_customer_text()
        query = set(tokens(args.query))
        if said and (not query or (turn.lang == "pt" and not query & set(tokens(said)))):
            # a query with no word ("2" for "quero 2 jogos de lençol casal") or, for a customer
            # writing Portuguese like the catalogue, none of the customer's words ("carrinho" for
            # "tem outro modelo?"): search what the customer wrote instead. An English customer's
            # query is the model's translation into catalogue words: kept.
            turn.events.append((EventName.SEARCH_QUERY_REPLACED, {"query": args.query[:120]}))
            args = args.model_copy(update={"query": said[:120]})
        return with_customer_constraints(args, said, catalogue)  # their budget/category/sort: hard filters
    return args
