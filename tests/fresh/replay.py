"""Replay one fresh conversation through the bot's whole WhatsApp path and judge it.

The real app (serve.app.create_app: migrations, catalogue, intent classifier, agent) on its own
SQLite file. Each customer message is a Meta-format webhook POSTed to /webhook signed with the app
secret (an unsigned copy of the first one must be refused); the inbox worker and outbox sender the
app would run (the same classes, built from the same settings) then answer it, and the sender
delivers to the fake Graph API (serve/devtools/fake_graph.py), which validates each body as Meta
does and records it: that record is what the customer saw. Payment links are paid on the app's
own sandbox page (POST /pay/{id}), whose signed gateway webhook marks the order paid and queues
the confirmation. Everything runs in-process over httpx's ASGI transport, one event loop, no
sleeps: worker and sender are drained after each message, so a turn costs only the bot's work.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import func, select

from serve.app import create_app
from serve.commerce import customers
from serve.devtools import fake_graph
from serve.storage.db import session_scope
from serve.storage.tables import InboxItem
from serve.whatsapp import outbox
from serve.whatsapp.cloud_api import GraphClient, inbound_message, sign, webhook_payload
from serve.whatsapp.worker import Worker
from tests.fresh.checks import Refs, check_end, check_turn, every_answer
from tests.fresh.database import read_state, seed_order
from tests.fresh.screen import Screen, find_tap, pay_link, read
from tests.fresh.script import Conversation, Turn
from tests.serve.factories import make_settings


@dataclass(frozen=True)
class Bot:
    """What the bot under test runs on: catalogue, intent classifier, model server."""

    catalogue_dir: Path
    nlu_dir: str
    llm_base_url: str
    llm_model: str
    media_dir: Path  # product cards, shared by the conversations (rendered once)
    llm_timeout_s: float = 5.0


@dataclass
class Replayed:
    failures: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    def report(self) -> str:
        return "\n".join(["what failed:", *self.failures, "", "transcript:", *self.transcript])


def phone_of(conversation: Conversation) -> str:
    return f"55119{zlib.crc32(conversation.id.encode()) % 10**8:08d}"


def message_of(turn: Turn, phone: str, screens: list[Screen]) -> list[dict] | str:
    """The Meta-format messages one turn sends, or why the customer cannot do it."""
    if turn.action == "say":
        return [inbound_message(phone, "text", {"body": text}) for text in turn.value]
    if turn.action == "tap":
        found = find_tap(screens, turn.value)
        if found is None:
            return f"cannot tap {turn.value!r}: the bot never offered it"
        kind, choice_id, title = found
        return [inbound_message(phone, "interactive", {"type": kind, kind: {"id": choice_id, "title": title}})]
    ((kind, fields),) = turn.value.items()
    fields = dict(fields or {})  # a media message may come without a caption, a location without a name
    media_id = str(10**15 + zlib.crc32(phone.encode()))
    caption = {"caption": fields["caption"]} if fields.get("caption") else {}
    body = {
        "audio": {"id": media_id, "mime_type": "audio/ogg; codecs=opus", "voice": True},
        "image": {"id": media_id, "mime_type": "image/jpeg", **caption},
        "location": fields,
    }[kind]
    return [inbound_message(phone, kind, body)]


class Session:
    """One conversation in flight: the customer's side of the app, the worker, the sender, the fake Graph API."""

    def __init__(self, conversation: Conversation, app, http: httpx.AsyncClient, worker, sender, graph_state):
        self.conversation, self.app, self.http = conversation, app, http
        self.worker, self.sender, self.graph_state = worker, sender, graph_state
        self.settings, self.catalogue = app.state.settings, app.state.catalogue
        self.factory = app.state.session_factory
        self.phone, self.refs, self.screens = phone_of(conversation), Refs(self.catalogue), []
        self.seen, self.forged_checked = 0, False

    async def post(self, message: dict) -> str | None:
        """POST one message as Meta would (signed); why it failed, or None."""
        payload = webhook_payload(
            self.settings.WHATSAPP_PHONE_NUMBER_ID, [message], profile_names={self.phone: self.conversation.customer}
        )
        raw = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if not self.forged_checked:  # once per conversation: a forged delivery is refused
            self.forged_checked = True
            forged = await self.http.post("/webhook", content=raw, headers=headers | {SIGNATURE: sign(raw, "forged")})
            if forged.status_code != 403:
                return f"a webhook with a wrong signature got HTTP {forged.status_code}"
        signed = headers | {SIGNATURE: sign(raw, self.settings.WHATSAPP_APP_SECRET)}
        r = await self.http.post("/webhook", content=raw, headers=signed)
        if r.status_code != 200 or r.json().get("stored") != 1:
            return f"the signed webhook answered HTTP {r.status_code} {r.text[:200]}"
        return None

    async def act(self, turn: Turn) -> str | None:
        """The customer's part of a turn, and the bot's answer delivered; why it could not happen, or None."""
        if turn.action == "pay":
            charge = pay_link(self.screens)
            if charge is None:
                return "no payment link was sent"
            r = await self.http.post(f"/pay/{charge}", data={"action": "pay"})
            if r.status_code != 200:
                return f"the sandbox page answered HTTP {r.status_code}"
        else:
            messages = message_of(turn, self.phone, self.screens)
            if isinstance(messages, str):
                return messages
            for message in messages:
                if message["type"] == "text":
                    message["text"]["body"] = self.refs.fill(message["text"]["body"])
                if problem := await self.post(message):
                    return problem
            while await self.worker.run_once():
                pass
        while await self.sender.run_once():
            pass
        return None

    def answer(self) -> Screen:
        """What reached the customer since the last call."""
        payloads = [m["payload"] for m in self.graph_state.messages[self.seen :]]
        self.seen = len(self.graph_state.messages)
        screen = read(payloads, self.catalogue)
        self.screens.append(screen)
        return screen

    def customer_id(self) -> int:
        """The customer row the webhook made for this phone (or `before` made, to seed an order)."""
        with session_scope(self.factory) as db:
            return customers.get_or_create_customer(
                db, self.phone, self.settings.PHONE_HASH_KEY, self.conversation.customer
            ).id

    def unanswered(self) -> int:
        with session_scope(self.factory) as s:
            return s.scalar(select(func.count()).select_from(InboxItem).where(InboxItem.status != "done"))

    async def run(self) -> Replayed:
        """Every turn in order, each judged on what the customer saw and the database; then the end."""
        out, seeded = Replayed(), None
        if spec := self.conversation.before.get("order"):
            seeded = self.refs.values["order"] = seed_order(
                self.factory, self.customer_id(), spec, self.catalogue, self.settings, self.refs
            )
        for n, turn in enumerate(self.conversation.turns, 1):
            where = f"turn {n} ({turn.action} {self.refs.fill(json.dumps(turn.value, ensure_ascii=False))})"
            out.transcript.append(f"> {where}")
            if problem := await self.act(turn):
                out.failures.append(f"{where}: {problem}")
                return out
            screen = self.answer()
            out.transcript += [f"  < {line}" for line in screen.render()]
            state = read_state(self.factory, self.customer_id(), self.catalogue, seeded)
            stuck = self.unanswered()
            wrong = [f"{stuck} inbox message(s) left unanswered"] if stuck else []
            wrong += every_answer(screen, self.conversation.lang, self.catalogue)
            wrong += check_turn(turn.expect, screen, state, self.refs)
            out.failures += [f"{where}: {w}" for w in wrong]
        state = read_state(self.factory, self.customer_id(), self.catalogue, seeded)
        out.failures += [f"end: {w}" for w in check_end(self.conversation.end, state, self.refs)]
        return out


