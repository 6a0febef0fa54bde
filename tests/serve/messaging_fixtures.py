"""Shared pieces for the WhatsApp edge tests (webhook, worker, outbox).

`db` runs a test on a SQLite file and on PostgreSQL (a fresh schema in the `test` database);
`db.engine()` opens another engine on the SAME database, which is how the tests stand in for a
second bot process. `EchoAgent` has the exact `Agent.respond` signature (our own interface, not
an external service); `post_signed` sends what Meta would send, signed with the app secret.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from serve.conversation.messages import TextReply
from serve.settings import Settings
from serve.storage.db import create_schema, make_engine, make_session_factory
from serve.storage.tables import InboxItem, Message
from serve.whatsapp import cloud_api as wa
from tests.serve.platform_fixtures import PG_URL, pg_schema

ASSETS = Path(__file__).parents[1] / "assets" / "whatsapp"
PHONE_NUMBER_ID = "106540352242922"  # the business number in the recorded payloads
APP_SECRET = "test-app-secret-8c1f0b"
VERIFY_TOKEN = "test-verify-token-51d2"


def load_asset(name: str) -> dict:
    return json.loads((ASSETS / f"{name}.json").read_text())


def make_settings(**overrides) -> Settings:
    values = dict(
        ENV="test",
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
        WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
        WHATSAPP_ACCESS_TOKEN="test-access-token",
        PHONE_HASH_KEY="test-phone-hash-key",
        INBOX_GREETING_HOLD_S=0,
    )  # claimed at once; test_worker/test_webhook check the hold itself
    return Settings(_env_file=None, **(values | overrides))


class DB:
    def __init__(self, url: str, schema: str | None):
        self.url, self.schema, self._engines = url, schema, []
        self.kind = "postgres" if schema else "sqlite"

    def engine(self):
        eng = make_engine(self.url, schema=self.schema) if self.schema else make_engine(self.url)
        self._engines.append(eng)
        return eng

    def factory(self):
        """A session factory on a NEW engine (a separate connection pool, like another process)."""
        return make_session_factory(self.engine())

    def dispose(self):
        for eng in self._engines:
            eng.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request, tmp_path):
    if request.param == "sqlite":
        handle = DB(f"sqlite:///{tmp_path / 'bot.db'}", None)
        create_schema(handle.engine())
        yield handle
        handle.dispose()
        return
    with pg_schema() as schema:
        handle = DB(PG_URL, schema)
        create_schema(handle.engine())
        yield handle
        handle.dispose()


@pytest.fixture
def sqlite_db(tmp_path):
    handle = DB(f"sqlite:///{tmp_path / 'bot.db'}", None)
    create_schema(handle.engine())
    yield handle
    handle.dispose()


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
    """Test double with `Agent.respond`'s signature: records each call, answers one TextReply."""

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


def inbox_rows(factory) -> list[InboxItem]:
    with factory() as s:
        return list(s.scalars(select(InboxItem).order_by(InboxItem.id)))


def message_rows(factory, direction: str | None = None) -> list[Message]:
    with factory() as s:
        q = select(Message).order_by(Message.id)
        if direction:
            q = q.where(Message.direction == direction)
        return list(s.scalars(q))
