"""Database fixtures for the platform tests (cart, orders, payments, db, migrations).

Import the fixtures you need into a test module (`from tests.serve.platform_fixtures import
engine, factory`). `engine` runs each test twice: on a SQLite file (WAL) and on PostgreSQL in a
schema of its own (CREATE SCHEMA zv_<random> in the shared `test` database, dropped afterwards),
so parallel test runs and other helpers' tables never collide.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from serve.core.catalog import Catalogue
from serve.storage.db import create_schema, make_engine, make_session_factory, session_scope
from serve.storage.tables import Customer

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
ENGINES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema; dropped with everything in it on exit."""
    name = f"zv_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@contextmanager
def empty_engine(kind: str, tmp_path) -> Iterator:
    """An engine on an empty database of `kind` ("sqlite" | "postgres")."""
    if kind == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
        try:
            yield eng
        finally:
            eng.dispose()
        return
    with pg_schema() as schema:
        eng = make_engine(PG_URL, schema=schema)
        try:
            yield eng
        finally:
            eng.dispose()


@pytest.fixture(params=ENGINES)
def engine(request, tmp_path):
    """An engine with the full schema (create_all), on SQLite and on PostgreSQL."""
    with empty_engine(request.param, tmp_path) as eng:
        create_schema(eng)
        yield eng


@pytest.fixture
def factory(engine):
    return make_session_factory(engine)


FIXTURE_DIR = Path(__file__).resolve().parents[1] / "assets" / "catalogue_fixture"


def products_frame() -> pd.DataFrame:
    return pd.read_csv(FIXTURE_DIR / "products.csv", dtype={"product_id": str})


def fixture_catalogue(products: pd.DataFrame | None = None) -> Catalogue:
    """The shipped 24-product catalogue fixture (optionally with edited product rows)."""
    return Catalogue(products if products is not None else products_frame(), source=str(FIXTURE_DIR / "products.csv"))


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return fixture_catalogue()


def new_customer(factory, name: str | None = None, olist_id: str | None = None) -> int:
    """A customer row (random phone hash); returns its id."""
    with session_scope(factory) as s:
        c = Customer(phone_hash=uuid.uuid4().hex * 2, name=name, olist_customer_unique_id=olist_id)
        s.add(c)
        s.flush()
        return c.id


LENCOL = "6c960ba67062c4e0ec86082740d58be2"  # R$ 89,90, freight R$ 15,90
CAPINHA = "92cb7c29f4d12dc79c74e9f4e4a69f9a"  # R$ 19,90, freight R$ 8,90


def new_order(factory, catalogue, method: str = "pix", quantity: int = 1) -> tuple[int, str]:
    """A customer with an order of `quantity` lençóis + 1 capinha (pending_payment): (customer id, code)."""
    from serve.commerce import cart, orders

    cid = new_customer(factory, name="Ana")
    with session_scope(factory) as s:
        cart.add_item(s, cid, catalogue, LENCOL, quantity)
        cart.add_item(s, cid, catalogue, CAPINHA, 1)
        return cid, orders.create_order(s, cid, catalogue, method).code


def make_settings(**overrides):
    from serve.settings import Settings

    base = {
        "ENV": "test",
        "PUBLIC_BASE_URL": "http://bot.test",
        "SANDBOX_WEBHOOK_SECRET": "sandbox-test-secret",
        "DATABASE_URL": "sqlite://",
    }
    return Settings(_env_file=None, **(base | overrides))


def payments_app(factory, settings):
    """A FastAPI app with only the payments router, state set up like serve.app.create_app does."""
    from fastapi import FastAPI

    from serve.routers.payments import router

    app = FastAPI()
    app.include_router(router)
    app.state.settings = settings
    app.state.session_factory = factory
    return app


@pytest.fixture
def client(factory, settings):
    """The payments router under a TestClient; each payment test module defines its `settings`."""
    from fastapi.testclient import TestClient

    with TestClient(payments_app(factory, settings)) as c:
        yield c


def start_payment(factory, code: str, settings) -> dict:
    """payments.start_payment for the order `code`: the payment row's fields as a dict."""
    from sqlalchemy import select

    from serve.commerce import payments
    from serve.storage.tables import Order

    with session_scope(factory) as s:
        p = payments.start_payment(s, s.scalars(select(Order).where(Order.code == code)).one(), settings)
        return {
            k: getattr(p, k) for k in ("id", "provider_payment_id", "checkout_url", "pix_qr_code", "idempotency_key")
        }
