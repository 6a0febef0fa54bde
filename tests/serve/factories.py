"""Plain helpers and constants the serve tests share (the pytest fixtures live in tests/serve/conftest.py).

The catalogue is the shipped CSV fixture (tests/assets/catalogue_fixture: 24 real-looking Olist
products with reviews, co-purchases and Olist order histories); the fresh-conversation tests use a
larger one (tests/assets/fresh_catalogue: 73 products in 14 Olist categories, with the look-alikes
customers' everyday words must not land on: pet chew toys for "brinquedo", a "Dia das Mães" thermal
cup for a skin-care gift, kitchen furniture for kitchen utensils); the recorded Meta webhooks are in
tests/assets/whatsapp. `EchoAgent` has the exact `Agent.respond` signature (our own interface, not an
external service); `post_signed` sends what Meta would send, signed with the app secret.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
import pandas as pd
from fastapi import FastAPI
from sqlalchemy import select

from serve.commerce.customers import get_or_create_customer
from serve.conversation.agent import Agent
from serve.conversation.messages import Answer, TextReply
from serve.core.catalog import Catalogue
from serve.settings import Settings
from serve.storage.db import session_scope
from serve.storage.tables import Customer, InboxItem, Message
from serve.whatsapp import cloud_api as wa

REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"
ASSETS = REPO_ROOT / "tests" / "assets"
FIXTURE_DIR = ASSETS / "catalogue_fixture"
FRESH_CATALOGUE_DIR = ASSETS / "fresh_catalogue"  # products, reviews, copurchase, Olist-style histories
WHATSAPP_ASSETS = ASSETS / "whatsapp"

PHONE = "5511987654321"  # Ana, the customer in the recorded payloads
HASH_KEY = "test-phone-hash-key"
PHONE_NUMBER_ID = "106540352242922"  # the business number in the recorded payloads
APP_SECRET = "test-app-secret-8c1f0b"
VERIFY_TOKEN = "test-verify-token-51d2"
SANDBOX_SECRET = "sandbox-test-secret"

LENCOL = "6c960ba67062c4e0ec86082740d58be2"  # R$ 89,90, freight R$ 15,90
CAPINHA = "92cb7c29f4d12dc79c74e9f4e4a69f9a"  # R$ 19,90, freight R$ 8,90


def make_settings(**overrides) -> Settings:
    """Settings for tests: no .env, test secrets, payments linked from http://bot.test, greetings
    claimed at once (test_worker/test_webhook check the hold itself)."""
    base = {
        "ENV": "test",
        "DATABASE_URL": "sqlite://",
        "PUBLIC_BASE_URL": "http://bot.test",
        "SANDBOX_WEBHOOK_SECRET": SANDBOX_SECRET,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_ACCESS_TOKEN": "test-access-token",
        "PHONE_HASH_KEY": HASH_KEY,
        "INBOX_GREETING_HOLD_S": 0,
    }
    return Settings(_env_file=None, **(base | overrides))


# --- catalogue ---------------------------------------------------------------------------------


def read_fixture(name: str, source: Path = FIXTURE_DIR) -> pd.DataFrame:
    """One CSV of a catalogue fixture: products, reviews, copurchase or histories."""
    return pd.read_csv(source / f"{name}.csv", dtype={"product_id": str, "other_product_id": str})


def products_frame() -> pd.DataFrame:
    return read_fixture("products")


def fixture_frames(source: Path = FIXTURE_DIR) -> dict[str, pd.DataFrame]:
    names = ("products", "reviews", "copurchase", "histories")
    return {name: read_fixture(name, source) for name in names if (source / f"{name}.csv").is_file()}


def fixture_catalogue(products: pd.DataFrame | None = None) -> Catalogue:
    """The shipped 24-product catalogue with its reviews and co-purchases (optionally edited product rows)."""
    products = products_frame() if products is None else products
    return Catalogue(
        products, reviews=read_fixture("reviews"), copurchase=read_fixture("copurchase"), source=str(FIXTURE_DIR)
    )


def fresh_catalogue() -> Catalogue:
    """The 73-product catalogue of the fresh conversations (tests/fresh)."""
    frames = fixture_frames(FRESH_CATALOGUE_DIR)
    return Catalogue(
        frames["products"], reviews=frames["reviews"], copurchase=frames["copurchase"], source=str(FRESH_CATALOGUE_DIR)
    )


def write_catalogue_dir(dest: Path, source: Path = FIXTURE_DIR) -> Path:
    """A fixture as the parquet directory the ingest stage writes (what Settings.CATALOGUE_DIR points at)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, df in fixture_frames(source).items():
        if name == "histories":
            for col in ("purchased_at", "estimated_delivery", "delivered_at"):
                df[col] = pd.to_datetime(df[col])
        df.to_parquet(dest / f"{name}.parquet", index=False)
    return dest


# --- rows --------------------------------------------------------------------------------------


