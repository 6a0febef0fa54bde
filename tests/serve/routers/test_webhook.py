"""POST/GET /webhook: handshake, signatures, durable inbox, duplicates, batches, status callbacks."""

import asyncio
import json

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from serve.commerce.customers import hash_phone
from serve.devtools.fake_graph import ServerThread
from serve.storage.db import session_scope
from serve.storage.tables import Contact, Customer, Message, utcnow
from serve.whatsapp import worker as worker_mod
from tests.serve.factories import (
    VERIFY_TOKEN,
    EchoAgent,
    inbox_rows,
    load_asset,
    make_settings,
    message_rows,
    post_signed,
    signed_headers,
    webhook_app,
)

ANA = "5511987654321"
ALL_TYPES = {
    "text": "text",
    "button_reply": "button_reply",
    "list_reply": "list_reply",
    "template_button": "button_reply",
    "image": "image",
    "audio": "audio",
    "video": "video",
    "document": "document",
    "location": "location",
    "contacts": "contacts",
    "sticker": "sticker",
    "reaction": "reaction",
    "reaction_removed": "reaction",
    "order": "order",
    "unsupported": "unsupported",
}


def test_handshake(sqlite_db):
    client = TestClient(webhook_app(sqlite_db.factory()))
    ok = client.get(
        "/webhook", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    )
    assert ok.status_code == 200 and ok.text == "1158201444" and ok.headers["content-type"].startswith("text/plain")
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ):
        assert client.get("/webhook", params=params).status_code == 403


