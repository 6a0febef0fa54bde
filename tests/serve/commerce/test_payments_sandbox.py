"""Sandbox gateway: /pay page → signed webhook → verify, dedupe, fetch from the ledger → order paid,
event row, WhatsApp confirmation queued. Signature/replay/idempotency failures change nothing."""

import json
import re
import threading
import time
from functools import partial

import pytest
from sqlalchemy import func, select

from serve.commerce import payments
from serve.commerce.payments.sandbox import SIGNATURE_HEADER, crc16_ccitt, sign
from serve.storage.db import session_scope
from serve.storage.tables import Event, Message, Order, Payment, PaymentEvent, SandboxCharge
from serve.whatsapp.order_notices import notice_text, queue_order_notice
from tests.serve.factories import make_settings, new_order, start_payment

SECRET = "sandbox-test-secret"
TOTAL = 12_793  # 8990 + 1990 + freight 1590 + 223 (890 × 25 %, rounded half up)


@pytest.fixture
def settings():
    return make_settings(SANDBOX_WEBHOOK_SECRET=SECRET)


def _counts(factory):
    with session_scope(factory) as s:
        n = lambda m, *w: s.scalar(select(func.count()).select_from(m).where(*w))  # noqa: E731
        order = s.scalars(select(Order)).one()
        return {
            "order": order.status,
            "payment": s.scalars(select(Payment.status).order_by(Payment.id)).all(),
            "events": n(PaymentEvent),
            "paid_events": n(Event, Event.name == "order_paid"),
            "messages": [m.payload.get("body") for m in s.scalars(select(Message).order_by(Message.id))],
        }


def _signed_event(charge_id, event_id="evt_test_1", kind="charge.succeeded", ts=None, secret=SECRET):
    body = json.dumps({"id": event_id, "type": kind, "created": 0, "data": {"charge_id": charge_id}}).encode()
    return body, {SIGNATURE_HEADER: sign(secret, body, int(ts if ts is not None else time.time()))}


def test_pay_page_to_confirmed_order(client, factory, catalogue, settings):
    cid, code = new_order(factory, catalogue, "pix")
    p = start_payment(factory, code, settings)
    pid, charge, url, pix, key = (
        p[k] for k in ("id", "provider_payment_id", "checkout_url", "pix_qr_code", "idempotency_key")
    )
    assert key == f"{code}-1" and url == f"http://bot.test/pay/{charge}" and re.fullmatch(r"sbx_[\w-]{16}", charge)
    # PIX "copia e cola": EMV fields, amount, and a valid CRC16 over everything before it
    assert pix.startswith("000201") and "5406127.93" in pix and "BR.GOV.BCB.PIX" in pix.upper()
    assert pix[-4:] == f"{crc16_ccitt(pix[:-4].encode()):04X}"
    # asking again gives the same payment (no second charge)
    assert start_payment(factory, code, settings)["id"] == pid

    page = client.get(f"/pay/{charge}")
    assert page.status_code == 200 and "R$ 127,93" in page.text and "Pagar" in page.text
    assert _counts(factory)["order"] == "pending_payment"  # looking at the page moves nothing

    r = client.post(f"/pay/{charge}", data={"action": "pay"})
    assert r.status_code == 200 and "aprovado" in r.text
    c = _counts(factory)
    assert (c["order"], c["payment"], c["events"], c["paid_events"]) == ("paid", ["paid"], 1, 1)
    assert len(c["messages"]) == 1 and code in c["messages"][0] and "R$ 127,93" in c["messages"][0]
    with session_scope(factory) as s:
        order = s.scalars(select(Order)).one()
        msg = s.scalars(select(Message)).one()
        assert order.paid_at is not None and (msg.customer_id, msg.direction, msg.status) == (cid, "out", "queued")
        assert s.scalars(select(Event).where(Event.name == "order_paid")).one().properties["total_cents"] == TOTAL

    # pressing pay again re-notifies; the store changes nothing
    assert client.post(f"/pay/{charge}", data={"action": "pay"}).status_code == 200
    again = _counts(factory)
    assert (again["order"], again["paid_events"], len(again["messages"]), again["events"]) == ("paid", 1, 1, 2)
    assert "aprovado" in client.get(f"/pay/{charge}").text
    assert client.post(f"/pay/{charge}", data={"action": "decline"}).status_code == 200  # settled: no change
    assert _counts(factory)["payment"] == ["paid"]
    assert client.get("/pay/sbx_doesnotexist00").status_code == 404


