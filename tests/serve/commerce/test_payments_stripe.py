"""Stripe via the official SDK against a local fake of its REST API: Checkout Sessions with
Idempotency-Key, Stripe-Signature verification (construct_event), replays, async methods, and the
order moved only after retrieving the session / PaymentIntent."""

import time

import pytest
from sqlalchemy import func, select

from serve.commerce import payments
from serve.storage.db import session_scope
from serve.storage.tables import Event, Message, Order, PaymentEvent
from tests.fakes.fake_stripe import FakeStripe
from tests.serve.factories import make_settings, new_order, start_payment

KEY, WHSEC = "sk_test_51FakeKeyForTests", "whsec_fake_secret_for_tests"


@pytest.fixture(scope="module")
def fake():
    with FakeStripe(api_key=KEY) as server:
        yield server


@pytest.fixture
def settings(fake):
    return make_settings(
        PAYMENT_PROVIDER="stripe", STRIPE_API_KEY=KEY, STRIPE_WEBHOOK_SECRET=WHSEC, STRIPE_API_BASE_URL=fake.url
    )


def _state(factory, code):
    with session_scope(factory) as s:
        order = s.scalars(select(Order).where(Order.code == code)).one()
        return {
            "order": order.status,
            "payments": [p.status for p in order.payments],
            "events": s.scalar(select(func.count()).select_from(PaymentEvent)),
            "paid": s.scalar(select(func.count()).select_from(Event).where(Event.name == "order_paid")),
            "messages": [m.payload["body"] for m in s.scalars(select(Message).order_by(Message.id))],
        }


def _post(client, body, headers):
    return client.post("/payments/stripe/webhook", content=body, headers=headers)


def test_card_checkout_confirmed_after_retrieve(client, fake, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "card")
    n = len(fake.requests)
    p = start_payment(factory, code, settings)
    pid, sid, url, key = p["id"], p["provider_payment_id"], p["checkout_url"], p["idempotency_key"]
    call = fake.requests[n]
    assert (call["method"], call["path"], call["headers"]["idempotency-key"]) == (
        "POST",
        "/v1/checkout/sessions",
        f"{code}-1",
    )
    form = call["form"]
    assert (
        form["line_items[0][price_data][unit_amount]"] == "12793"
        and form["line_items[0][price_data][currency]"] == "brl"
    )
    assert (form["payment_method_types[0]"], form["client_reference_id"], form["metadata[order_code]"]) == (
        "card",
        key,
        code,
    )
    assert url == fake.sessions[sid]["url"] and sid.startswith("cs_test_")
    assert start_payment(factory, code, settings)["id"] == pid and len(fake.requests) == n + 1

    # the event says completed, but Stripe still has it unpaid: nothing moves
    body, headers = fake.event(sid, "checkout.session.completed", WHSEC, session_override={"payment_status": "paid"})
    assert _post(client, body, headers).json()["status"] == "ignored"
    assert fake.requests[-1]["path"] == f"/v1/checkout/sessions/{sid}"
    assert _state(factory, code)["order"] == "pending_payment"

    fake.complete(sid, paid=True)
    body, headers = fake.event(sid, "checkout.session.completed", WHSEC)
    assert _post(client, body, headers).json() == {"status": "processed", "order": code}
    assert _post(client, body, headers).json()["status"] == "duplicate"  # replay inside the tolerance
    st = _state(factory, code)
    assert (st["order"], st["payments"], st["paid"], st["events"]) == ("paid", ["paid"], 1, 2)
    assert len(st["messages"]) == 1 and code in st["messages"][0] and "R$ 127,93" in st["messages"][0]


def test_signature_failures_store_nothing(client, fake, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "card")
    sid = start_payment(factory, code, settings)["provider_payment_id"]
    fake.complete(sid)
    body, headers = fake.event(sid, "checkout.session.completed", WHSEC)
    ts = int(time.time())
    bad = [
        (body, {}),
        (body, {"stripe-signature": "t=abc,v1=zzz"}),
        (body, fake.sign(body, "whsec_wrong", ts)),
        (body.replace(b'"livemode": false', b'"livemode": true'), headers),  # body changed after signing
        fake.event(sid, "checkout.session.completed", WHSEC, ts=ts - 3600),  # old capture replayed
        (b"not json", fake.sign(b"not json", WHSEC, ts)),
    ]
    for b, h in bad:
        r = _post(client, b, h)
        assert r.status_code == 401, r.text
    st = _state(factory, code)
    assert (st["order"], st["events"], st["messages"]) == ("pending_payment", 0, [])
    assert _post(client, body, headers).json()["status"] == "processed"


