"""For the store's people: `/admin/kpis` (serve/ops/kpis.py) and `/admin/queue` (the handoff queue
ranked by priority, serve/ops/handoff_queue.py). Open in development/test; in production only with
`Authorization: Bearer $ADMIN_TOKEN`."""

from __future__ import annotations

import hmac
from datetime import UTC, timedelta

from fastapi import APIRouter, Depends, Header, HTTPException, Query
from sqlalchemy import select

from serve.deps import SessionDep, SettingsDep
from serve.ops import kpis
from serve.ops.handoff_queue import current_score
from serve.storage.tables import Handoff, utcnow


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
