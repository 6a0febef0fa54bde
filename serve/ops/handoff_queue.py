"""Priority queue for human agents: which waiting conversation a person should pick up next.

The score is a sum of bounded parts, each in [0, 1] times a weight, so no single signal can bury
the others and the number stays readable on the admin page:

  urgency     complaint / cancel / legal words in the reason                      × 3.0
  conversion  proxy for "a sale is close": items in the cart, checkout started      × 2.0
  value       cart value, log-scaled: R$ 10 → 0.0, R$ 1.000 → ~0.67, R$ 10.000+ → 1  × 1.5
  history     recurring customer (paid orders), saturating at 5 orders              × 1.0
  wait        minutes waiting, saturating at 30 min (recomputed when the queue is read) × 2.0

`priority_score` is stored on the `handoffs` row at creation (wait = 0); `/admin/queue` re-ranks
with the current wait so old tickets rise.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

URGENT_RE = re.compile(
    r"reclam|procon|advogad|process|golpe|fraud|roub|cancel|estorn|reembols|devolu|defeit|quebrad|"
    r"errad|nao (chegou|recebi)|não (chegou|recebi)|atras|péssim|pessim|absurd|complain|refund|broken|urgent",
    re.IGNORECASE,
)
WEIGHTS = {"urgency": 3.0, "conversion": 2.0, "value": 1.5, "history": 1.0, "wait": 2.0}
WAIT_SATURATION_MIN = 30.0
HISTORY_SATURATION = 5


@dataclass(frozen=True)
class HandoffSignals:
    reason: str
    cart_value_cents: int = 0
    cart_items: int = 0
    checkout_started: bool = False
    paid_orders: int = 0
    waited_s: float = 0.0


def parts(s: HandoffSignals) -> dict[str, float]:
    """Each component in [0, 1] (before weights)."""
    urgency = 1.0 if URGENT_RE.search(s.reason or "") else 0.0
    conversion = 0.0 if s.cart_items == 0 else (1.0 if s.checkout_started else 0.6)
    reais = max(s.cart_value_cents, 0) / 100
    value = min(1.0, max(0.0, math.log10(reais) - 1) / 3) if reais > 10 else 0.0
    history = min(s.paid_orders, HISTORY_SATURATION) / HISTORY_SATURATION
    wait = min(max(s.waited_s, 0.0) / 60 / WAIT_SATURATION_MIN, 1.0)
    return {"urgency": urgency, "conversion": conversion, "value": value, "history": history, "wait": wait}


def priority_score(s: HandoffSignals) -> float:
    return round(sum(WEIGHTS[k] * v for k, v in parts(s).items()), 4)


def current_score(stored_score: float, created_at: datetime, now: datetime | None = None) -> float:
    """The stored score (computed with wait = 0) plus the wait part as of `now`."""
    now = now or datetime.now(UTC)
    if created_at.tzinfo is None:  # SQLite hands back naive datetimes; we always store UTC
        created_at = created_at.replace(tzinfo=UTC)
    waited = (now - created_at).total_seconds()
    return round(stored_score + WEIGHTS["wait"] * min(max(waited, 0) / 60 / WAIT_SATURATION_MIN, 1.0), 4)
