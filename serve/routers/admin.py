"""For the store's people: `/admin/kpis` (serve/ops/kpis.py), `/admin/queue` (the handoff queue
ranked by priority, serve/ops/handoff_queue.py), and orders: `GET /admin/orders/{code}` (state,
timestamps, payments), `/admin/alerts` (what needs a person: payments to review, chargebacks,
dead letters) and `POST /admin/orders/{code}/status {"status": "shipped" | "delivered" |
"canceled"}` (serve/commerce/fulfilment.py: 200 moved or already there, 404 unknown order, 409 a
move that is not allowed; the customer is notified through the outbox). Open in development/test;
in production only with `Authorization: Bearer $ADMIN_TOKEN`."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Literal

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from serve.commerce import fulfilment, orders
from serve.deps import SessionDep, SessionFactoryDep, SettingsDep
from serve.ops import kpis
from serve.ops.handoff_queue import current_score
from serve.storage.events import EventName
from serve.storage.tables import Event, Handoff, Order, utcnow
from serve.whatsapp.order_notices import queue_order_notice


def require_admin(s: SettingsDep, authorization: str | None = Header(None)) -> None:
    token = s.ADMIN_TOKEN
    authorised = bool(token and authorization and hmac.compare_digest(authorization, f"Bearer {token}"))
    if s.ENV == "production" and not authorised:
        raise HTTPException(status_code=401, detail="admin token required")


router = APIRouter(prefix="/admin", tags=["admin"], dependencies=[Depends(require_admin)])


@router.get("/kpis")
def admin_kpis(session: SessionDep, days: int = Query(7, ge=1, le=366)) -> dict:
    """Conversion funnel, sales and agent health over the last `days` days."""
    return kpis.kpis(session, utcnow() - timedelta(days=days))


@router.get("/queue")
def admin_queue(session: SessionDep) -> dict:
    rows = session.scalars(select(Handoff).where(Handoff.status == "waiting")).all()
    items = [
        {
            "id": h.id,
            "customer_id": h.customer_id,
            "reason": h.reason,
            "priority": current_score(h.priority_score, h.created_at),
            "base_priority": h.priority_score,
            "value_cents": h.estimated_value_cents,
            "waiting_since": h.created_at.astimezone(UTC).isoformat(),
        }
        for h in rows
    ]
    items.sort(key=lambda x: -x["priority"])
    return {"waiting": len(items), "items": items}


# Events that need a person: each is also an ERROR log line with `alert: true` when it happens.
ALERTS = (EventName.PAYMENT_NEEDS_REVIEW, EventName.ORDER_DISPUTED, EventName.INBOX_DEAD_LETTER)


@router.get("/alerts")
def admin_alerts(session: SessionDep, days: int = Query(7, ge=1, le=366)) -> dict:
    """The newest events that need a person, over the last `days` days."""
    rows = session.scalars(
        select(Event)
        .where(Event.name.in_(ALERTS), Event.created_at >= utcnow() - timedelta(days=days))
        .order_by(Event.id.desc())
        .limit(200)
    ).all()
    items = [{"kind": e.name, "customer_id": e.customer_id, "at": _iso(e.created_at), **e.properties} for e in rows]
    return {"count": len(items), "items": items}


class StatusChange(BaseModel):
    status: Literal["shipped", "delivered", "canceled"]


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def order_view(order: Order) -> dict:
    """An order as operators see it: state, money in cents, every timestamp, its payments."""
    return {
        "order": order.code,
        "status": order.status,
        "payment_method": order.payment_method,
        "total_cents": order.total_cents,
        **{
            f: _iso(getattr(order, f))
            for f in ("created_at", "expires_at", "paid_at", "shipped_at", "delivered_at", "canceled_at")
        },
        "payments": [
            {
                "provider": p.provider,
                "provider_payment_id": p.provider_payment_id,
                "status": p.status,
                "amount_cents": p.amount_cents,
            }
            for p in order.payments
        ],
    }


@router.get("/orders/{code}")
def admin_order(code: str, session: SessionDep) -> dict:
    q = select(Order).where(Order.code == code.strip().upper()).options(selectinload(Order.payments))
    order = session.scalars(q).first()
    if order is None:
        raise HTTPException(404, f"pedido {code} não encontrado")
    return order_view(order)


@router.post("/orders/{code}/status")
async def admin_order_status(code: str, change: StatusChange, factory: SessionFactoryDep, settings: SettingsDep):
    notify = partial(queue_order_notice, settings=settings)
    try:
        moved = await run_in_threadpool(fulfilment.advance, factory, code, change.status, notify=notify)
    except fulfilment.OrderNotFound as exc:
        raise HTTPException(404, str(exc)) from exc
    except orders.InvalidTransition as exc:
        raise HTTPException(409, str(exc)) from exc
    with factory() as s:
        return {"changed": moved.changed} | order_view(s.get(Order, moved.order.id))
