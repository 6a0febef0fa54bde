"""Olist purchase history: the one reader of `histories.parquet` (written by the ingest stage).

Training (the synthesizer's recurring customers) and serving (the customer profile in the system
prompt, reorder, "where is my order" for customers linked to an Olist `customer_unique_id`) read
past orders through `PastOrder`, so both describe a purchase the same way.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from serve.core.catalog import Catalogue

HISTORY_COLUMNS = ("customer_unique_id", "order_id", "product_id", "purchased_at", "price_cents", "order_status")
HISTORY_FILE = "histories.parquet"


@dataclass(frozen=True)
class PastOrder:
    order_id: str  # order code (bot) or Olist order id
    purchased_at: datetime
    product_ids: tuple[str, ...]
    quantities: tuple[int, ...]
    source: str  # "bot" | "olist"
    status: str | None = None  # Olist order_status (olist orders only)
    estimated_delivery: datetime | None = None
    delivered_at: datetime | None = None


class OlistHistory:
    """Olist purchases per customer_unique_id, newest order first."""

    def __init__(self, df: pd.DataFrame | None = None, source: str = "histories"):
        self._orders: dict[str, list[PastOrder]] = {}
        if df is None or df.empty:
            return
        missing = [c for c in HISTORY_COLUMNS if c not in df.columns]
        if missing:
            raise ValueError(f"{source}: missing column(s) {', '.join(missing)}")
        df = df.assign(purchased_at=pd.to_datetime(df["purchased_at"]))
        for col in ("estimated_delivery", "delivered_at"):
            df[col] = pd.to_datetime(df[col]) if col in df.columns else pd.NaT
        for (cust, order_id), rows in df.groupby(["customer_unique_id", "order_id"], sort=False):
            counts = Counter(rows["product_id"].astype(str))  # Olist repeats a row per unit
            first = rows.iloc[0]
            self._orders.setdefault(str(cust), []).append(
                PastOrder(
                    str(order_id),
                    rows["purchased_at"].max().to_pydatetime(),
                    tuple(counts),
                    tuple(counts.values()),
                    "olist",
                    str(first["order_status"]),
                    _pydt(first["estimated_delivery"]),
                    _pydt(first["delivered_at"]),
                )
            )
        for orders in self._orders.values():
            orders.sort(key=lambda o: o.purchased_at, reverse=True)

    @classmethod
    def load(cls, catalogue_dir: str | Path) -> OlistHistory:
        """The history in `catalogue_dir`; empty when the ingest stage wrote none."""
        path = Path(catalogue_dir) / HISTORY_FILE
        return cls(pd.read_parquet(path), str(path)) if path.exists() else cls()

    def orders(self, customer_unique_id: str | None) -> list[PastOrder]:
        return list(self._orders.get(customer_unique_id or "", []))


def _pydt(value) -> datetime | None:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


def history_product_ids(orders: list[PastOrder]) -> list[str]:
    """Purchased product ids, newest first, each once."""
    return list(dict.fromkeys(pid for o in orders for pid in o.product_ids))


def preferred_categories(
    declared: list[str], orders: list[PastOrder], catalogue: Catalogue, limit: int = 3
) -> list[str]:
    """Declared preferences first, then the categories the customer bought most (pt names)."""
    names = [c for c in (declared or []) if c]
    counts = Counter()
    for o in orders:
        for pid, qty in zip(o.product_ids, o.quantities):
            p = catalogue.get(pid)
            if p is not None:
                counts[p.category_pt] += qty
    names += [c for c, _ in counts.most_common() if c not in names]
    return names[:limit]


def order_summary(order: PastOrder, catalogue: Catalogue, max_chars: int = 200) -> str:
    """'Jogo de Lençol Casal 4 Peças Algodão e Capinha Celular Silicone (2x), em 10/06/2018'."""
    parts = []
    for pid, qty in zip(order.product_ids, order.quantities):
        p = catalogue.get(pid)
        if p is not None:
            parts.append(p.name + (f" ({qty}x)" if qty > 1 else ""))
    text = (" e ".join(parts) if parts else "itens fora do catálogo") + f", em {order.purchased_at:%d/%m/%Y}"
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"
