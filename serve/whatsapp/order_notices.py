"""What the customer is told when an order moves: paid, payment failed, shipped, delivered, canceled.

A notice is queued in the outbox in the transaction that moved the order, so it goes out if and
only if the move committed. It is a `NoticeReply`: the text below, in the language the customer
writes in, while the 24-hour service window is open; outside it (a boleto settles days later, a
parcel ships a week later) the outbox sends the approved utility template named in
WHATSAPP_NOTICE_TEMPLATES instead, with these body parameters, in this order:

    paid            {{1}} order code, {{2}} total (R$ 1.234,56), {{3}} expected delivery (dd/mm/yyyy)
    payment_failed  {{1}} order code
    shipped         {{1}} order code, {{2}} expected delivery
    delivered       {{1}} order code
    canceled        {{1}} order code

A notice with no template configured is sent as text only inside the window (outside it the
outbox fails it and queues the re-engagement template, as for any free-form reply).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from serve.contract import format_brl
from serve.conversation.messages import NoticeReply, TemplateReply, TextReply
from serve.conversation.model_text import written_language
from serve.conversation.texts import say
from serve.storage.tables import Order
from serve.whatsapp.outbox import enqueue_replies

NOTICES = ("paid", "payment_failed", "shipped", "delivered", "canceled")
# notice → its key in serve/conversation/texts.py
TEXT_KEYS = {"shipped": "order_shipped", "delivered": "order_delivered", "canceled": "order_canceled"}


def _day(order: Order) -> str:
    return order.estimated_delivery.strftime("%d/%m/%Y")


def parameters(order: Order, notice: str) -> tuple[str, ...]:
    """The template's body parameters for `notice` (see the table above)."""
    if notice == "paid":
        return (order.code, format_brl(order.total_cents), _day(order))
    if notice == "shipped":
        return (order.code, _day(order))
    return (order.code,)


def notice_text(order: Order, notice: str, lang: str = "pt") -> str:
    """The free-text form of `notice`, in the customer's language."""
    if notice not in NOTICES:
        raise ValueError(f"unknown order notice {notice!r} (one of {', '.join(NOTICES)})")
    values = {"order": order.code, "eta": _day(order)}
    if notice == "paid":
        values["total"] = format_brl(order.total_cents)
    return say(lang, TEXT_KEYS.get(notice, notice), **values)


def queue_order_notice(session: Session, order: Order, notice: str, *, settings) -> None:
    """Queue `notice` for the order's customer in the caller's transaction."""
    text = notice_text(order, notice, written_language(session, order.customer_id))
    name = settings.WHATSAPP_NOTICE_TEMPLATES.get(notice)
    if name:
        template = TemplateReply(name, settings.WHATSAPP_TEMPLATE_LANGUAGE, parameters(order, notice))
        reply = NoticeReply(text, template)
    else:
        reply = TextReply(text)
    enqueue_replies(session, order.customer_id, [reply])