def test_bad_or_missing_signature_stores_nothing(sqlite_db):
    factory = sqlite_db.factory()
    client = TestClient(webhook_app(factory))
    body = json.dumps(load_asset("text")).encode()
    assert client.post("/webhook", content=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert client.post("/webhook", content=body, headers=signed_headers(body, "not-the-secret")).status_code == 403
    tampered = body.replace(b"queen", b"king!")
    assert client.post("/webhook", content=tampered, headers=signed_headers(body)).status_code == 403
    assert inbox_rows(factory) == [] and message_rows(factory) == []
    with factory() as s:
        assert s.scalars(select(Customer)).all() == []
    assert client.post("/webhook", content=b"{not json", headers=signed_headers(b"{not json")).status_code == 400


def test_every_message_type_is_stored(sqlite_db):
    factory = sqlite_db.factory()
    client = TestClient(webhook_app(factory))
    for name in ALL_TYPES:
        res = post_signed(client, load_asset(name))
        assert res.status_code == 200 and res.json()["stored"] == 1, name
    rows = inbox_rows(factory)
    assert [r.type for r in rows] == list(ALL_TYPES.values())
    assert all(r.status == "pending" and r.attempts == 0 for r in rows)
    assert rows[8].payload["location"] == [-23.561414, -46.655881]
    inbound = message_rows(factory, "in")
    assert [m.wa_message_id for m in inbound] == [r.wa_message_id for r in rows]
    assert all(m.status == "received" for m in inbound)
    with factory() as s:
        (customer,) = s.scalars(select(Customer)).all()
        assert customer.phone_hash == hash_phone(ANA, make_settings().PHONE_HASH_KEY) and customer.name == "Ana"
        assert s.get(Contact, customer.id).phone == ANA
        assert customer.last_inbound_at is not None  # the 24-hour window opened


def test_other_business_number_is_ignored(sqlite_db):
    factory = sqlite_db.factory()
    payload = load_asset("text")
    payload["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = "999"
    assert post_signed(TestClient(webhook_app(factory)), payload).json()["stored"] == 0
    assert inbox_rows(factory) == []


def test_batched_entries_all_handled(db):
    factory = db.factory()
    with session_scope(factory) as s:  # the outbound message the batch's status callback refers to
        customer = Customer(phone_hash="x" * 64, preferred_categories=[])
        s.add(customer)
        s.flush()
        s.add(
            Message(
                customer_id=customer.id,
                direction="out",
                kind="text",
                payload={},
                status="sent",
                wa_message_id="wamid.HBgNNTUzMTk5ODg3NzY2NRUCABEYEjAwMDAwMDAwMDAwMDAwMDAwAA==",
            )
        )
    res = post_signed(TestClient(webhook_app(factory)), load_asset("batch"))
    assert res.status_code == 200 and res.json() == {"stored": 4, "duplicates": 0, "statuses": 1}
    rows = inbox_rows(factory)
    assert [r.payload["text"] for r in rows] == ["oi", "quero uma luminária", "tem toalha de banho?", "Pagar com PIX"]
    assert len({r.customer_id for r in rows}) == 3 and rows[0].customer_id == rows[2].customer_id
    assert message_rows(factory, "out")[0].status == "delivered"


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [
        # late/out-of-order callbacks never move a message back; "failed" never overrides "read"
        (["delivered", "sent", "read", "delivered", "failed"], ["delivered", "delivered", "read", "read", "read"]),
        # failed is terminal
        (["sent", "failed", "delivered", "read"], ["sent", "failed", "failed", "failed"]),
    ],
)
def test_status_updates_forward_only(db, sequence, expected):
    factory = db.factory()
    client = TestClient(webhook_app(factory))
    wamid = load_asset("status_sent")["entry"][0]["changes"][0]["value"]["statuses"][0]["id"]
    with session_scope(factory) as s:
        customer = Customer(phone_hash="y" * 64, preferred_categories=[])
        s.add(customer)
        s.flush()
        s.add(
            Message(
                customer_id=customer.id, direction="out", kind="text", payload={}, status="queued", wa_message_id=wamid
            )
        )
    seen = []
    for status in sequence:
        assert post_signed(client, load_asset(f"status_{status}")).status_code == 200
        seen.append(message_rows(factory, "out")[0].status)
    assert seen == expected
    (msg,) = message_rows(factory, "out")
    if msg.status == "failed":
        assert "131047" in msg.error and "24 hours" in msg.error


def test_concurrent_duplicates_one_effect(db):
    """Meta re-delivers the same message to two bot processes at once: one row, one reply."""
    settings = make_settings()
    factories = [db.factory(), db.factory()]  # two processes = two engines/pools on one database
    body = json.dumps(load_asset("text")).encode()
    headers = signed_headers(body)

    async def flood(urls):
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(
                *(http.post(f"{urls[i % 2]}/webhook", content=body, headers=headers) for i in range(12))
            )

    with ServerThread(webhook_app(factories[0], settings)) as a, ServerThread(webhook_app(factories[1], settings)) as b:
        responses = asyncio.run(flood([a.base_url, b.base_url]))
    assert [r.status_code for r in responses] == [200] * 12
    assert sum(r.json()["stored"] for r in responses) == 1
    assert sum(r.json()["duplicates"] for r in responses) == 11
    assert len(inbox_rows(factories[0])) == 1 and len(message_rows(factories[0], "in")) == 1
    with factories[0]() as s:
        assert len(s.scalars(select(Customer)).all()) == 1 and len(s.scalars(select(Contact)).all()) == 1

    agent = EchoAgent()
    workers = [worker_mod.Worker(f, agent, burst_window_s=0, max_wait_s=0) for f in factories]

    async def work():
        await asyncio.gather(*(w.run_once() for w in workers))
        await asyncio.gather(*(w.run_once() for w in workers))

    asyncio.run(work())
    assert len(agent.calls) == 1
    assert [m.payload["body"] for m in message_rows(factories[0], "out")] == ["eco: Oi! Vocês têm jogo de cama queen?"]
    assert inbox_rows(factories[0])[0].status == "done"
    # a replay days later: still nothing new
    assert post_signed(TestClient(webhook_app(factories[1], settings)), load_asset("text")).json()["duplicates"] == 1
    asyncio.run(work())
    assert len(agent.calls) == 1 and len(message_rows(factories[0], "out")) == 1


def test_window_opens_at_message_time_not_in_future(sqlite_db):
    factory = sqlite_db.factory()
    payload = load_asset("text")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = str(int(utcnow().timestamp()) + 3600)
    post_signed(TestClient(webhook_app(factory)), payload)
    with factory() as s:
        assert s.scalars(select(Customer)).one().last_inbound_at <= utcnow()


def test_oversized_body_refused_before_parsing(sqlite_db):
    factory = sqlite_db.factory()
    body = b'{"object": "whatsapp_business_account", "pad": "' + b"x" * (3 * 1024 * 1024) + b'"}'
    res = TestClient(webhook_app(factory)).post("/webhook", content=body, headers=signed_headers(body))
    assert res.status_code == 413 and inbox_rows(factory) == []


def test_invalid_sender_is_skipped_not_retried_forever(sqlite_db):
    factory = sqlite_db.factory()
    payload = load_asset("batch")
    payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"] = "12"  # not a phone number
    res = post_signed(TestClient(webhook_app(factory)), payload)
    assert res.status_code == 200 and res.json()["stored"] == 3


def test_a_greeting_is_stored_held_for_the_request_that_follows(sqlite_db):
    factory = sqlite_db.factory()
    client = TestClient(webhook_app(factory, make_settings(INBOX_GREETING_HOLD_S=1.5)))
    for body in ("Oi, bom dia!", "tem toalha de banho?"):
        payload = load_asset("text")
        msg = payload["entry"][0]["changes"][0]["value"]["messages"][0]
        msg["text"]["body"], msg["id"] = body, f"wamid.hold.{len(body)}"
        assert post_signed(client, payload).json()["stored"] == 1
    greeting, request = inbox_rows(factory)
    assert 1.4 <= (greeting.locked_until - greeting.received_at).total_seconds() <= 1.6
    assert request.locked_until is None


def test_malformed_items_of_a_signed_batch_are_skipped_and_the_rest_stored(sqlite_db):
    """Meta redelivers a batch until it gets a 200: an item of the wrong shape must never make it a
    500, or the batch (and every good message in it) comes back forever."""
    factory = sqlite_db.factory()
    payload = load_asset("batch")
    value = payload["entry"][0]["changes"][0]["value"]
    good = sum(len(c["value"].get("messages", [])) for e in payload["entry"] for c in e["changes"])
    value["messages"][0]["timestamp"] = str(10**20)  # beyond any datetime: the store's own clock
    value["messages"] += ["not a message", {"id": "wamid.x", "from": ANA, "type": "text", "text": "no body dict"}]
    value["statuses"] = [7, {"id": "wamid.s", "status": "read", "timestamp": "soon"}]
    value["contacts"].append({"wa_id": ANA, "profile": "not a dict"})
    payload["entry"] += ["not an entry", {"changes": ["not a change", {"field": "messages", "value": []}]}]
    res = post_signed(TestClient(webhook_app(factory)), payload)
    assert res.status_code == 200 and res.json()["stored"] == good, res.text
    assert all(row.received_at is not None for row in inbox_rows(factory))


def test_json_nested_deeper_than_the_parser_goes_is_a_400_not_a_500(sqlite_db):
    body = b"[" * 100_000 + b"]" * 100_000
    res = TestClient(webhook_app(sqlite_db.factory())).post("/webhook", content=body, headers=signed_headers(body))
    assert res.status_code == 400