SIGNATURE = "X-Hub-Signature-256"


async def replay(conversation: Conversation, bot: Bot, workdir: Path) -> Replayed:
    settings = make_settings(
        DATABASE_URL=f"sqlite:///{workdir / 'bot.db'}",
        CATALOGUE_DIR=str(bot.catalogue_dir),
        NLU_DIR=bot.nlu_dir,
        LLM_BASE_URL=bot.llm_base_url,
        LLM_MODEL=bot.llm_model,
        LLM_TIMEOUT_S=bot.llm_timeout_s,
        MEDIA_DIR=str(bot.media_dir),
        INBOX_BURST_WINDOW_S=0,
        OUTBOUND_PER_RECIPIENT_INTERVAL_S=0,
        AGENT_PREFILL_BETWEEN_TURNS=False,
        LOG_LEVEL="WARNING",
    )
    app = create_app(settings, start_workers=False)
    graph_state = fake_graph.FakeGraphState(
        workdir / "graph",
        phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
        access_token=settings.WHATSAPP_ACCESS_TOKEN,
    )
    async with app.router.lifespan_context(app):
        graph = GraphClient(
            base_url="http://graph.invalid",
            api_version=settings.WHATSAPP_API_VERSION,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
            access_token=settings.WHATSAPP_ACCESS_TOKEN,
            transport=httpx.ASGITransport(app=fake_graph.create_app(graph_state)),
        )
        factory = app.state.session_factory
        sender = outbox.Sender.from_settings(settings, factory, graph)
        worker = Worker.from_settings(settings, factory, app.state.agent, graph=graph, sender=sender)
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=settings.PUBLIC_BASE_URL) as http:
                return await Session(conversation, app, http, worker, sender, graph_state).run()
        finally:
            await graph.aclose()
