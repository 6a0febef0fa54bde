"""Execution of the contract's tools for ONE verified customer, returning serve/core/tool_results.py dicts.

The model's arguments never carry a customer id or a price (the contract forbids extra fields);
`customer_id` comes from the verified WhatsApp number through the worker, and every price, total
and stock figure from the catalogue and the cart module. Result dicts are built by the same
`serve.core.tool_results` functions the training data was synthesised with, so the model reads at
serving exactly the shapes it was trained on.

    tools = Tools(catalogue, settings, olist=OlistHistory.load(dir))
    args = tools.validate("add_to_cart", '{"product_id": "6c960ba6", "quantity": 2}')  # ToolCallError
    outcome = tools.run(session_factory, customer_id, "add_to_cart", args)           # ToolOutcome

`validate` goes beyond the schema: a product id the catalogue does not know is refused before
anything runs (the model gets the same error text training data shows for it).
Each `run` is one database transaction, retried on lost races (serve.storage.db.run_in_transaction);
with an effect key, a state-changing call records its outcome in that transaction and a replay of
the same turn returns it instead of running again (serve/conversation/effects.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serve.commerce import cart as carts
from serve.commerce import customers, orders, payments
from serve.contract import CustomerContext, ToolCallError, parse_tool_arguments
from serve.contract.tools import ToolArgs
from serve.conversation import cards, effects
from serve.conversation.messages import ButtonsReply, Reply
from serve.conversation.texts import say
from serve.core import tool_results
from serve.core.cart_math import FREIGHT_RULE, CartLine
from serve.core.catalog import Catalogue, Product
from serve.core.history import OlistHistory, PastOrder, history_product_ids
from serve.core.refusal import Refusal
from serve.ops import handoff_queue as queue
from serve.settings import Settings
from serve.storage.db import run_in_transaction
from serve.storage.events import EventName
from serve.storage.tables import Customer, Handoff, Order

log = logging.getLogger(__name__)

ORDER_PLACED = "order_placed"  # checkout's outcome between its two steps: {ORDER_PLACED: order id}


@dataclass
class ToolOutcome:
    name: str
    result: dict
    refused: bool = False  # refused by validation: never executed
    events: list[tuple[str, dict]] = field(default_factory=list)
    pix_code: str | None = None  # checkout: PIX "copia e cola" text, sent as its own message

    @property
    def ok(self) -> bool:
        return not self.refused and "error" not in self.result


class Tools:
    def __init__(self, catalogue: Catalogue, settings: Settings, olist: OlistHistory | None = None):
        self.catalogue = catalogue
        self.settings = settings
        self.olist = olist  # purchase history (recommendations, reorder)

    # ------------------------------------------------------------------------------ validation
    def validate(self, name: str, arguments: str | dict) -> ToolArgs:
        """Schema (contract) + catalogue checks; raises ToolCallError with a message for the model."""
        args = parse_tool_arguments(name, arguments)
        pid = getattr(args, "product_id", None)
        if pid is not None and self.catalogue.get(pid) is None:
            raise ToolCallError(f"produto não encontrado: {pid!r}")
        return args

    # ------------------------------------------------------------------------------ execution
    def run(
        self, session_factory, customer_id: int, name: str, args: ToolArgs, key: effects.EffectKey | None = None
    ) -> ToolOutcome:
        """One call in one transaction; `key`: its place in an inbox batch's turn, so a replayed
        turn gets the stored outcome of an effect instead of applying it twice (effects.py)."""
        handler = getattr(self, f"_{name}")
        ledger = key is not None and name in effects.EFFECTFUL
        arguments = args.model_dump(mode="json")

        def once(s: Session) -> ToolOutcome:
            stored, fresh = effects.lookup(s, key, name, arguments) if ledger else (None, False)
            if stored is not None:
                return ToolOutcome(
                    name, stored["result"], events=[tuple(e) for e in stored["events"]], pix_code=stored["pix_code"]
                )
            outcome = handler(s, customer_id, args)
            if fresh:
                stored = {"result": outcome.result, "events": outcome.events, "pix_code": outcome.pix_code}
                effects.record(s, key, customer_id, name, arguments, stored)
            return outcome

        try:
            outcome = run_in_transaction(session_factory, once)
            if name == "checkout" and ORDER_PLACED in outcome.result:
                outcome = self._payment_link(session_factory, outcome)
            return outcome
        except Refusal as exc:  # refused by the cart, orders or payments (stock, empty cart): tell the model
            return ToolOutcome(name, tool_results.error(str(exc)))

    def _search_products(self, s: Session, cid: int, args) -> ToolOutcome:
        result = tool_results.search_products(self.catalogue, args)
        return ToolOutcome("search_products", result, events=self._shown("search", result))

    def _get_product(self, s: Session, cid: int, args) -> ToolOutcome:
        result = tool_results.get_product(self.catalogue, args)
        p = self.catalogue.get(args.product_id)
        return ToolOutcome("get_product", result, events=[(EventName.PRODUCT_VIEWED, {"product_id": p.product_id})])

    def _recommend(self, s: Session, cid: int, args) -> ToolOutcome:
        history = history_product_ids(customers.past_orders(s, s.get(Customer, cid), self.olist))
        result = tool_results.recommend(self.catalogue, args, history=history)
        return ToolOutcome("recommend", result, events=self._shown("recommend", result))

    def _shown(self, source: str, result: dict) -> list[tuple[str, dict]]:
        ids = [i["id"] for i in result.get("again", []) + result.get("items", [])]
        return [(EventName.RECOMMENDATION_SHOWN, {"source": source, "products": ids})] if ids else []

    # Cart tools: the cart module persists (locks, stock, optimistic version); the result dict is the
    # pure training-data function applied to the cart as it was before the change, so serving and
    # training can never disagree on shape or arithmetic.
    def _add_to_cart(self, s: Session, cid: int, args) -> ToolOutcome:
        p = self.catalogue.get(args.product_id)
        before = carts.view_cart(s, cid, self.catalogue)
        carts.add_item(s, cid, self.catalogue, p.product_id, args.quantity)
        _, result = tool_results.add_to_cart(self.catalogue, before.lines, args, FREIGHT_RULE, before.coupon)
        props = {"product_id": p.product_id, "quantity": args.quantity, "value_cents": p.price_cents * args.quantity}
        return ToolOutcome("add_to_cart", result, events=[(EventName.CART_ADD, props)])

    def _remove_from_cart(self, s: Session, cid: int, args) -> ToolOutcome:
        p = self.catalogue.get(args.product_id)
        before = carts.view_cart(s, cid, self.catalogue)
        carts.remove_item(s, cid, self.catalogue, p.product_id, args.quantity)
        _, result = tool_results.remove_from_cart(self.catalogue, before.lines, args, FREIGHT_RULE, before.coupon)
        qty = result.get("removed", {}).get("qty", 0)
        return ToolOutcome(
            "remove_from_cart", result, events=[(EventName.CART_REMOVE, {"product_id": p.product_id, "quantity": qty})]
        )

    def _view_cart(self, s: Session, cid: int, args) -> ToolOutcome:
        return ToolOutcome("view_cart", self._cart(carts.view_cart(s, cid, self.catalogue)))

    def _cart(self, view: carts.CartView) -> dict:
        return tool_results.cart_view(view.lines, self.catalogue, FREIGHT_RULE, view.coupon)

    # Checkout in two steps, so a slow gateway holds no lock: (1) here, in the tool's transaction,
    # the order (stock reserved, cart closed) and its payment attempt (the idempotency key), recorded
    # in the effect ledger as {ORDER_PLACED: order id}; (2) `_payment_link`, after that commit: the
    # gateway call, outside any transaction, then the link stored in a transaction of its own. A
    # replayed turn or a retry after a failure gets the same order back and the same key, so the
    # gateway returns the payment it already made instead of making a second one.
    def _checkout(self, s: Session, cid: int, args) -> ToolOutcome:
        """The cart becomes an order; with an empty cart and an order awaiting payment, that order's
        link again ("manda o link de novo"), for the method asked ("quero pagar no cartão")."""
        method, provider = args.payment_method, self.settings.PAYMENT_PROVIDER
        try:
            order = orders.create_order(s, cid, self.catalogue, method, self.settings)
            event = (EventName.CHECKOUT_STARTED, {"total_cents": order.total_cents})
        except orders.EmptyCartError:
            order = orders.awaiting_payment(s, cid)  # under the customer lock create_order took
            if order is None:
                raise
            changed = orders.change_payment_method(s, order, method, self.settings)
            event = (EventName.PAYMENT_LINK_RESENT, {"method_changed": changed})
        payments.payment_attempt(s, order, provider)
        props = {"order": order.code, "method": method, "provider": provider} | event[1]
        return ToolOutcome("checkout", {ORDER_PLACED: order.id}, events=[(event[0], props)])

    def _payment_link(self, session_factory, placed: ToolOutcome) -> ToolOutcome:
        """Step (2) of checkout: the link for the placed order; PaymentUnavailable (a Refusal) when
        the gateway fails, the order kept pending (asking for the link again retries it)."""
        order, payment = payments.payment_link(session_factory, placed.result[ORDER_PLACED], self.settings)
        result = tool_results.checkout_result(order.code, order.total_cents, order.payment_method, payment.checkout_url)
        return ToolOutcome("checkout", result, events=placed.events, pix_code=payment.pix_qr_code)

    def _order_status(self, s: Session, cid: int, args) -> ToolOutcome:
        info = orders.order_status(s, cid, args.order_id, olist=self.olist, catalogue=self.catalogue)
        return ToolOutcome("order_status", tool_results.order_status_result(info))

    def _handoff_to_human(self, s: Session, cid: int, args) -> ToolOutcome:
        view = carts.view_cart(s, cid, self.catalogue)
        checkout = s.scalar(
            select(func.count()).select_from(Order).where(Order.customer_id == cid, Order.status == "pending_payment")
        )
        paid = s.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.customer_id == cid, Order.status.in_(("paid", "shipped", "delivered")))
        )
        signals = queue.HandoffSignals(args.reason, view.totals.total_cents, len(view.lines), bool(checkout), paid or 0)
        score = queue.priority_score(signals)
        existing = s.scalars(select(Handoff).where(Handoff.customer_id == cid, Handoff.status == "waiting")).first()
        if existing is not None:  # one waiting ticket per customer: refresh it rather than queue twice
            existing.reason, existing.priority_score = args.reason, max(score, existing.priority_score)
            existing.estimated_value_cents = view.totals.total_cents
        else:
            s.add(
                Handoff(
                    customer_id=cid,
                    reason=args.reason,
                    priority_score=score,
                    estimated_value_cents=view.totals.total_cents,
                    status="waiting",
                )
            )
        props = {"priority_score": score, **{k: round(v, 3) for k, v in queue.parts(signals).items()}}
        return ToolOutcome("handoff_to_human", tool_results.handoff_result(), events=[(EventName.HANDOFF, props)])

    # ------------------------------------------------------------------------------ helpers for the agent
    def cart_lines(self, s: Session, customer_id: int) -> tuple[CartLine, ...]:
        return carts.view_cart(s, customer_id, self.catalogue).lines

    def awaiting_payment(self, s: Session, customer_id: int) -> str | None:
        """The payment method of the customer's order awaiting payment, if there is one."""
        order = orders.awaiting_payment(s, customer_id)
        return order.payment_method if order is not None else None

    def handoff_open(self, s: Session, customer_id: int) -> bool:
        """A person of the team was called for this customer and has not closed the ticket yet."""
        open_ = select(Handoff.id).where(Handoff.customer_id == customer_id, Handoff.status != "closed")
        return s.scalar(open_.limit(1)) is not None

    def view_cart_result(self, lines) -> dict:
        return tool_results.cart_view(tuple(lines), self.catalogue, FREIGHT_RULE)

    def greeting_replies(self, context: CustomerContext, orders: list[PastOrder], lang: str = "pt") -> list[Reply]:
        """A recurring customer's first turn: reorder of the last order and novelties, by name."""
        again = customers.reorder_lines(orders, self.catalogue)
        buttons = []
        if again:
            buttons.append(("reorder:" + ",".join(f"{p.ref}x{q}" for p, q in again), say(lang, "b_reorder")))
        slug = (
            self.catalogue.resolve_category(context.preferred_categories[0]) if context.preferred_categories else None
        )
        if slug:
            buttons.append((f"recommend_cat:{slug}", say(lang, "b_news")))
        if not buttons:
            return []
        who = context.name or say(lang, "welcome_back")
        last = f" ({context.last_order})" if context.last_order and again else ""
        body = say(lang, "offer_reorder", who=who, last=last) if again else say(lang, "offer_news", who=who)
        return [ButtonsReply(body[:1024], tuple(buttons))]

    def card(self, product: Product) -> str | None:
        """PNG product card (serve/conversation/cards.py), cached in MEDIA_DIR; None if rendering fails."""
        try:
            return str(
                cards.render_card(product, self.settings.MEDIA_DIR, low_stock=self.catalogue.is_low_stock(product))
            )
        except Exception:
            log.exception("product card failed", extra={"product_id": product.product_id})
            return None