def test_async_boleto_paid_later_or_failed(client, fake, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "boleto")
    sid = start_payment(factory, code, settings)["provider_payment_id"]
    assert fake.sessions[sid]["payment_method_types"] == ["boleto"]
    fake.complete(sid, paid=False)  # boleto issued, not paid yet
    assert _post(client, *fake.event(sid, "checkout.session.completed", WHSEC)).json()["status"] == "ignored"
    fake.settle_async(sid, succeeded=True)
    assert (
        _post(client, *fake.event(sid, "checkout.session.async_payment_succeeded", WHSEC)).json()["status"]
        == "processed"
    )
    assert _state(factory, code)["order"] == "paid"

    _, code2 = new_order(factory, catalogue, "boleto")
    sid2 = start_payment(factory, code2, settings)["provider_payment_id"]
    fake.complete(sid2, paid=False)
    fake.settle_async(sid2, succeeded=False)
    assert (
        _post(client, *fake.event(sid2, "checkout.session.async_payment_failed", WHSEC)).json()["status"] == "processed"
    )
    st = _state(factory, code2)
    assert (st["order"], st["payments"]) == ("pending_payment", ["failed"])
    assert "não foi aprovado" in st["messages"][-1]
    # a new attempt gets the next idempotency key and a new session
    p3 = start_payment(factory, code2, settings)
    sid3, key3 = p3["provider_payment_id"], p3["idempotency_key"]
    assert key3 == f"{code2}-2" and sid3 != sid2


def test_other_events_recorded_but_ignored_and_errors(client, fake, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "pix")
    sid = start_payment(factory, code, settings)["provider_payment_id"]
    assert _post(client, *fake.event(sid, "payment_intent.created", WHSEC)).json()["status"] == "ignored"
    fake.complete(sid)
    body, headers = fake.event(sid, "checkout.session.completed", WHSEC)
    fake.fail_next(500, times=2)  # the SDK retries once
    assert _post(client, body, headers).status_code == 503
    assert _post(client, body, headers).json()["status"] == "processed"
    assert _state(factory, code)["events"] == 2
    _, code2 = new_order(factory, catalogue, "card")
    bad = settings.model_copy(update={"STRIPE_API_KEY": "sk_test_wrong"})
    with pytest.raises(payments.PaymentUnavailable):
        start_payment(factory, code2, bad)


def _paid_card_order(client, fake, factory, catalogue, settings) -> tuple[str, str]:
    _, code = new_order(factory, catalogue, "card")
    sid = start_payment(factory, code, settings)["provider_payment_id"]
    fake.complete(sid)
    assert _post(client, *fake.event(sid, "checkout.session.completed", WHSEC)).json()["status"] == "processed"
    return code, sid


def _admin(factory, settings):
    from fastapi.testclient import TestClient

    from tests.serve.factories import webhook_app

    return TestClient(webhook_app(factory, settings))


def test_refund_moves_the_order_to_refunded_and_a_partial_one_does_not(client, fake, factory, catalogue, settings):
    code, sid = _paid_card_order(client, fake, factory, catalogue, settings)
    partial = fake.refund(sid, amount=1_000)
    assert _post(client, *fake.object_event(partial, "charge.refunded", WHSEC)).json()["status"] == "ignored"
    assert _state(factory, code)["order"] == "paid"
    full = fake.refund(sid)
    assert _post(client, *fake.object_event(full, "charge.refunded", WHSEC)).json() == {
        "status": "processed",
        "order": code,
    }
    view = _admin(factory, settings).get(f"/admin/orders/{code}").json()
    assert (view["status"], [p["status"] for p in view["payments"]]) == ("refunded", ["refunded"])
    with session_scope(factory) as s:
        assert s.scalar(select(func.count()).select_from(Event).where(Event.name == "order_refunded")) == 1


def test_dispute_moves_the_order_to_disputed_alerts_and_a_lost_one_ends_refunded(
    client, fake, factory, catalogue, settings
):
    code, sid = _paid_card_order(client, fake, factory, catalogue, settings)
    dispute = fake.dispute(sid)
    assert _post(client, *fake.object_event(dispute, "charge.dispute.created", WHSEC)).json()["status"] == "processed"
    admin = _admin(factory, settings)
    assert admin.get(f"/admin/orders/{code}").json()["status"] == "disputed"
    alerts = admin.get("/admin/alerts").json()["items"]
    assert [(a["kind"], a["order"], a["order_status"]) for a in alerts] == [("order_disputed", code, "disputed")]
    dispute["status"] = "lost"
    assert _post(client, *fake.object_event(dispute, "charge.dispute.closed", WHSEC)).json()["status"] == "processed"
    assert admin.get(f"/admin/orders/{code}").json()["status"] == "refunded"
