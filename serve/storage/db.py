"""Engine and sessions for SQLite (embedded default, WAL) or PostgreSQL (psycopg 3), from DATABASE_URL.

SQLite notes (why the pragmas): WAL lets readers run beside the one writer; `busy_timeout` makes a
second writer wait for the lock instead of failing at once; foreign keys are off by default in
SQLite and must be switched on per connection. pysqlite's default transaction handling is kept
(BEGIN is sent before the first INSERT/UPDATE/DELETE, so a transaction that starts by writing
waits for the write lock with busy_timeout). Code that must read-then-write consistently takes a
lock first: see `lock_customer`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import TypeVar

from sqlalchemy import Engine, create_engine, event, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from serve.settings import get_settings
from serve.storage.tables import Base, Customer

T = TypeVar("T")


class ConcurrencyConflict(Exception):
    """A lost race detected by our own checks (e.g. a cart's version moved); safe to retry."""


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10, schema: str | None = None) -> Engine:
    """An engine for `url`: sqlite:///path.db (WAL), sqlite:// (memory, tests only) or
    postgresql+psycopg://user@host/db (plain postgresql:// is mapped to psycopg 3). `schema`
    (PostgreSQL only) sets the search_path, e.g. one schema per test run in a shared database."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() == "sqlite":
        if schema:
            raise ValueError("make_engine: `schema` is for PostgreSQL; SQLite has one schema per file")
        memory = u.database in (None, "", ":memory:")
        kwargs: dict = {"connect_args": {"check_same_thread": False, "timeout": 30}}
        if memory:  # one shared connection, or every session would see its own empty database
            from sqlalchemy.pool import StaticPool

            kwargs["poolclass"] = StaticPool
        engine = create_engine(u, echo=echo, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            if not memory:
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")  # ms a writer waits for the lock
            cur.close()

        return engine
    if u.get_backend_name() != "postgresql":
        raise ValueError(f"DATABASE_URL: unsupported database {u.get_backend_name()!r} (use sqlite or postgresql)")
    connect_args = {"options": f"-csearch_path={schema}"} if schema else {}
    return create_engine(
        u, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, connect_args=connect_args
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: objects stay readable after commit (handy in tools and tests).
    return sessionmaker(bind=engine, expire_on_commit=False)


@lru_cache
def get_engine() -> Engine:
    return make_engine(get_settings().DATABASE_URL)


@lru_cache
def get_session_factory() -> sessionmaker[Session]:
    return make_session_factory(get_engine())


@contextmanager
def session_scope(factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """One transaction: commit on success, rollback on any exception, always close."""
    session = (factory or get_session_factory())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def is_retryable(exc: BaseException) -> bool:
    """Lost races worth a retry: optimistic version conflicts, SQLite lock errors, Postgres
    serialization/deadlock errors, and unique violations from two concurrent creators."""
    if isinstance(exc, (StaleDataError, ConcurrencyConflict, IntegrityError)):
        return True
    if isinstance(exc, OperationalError):
        msg = str(exc.orig).lower()
        code = getattr(exc.orig, "sqlstate", None)
        return "database is locked" in msg or code in ("40001", "40P01")
    return False


def is_infrastructure_error(exc: BaseException) -> bool:
    """The database itself failed: a dropped connection, a full disk, a lock wait that gave up, an
    exhausted pool, a missing table. Not the turn's fault, so the worker must retry the message
    later (backoff, then dead letter) instead of answering an apology and marking it done."""
    return isinstance(exc, (DBAPIError, DisconnectionError, PoolTimeout))


def run_in_transaction(factory: sessionmaker[Session], fn: Callable[[Session], T], *, attempts: int = 5) -> T:
    """fn(session) in its own transaction, retried on lost races (see `is_retryable`).
    fn must have no side effects outside the database (it may run more than once)."""
    for attempt in range(attempts):
        try:
            with session_scope(factory) as session:
                return fn(session)
        except Exception as exc:
            if attempt == attempts - 1 or not is_retryable(exc):
                raise
            time.sleep(0.01 * 2**attempt)  # 10 ms, 20 ms, ...: let the winner commit
    raise AssertionError("unreachable")


def lock_customer(session: Session, customer_id: int) -> None:
    """Serialise read-modify-write work on one customer's cart/orders until the transaction ends.
    PostgreSQL: row lock `SELECT ... FOR UPDATE` on the customer. SQLite has no row locks: a no-op
    UPDATE takes the database write lock (waiting busy_timeout), so the reads that follow see the
    latest commit and nobody else writes until we commit."""
    if session.get_bind().dialect.name == "postgresql":
        found = session.execute(select(Customer.id).where(Customer.id == customer_id).with_for_update()).first()
    else:
        t = Customer.__table__  # a non-key column: no foreign-key checks on the no-op write
        found = session.execute(update(t).where(t.c.id == customer_id).values(name=t.c.name)).rowcount
    if not found:
        raise LookupError(f"customer {customer_id} does not exist")


def create_schema(engine: Engine) -> None:
    """Create every table (tests; production uses `alembic upgrade head`)."""
    Base.metadata.create_all(engine)


def drop_schema(engine: Engine) -> None:
    Base.metadata.drop_all(engine)


def ping(engine: Engine) -> None:
    """Raises if the database is unreachable (for /readyz)."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
