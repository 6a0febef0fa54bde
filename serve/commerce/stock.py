"""Stock the bot can sell: reserved at checkout, released when an unpaid order expires or is
canceled, taken out of the shelf when the order is paid. Never below zero, on both databases.

Where the figure lives. The catalogue's `stock` column is a snapshot the ingest stage wrote; it is
read-only at serving and training reads the same files, so it cannot record sales. The bot keeps
its own row per product in `stock_levels`, seeded from the catalogue the first time the product is
reserved (INSERT ... ON CONFLICT DO NOTHING, so two first checkouts seed it once). From then on the
row is the truth: a new catalogue build does not overwrite it (that would give back units already
sold); a recount is an operator's UPDATE of `on_hand`.

    on_hand   units on the shelf (paid orders have left it)
    reserved  units held by orders awaiting payment;  0 <= reserved <= on_hand  (CHECK)
    available = on_hand - reserved: what a new checkout may take

Why conditional UPDATEs and not read-then-write: `UPDATE ... SET reserved = reserved + q WHERE
on_hand - reserved >= q` is atomic on PostgreSQL (the row lock is taken by the UPDATE and the
WHERE is re-checked after a concurrent writer commits) and on SQLite (one writer at a time), so
two customers racing for the last units cannot both win whatever the isolation level; the loser
updates no row and is told how many are left. Products are reserved in product-id order, so two
multi-product checkouts lock rows in the same order and cannot deadlock each other.
The functions take a Session and never commit: the order's transaction decides.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from serve.core.cart_math import StockError
from serve.core.catalog import Catalogue
from serve.storage.tables import StockLevel, utcnow

Lines = Iterable[tuple[str, int]]  # (product_id, units)


def _seed(session: Session, product_id: str, units: int) -> None:
    """Create the product's row with the catalogue's count, unless it exists (first use only)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(StockLevel)
        .values(product_id=product_id, on_hand=max(units, 0), reserved=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["product_id"])
    )


def _merged(lines: Lines) -> list[tuple[str, int]]:
    """Units per product, in product-id order (the lock order), zero lines dropped."""
    total: dict[str, int] = {}
    for pid, units in lines:
        total[pid] = total.get(pid, 0) + units
    return sorted((pid, n) for pid, n in total.items() if n > 0)


def available(session: Session, product_id: str, catalogue: Catalogue) -> int:
    """Units a checkout could reserve now (the catalogue's count for a product never reserved)."""
    row = session.get(StockLevel, product_id, populate_existing=True)
    if row is not None:
        return row.on_hand - row.reserved
    p = catalogue.get(product_id)
    return max(p.stock, 0) if p else 0


def reserve(session: Session, lines: Lines, catalogue: Catalogue) -> None:
    """Hold `lines` for an order awaiting payment, all or nothing (the caller's transaction rolls
    back on StockError, pt-BR, naming the product and what is left)."""
    for pid, units in _merged(lines):
        p = catalogue.get(pid)
        _seed(session, pid, p.stock if p else 0)
        t = StockLevel.__table__
        moved = session.execute(
            update(t)
            .where(t.c.product_id == pid, t.c.on_hand - t.c.reserved >= units)
            .values(reserved=t.c.reserved + units, updated_at=utcnow())
        ).rowcount
        if moved != 1:
            left = available(session, pid, catalogue)
            name = p.name if p else pid
            if left <= 0:
                raise StockError(f"{name} esgotou")
            raise StockError(f"só restam {left} unidade{'s' if left > 1 else ''} de {name}")


def release(session: Session, lines: Lines) -> None:
    """Give back what an unpaid order held (it expired or was canceled)."""
    t = StockLevel.__table__
    for pid, units in _merged(lines):
        session.execute(
            update(t)
            .where(t.c.product_id == pid, t.c.reserved >= units)
            .values(reserved=t.c.reserved - units, updated_at=utcnow())
        )


def sell(session: Session, lines: Lines) -> None:
    """A paid order's units leave the shelf: the hold becomes a sale (on_hand and reserved both
    drop, so `available` does not change)."""
    t = StockLevel.__table__
    for pid, units in _merged(lines):
        session.execute(
            update(t)
            .where(t.c.product_id == pid, t.c.reserved >= units, t.c.on_hand >= units)
            .values(on_hand=t.c.on_hand - units, reserved=t.c.reserved - units, updated_at=utcnow())
        )


def levels(session: Session) -> dict[str, tuple[int, int]]:
    """product_id → (on_hand, reserved), for operators and tests."""
    rows = session.execute(select(StockLevel.product_id, StockLevel.on_hand, StockLevel.reserved))
    return {pid: (on_hand, reserved) for pid, on_hand, reserved in rows}