def new_customer(factory, name: str | None = None, olist_id: str | None = None) -> int:
    """A customer row (random phone hash); returns its id."""
    with session_scope(factory) as s:
        c = Customer(phone_hash=uuid.uuid4().hex * 2, name=name, olist_customer_unique_id=olist_id)
        s.add(c)
        s.flush()
        return c.id


def new_order(factory, catalogue, method: str = "pix", quantity: int = 1) -> tuple[int, str]:
    """A customer with an order of `quantity` lençóis + 1 capinha (pending_payment): (customer id, code)."""
    from serve.commerce import cart, orders

    cid = new_customer(factory, name="Ana")
    with session_scope(factory) as s:
        cart.add_item(s, cid, catalogue, LENCOL, quantity)
        cart.add_item(s, cid, catalogue, CAPINHA, 1)
        return cid, orders.create_order(s, cid, catalogue, method).code


def inbox_rows(factory) -> list[InboxItem]:
    with factory() as s:
        return list(s.scalars(select(InboxItem).order_by(InboxItem.id)))


def message_rows(factory, direction: str | None = None) -> list[Message]:
    with factory() as s:
        q = select(Message).order_by(Message.id)
        if direction:
            q = q.where(Message.direction == direction)
        return list(s.scalars(q))


# --- payments ----------------------------------------------------------------------------------


def payments_app(factory, settings: Settings) -> FastAPI:
    """A FastAPI app with only the payments router, state set up like serve.app.create_app does."""
    from serve.routers.payments import router

    app = FastAPI()
    app.include_router(router)
    app.state.settings = settings
    app.state.session_factory = factory
    return app


def start_payment(factory, code: str, settings: Settings) -> dict:
    """payments.payment_link for the order `code`: the payment row's fields as a dict."""
    from serve.commerce import payments
    from serve.storage.tables import Order

    with factory() as s:
        order_id = s.scalars(select(Order.id).where(Order.code == code)).one()
    _, p = payments.payment_link(factory, order_id, settings)
    return {k: getattr(p, k) for k in ("id", "provider_payment_id", "checkout_url", "pix_qr_code", "idempotency_key")}


# --- WhatsApp ----------------------------------------------------------------------------------


def load_asset(name: str) -> dict:
    """A recorded Meta webhook payload from tests/assets/whatsapp."""
    return json.loads((WHATSAPP_ASSETS / f"{name}.json").read_text())


def webhook_app(factory, settings: Settings | None = None) -> FastAPI:
    """The real app (serve/app.py) on `factory`, without its lifespan: no catalogue, model or loops,
    which the webhook does not need; the worker and sender are driven by the tests themselves."""
    from serve.app import create_app

    app = create_app(settings or make_settings(), start_workers=False)
    app.state.session_factory = factory
    return app


def signed_headers(body: bytes, secret: str = APP_SECRET) -> dict:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": wa.sign(body, secret)}


def post_signed(client: httpx.Client, payload: dict, secret: str = APP_SECRET) -> httpx.Response:
    body = json.dumps(payload, ensure_ascii=False).encode()
    return client.post("/webhook", content=body, headers=signed_headers(body, secret))


class EchoAgent:
    """Test double with `Agent.respond`'s and `Agent.answer`'s signatures: records each call, answers one TextReply."""

    def __init__(self, delay_s: float = 0.0, fail_times: int = 0, always_fail: bool = False):
        self.delay_s, self.fail_times, self.always_fail = delay_s, fail_times, always_fail
        self.calls: list[dict] = []

    async def respond(self, session_factory, customer_id: int, inbound: list) -> list:
        call = {
            "customer_id": customer_id,
            "texts": [m.as_agent_text() for m in inbound],
            "ids": [m.wa_message_id for m in inbound],
            "start": time.monotonic(),
        }
        self.calls.append(call)
        await asyncio.sleep(self.delay_s)
        call["end"] = time.monotonic()
        if self.always_fail or len(self.calls) <= self.fail_times:
            raise RuntimeError("agent exploded")
        return [TextReply("eco: " + " | ".join(call["texts"]))]

    async def answer(self, session_factory, customer_id: int, inbound: list, turn_key: str | None = None) -> Answer:
        """What the worker calls (`Agent.answer`): the same reply, no turn log."""
        return Answer(await self.respond(session_factory, customer_id, inbound))


def agent_env(llm, sqlite_db, tmp_path, **overrides):
    """(Agent on the fixture catalogue and the fake model, session factory, customer id);
    `overrides`: settings other than the test defaults."""
    llm.script.clear()
    llm.requests.clear()
    settings = make_settings(
        LLM_BASE_URL=llm.base_url,
        LLM_MODEL=llm.model,
        MEDIA_DIR=str(tmp_path / "media"),
        AGENT_PREFILL_BETWEEN_TURNS=False,
        **({"LLM_TIMEOUT_S": 2.0} | overrides),
    )
    factory = sqlite_db.factory()
    with session_scope(factory) as s:
        cid = get_or_create_customer(s, PHONE, HASH_KEY, "Ana").id
    return Agent(settings, fixture_catalogue()), factory, cid