def test_bad_signatures_store_nothing(client, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "card")
    charge = start_payment(factory, code, settings)["provider_payment_id"]
    with session_scope(factory) as s:  # the gateway really has it paid: only the signature is at stake
        s.get(SandboxCharge, charge).status = "paid"
    body, headers = _signed_event(charge)
    cases = [
        (body, {}),  # no header
        (body, {SIGNATURE_HEADER: "garbage"}),
        (body, {SIGNATURE_HEADER: sign("wrong-secret", body, int(time.time()))}),
        (body.replace(b"evt_test_1", b"evt_test_2"), headers),  # body changed after signing
        _signed_event(charge, ts=time.time() - 3600),  # an old capture: outside the tolerance
        _signed_event(charge, ts=time.time() + 3600),
    ]
    for b, h in cases:
        assert client.post("/payments/sandbox/webhook", content=b, headers=h).status_code == 401
    c = _counts(factory)
    assert (c["order"], c["payment"], c["events"], c["messages"]) == ("pending_payment", ["pending"], 0, [])
    assert client.post("/payments/nope/webhook", content=body, headers=headers).status_code == 404
    # the genuine event works, and replaying it within the tolerance is a no-op
    assert client.post("/payments/sandbox/webhook", content=body, headers=headers).json()["status"] == "processed"
    assert client.post("/payments/sandbox/webhook", content=body, headers=headers).json()["status"] == "duplicate"
    c = _counts(factory)
    assert (c["order"], c["events"], c["paid_events"], len(c["messages"])) == ("paid", 1, 1, 1)


def test_order_moves_only_when_the_gateway_says_paid(client, factory, catalogue, settings):
    """A validly signed 'succeeded' event for a charge the ledger still has pending moves nothing."""
    _, code = new_order(factory, catalogue, "boleto")
    charge = start_payment(factory, code, settings)["provider_payment_id"]
    body, headers = _signed_event(charge)
    r = client.post("/payments/sandbox/webhook", content=body, headers=headers)
    assert r.status_code == 200 and r.json()["status"] == "ignored"
    c = _counts(factory)
    assert (c["order"], c["payment"], c["paid_events"], c["messages"]) == ("pending_payment", ["pending"], 0, [])
    # amounts must match too: a ledger charge paid for less than the order is not accepted
    with session_scope(factory) as s:
        ch = s.get(SandboxCharge, charge)
        ch.status, ch.amount_cents = "paid", TOTAL - 1
    body, headers = _signed_event(charge, event_id="evt_test_2")
    assert client.post("/payments/sandbox/webhook", content=body, headers=headers).json()["status"] == "rejected"
    assert _counts(factory)["order"] == "pending_payment"


def test_declined_then_new_attempt_with_next_key(client, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "card")
    charge = start_payment(factory, code, settings)["provider_payment_id"]
    assert client.post(f"/pay/{charge}", data={"action": "decline"}).status_code == 200
    c = _counts(factory)
    assert (c["order"], c["payment"]) == ("pending_payment", ["failed"])
    assert len(c["messages"]) == 1 and "não foi aprovado" in c["messages"][0]
    p2 = start_payment(factory, code, settings)
    charge2, pix, key2 = p2["provider_payment_id"], p2["pix_qr_code"], p2["idempotency_key"]
    assert key2 == f"{code}-2" and charge2 != charge and pix is None  # card: no PIX code
    assert client.post(f"/pay/{charge2}", data={"action": "pay"}).status_code == 200
    c = _counts(factory)
    assert (c["order"], c["payment"], c["paid_events"]) == ("paid", ["failed", "paid"], 1)


def test_concurrent_duplicate_deliveries_one_effect(factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "pix")
    charge = start_payment(factory, code, settings)["provider_payment_id"]
    with session_scope(factory) as s:
        s.get(SandboxCharge, charge).status = "paid"
    n, results = 6, []
    barrier = threading.Barrier(n)
    twins = [_signed_event(charge, event_id="evt_same")] * 3 + [
        _signed_event(charge, event_id=f"evt_{i}") for i in range(3)
    ]

    def deliver(body, headers):
        barrier.wait()
        results.append(
            payments.process_webhook(
                factory, "sandbox", headers, body, {}, settings, notify=partial(queue_order_notice, settings=settings)
            ).status
        )

    threads = [threading.Thread(target=deliver, args=t) for t in twins]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results).count("processed") == 1 and len(results) == n
    c = _counts(factory)
    assert (c["order"], c["events"], c["paid_events"], len(c["messages"])) == ("paid", 4, 1, 1)


def test_confirmation_speaks_the_language_the_customer_wrote_in(factory, catalogue):
    from serve.conversation.model_text import written_language
    from serve.storage.tables import ChatTurn

    cid, code = new_order(factory, catalogue)
    with session_scope(factory) as s:
        order = s.scalars(select(Order).where(Order.code == code)).one()
        assert written_language(s, cid) == "pt"  # nothing said yet: Portuguese
        assert notice_text(order, "paid").startswith(f"Pagamento confirmado! ✅ Seu pedido {code}")
        s.add_all(
            [
                ChatTurn(customer_id=cid, message={"role": "user", "content": "hi! do you have bed sheets?"}),
                ChatTurn(customer_id=cid, message={"role": "user", "content": "Add to cart"}),
            ]
        )  # a button title
        s.flush()
        lang = written_language(s, cid)
        assert lang == "en" and notice_text(order, "paid", lang).startswith(f"Payment confirmed! ✅ Your order {code}")
