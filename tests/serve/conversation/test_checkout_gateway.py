"""Checkout with a slow or failing gateway (Stripe's SDK against a local fake of its API): the order
is committed before the gateway is called, nothing is locked while it answers, and a retry or a
replayed turn gets the same gateway payment back (one idempotency key per order attempt)."""

import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from serve.commerce import cart, payments
from serve.conversation.effects import EffectKey
from serve.conversation.executor import Tools
from serve.storage.db import lock_customer, session_scope
from serve.storage.tables import InboxItem, Order, Payment
from tests.fakes.fake_stripe import FakeStripe
from tests.serve.factories import (
    LENCOL,
    VERIFY_TOKEN,
    load_asset,
    make_settings,
    new_customer,
    post_signed,
    webhook_app,
)

KEY, WHSEC = "sk_test_51FakeKeyForTests", "whsec_fake_secret_for_tests"
GATEWAY_S = 2.0  # how long the fake gateway takes to create a checkout session
FAST_S = 0.5  # an ack or a lock that waited for the gateway would take GATEWAY_S


@pytest.fixture(scope="module")
def fake():
    with FakeStripe(api_key=KEY) as server:
        yield server


@pytest.fixture
def tools(fake, catalogue, tmp_path):
    settings = make_settings(
        PAYMENT_PROVIDER="stripe",
        STRIPE_API_KEY=KEY,
        STRIPE_WEBHOOK_SECRET=WHSEC,
        STRIPE_API_BASE_URL=fake.url,
        MEDIA_DIR=str(tmp_path / "media"),
    )
    fake.create_delay_s = 0.0
    return Tools(catalogue, settings)


def _customer_with_cart(factory, catalogue) -> int:
    cid = new_customer(factory, name="Ana")
    with session_scope(factory) as s:
        cart.add_item(s, cid, catalogue, LENCOL, 1)
    return cid


def _checkout(tools, factory, cid, key):
    return tools.run(factory, cid, "checkout", tools.validate("checkout", {"payment_method": "card"}), key)


def _text_from(phone: str, wamid: str) -> dict:
    payload = load_asset("text")
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = value["messages"][0]["from"] = phone
    value["messages"][0]["id"] = wamid
    return payload


def test_slow_gateway_blocks_no_other_webhook_and_not_the_customer(db, catalogue, fake, tools):
    factory = db.factory()
    cid = _customer_with_cart(factory, catalogue)
    client = TestClient(webhook_app(db.factory(), tools.settings))
    assert client.get("/webhook", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN}).status_code
    fake.create_delay_s, result = GATEWAY_S, {}
    fake.creating.clear()
    buyer = threading.Thread(target=lambda: result.update(out=_checkout(tools, factory, cid, EffectKey("inbox:1", 0))))
    buyer.start()
    assert fake.creating.wait(10), "the checkout never reached the gateway"

    start = time.monotonic()  # another customer writes while the gateway thinks
    ack = post_signed(client, _text_from("5511911112222", "wamid.other-customer"))
    ack_s = time.monotonic() - start
    start = time.monotonic()  # and the buyer's own lock is free (their next message is not stuck)
    with session_scope(factory) as s:
        lock_customer(s, cid)
    lock_s = time.monotonic() - start
    gateway_busy = buyer.is_alive()
    buyer.join(30)

    assert ack.status_code == 200 and ack_s < FAST_S, f"webhook ack took {ack_s:.2f} s during the gateway call"
    assert lock_s < FAST_S, f"the customer's lock was held {lock_s:.2f} s during the gateway call"
    assert gateway_busy, "the gateway answered before the checks: they proved nothing"
    out = result["out"]
    assert out.ok and out.result["link"].startswith("https://checkout.stripe.com/"), out.result
    with factory() as s:
        assert s.scalars(select(InboxItem.wa_message_id)).all() == ["wamid.other-customer"]
        order = s.scalars(select(Order).where(Order.customer_id == cid)).one()
        assert (order.status, [p.checkout_url for p in order.payments]) == (
            "pending_payment",
            [out.result["link"]],
        )


def test_a_retry_after_the_gateway_call_makes_no_second_gateway_payment(factory, catalogue, fake, tools, monkeypatch):
    cid = _customer_with_cart(factory, catalogue)
    attach, calls = payments._attach, []

    def connection_lost_once(session, payment_id, created):
        calls.append(created.provider_payment_id)
        if len(calls) == 1:  # the gateway made the session; storing it fails (not a retryable race)
            raise OperationalError("UPDATE payments", {}, Exception("server closed the connection unexpectedly"))
        return attach(session, payment_id, created)

    monkeypatch.setattr(payments, "_attach", connection_lost_once)
    sessions_before, key = len(fake.sessions), EffectKey("inbox:7", 0)
    with pytest.raises(OperationalError):  # an infrastructure error: the worker retries the batch
        _checkout(tools, factory, cid, key)
    replay = _checkout(tools, factory, cid, key)  # the batch claimed again: same turn, same call

    assert replay.ok and len(calls) == 2 and calls[0] == calls[1]  # the gateway gave the same session back
    assert len(fake.sessions) == sessions_before + 1
    with factory() as s:
        order = s.scalars(select(Order).where(Order.customer_id == cid)).one()  # one order, cart not reused
        rows = s.scalars(select(Payment).where(Payment.order_id == order.id)).all()
    assert [(p.idempotency_key, p.provider_payment_id) for p in rows] == [(f"{order.code}-1", calls[0])]
    assert replay.result["link"] == rows[0].checkout_url
    keys = [r["headers"]["idempotency-key"] for r in fake.requests if r["path"] == "/v1/checkout/sessions"]
    assert keys[-2:] == [f"{order.code}-1", f"{order.code}-1"]
