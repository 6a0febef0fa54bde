"""Mercado Pago via the official SDK against a local fake of its REST API: PIX and Checkout Pro,
x-signature verification, replays, idempotency keys, order moved only after fetching the payment."""

import time

import pytest
from sqlalchemy import func, select

from serve.commerce import payments
from serve.storage.db import session_scope
from serve.storage.tables import Event, Message, Order, Payment, PaymentEvent
from tests.fakes.fake_mercadopago import FakeMercadoPago
from tests.serve.factories import make_settings, new_order, start_payment

TOKEN, SECRET = "TEST-4417-fake-access-token", "mp-webhook-secret-for-tests"
TOTAL = 12_793


@pytest.fixture(scope="module")
def mp():
    with FakeMercadoPago(access_token=TOKEN) as server:
        yield server


@pytest.fixture
def settings(mp):
    return make_settings(
        PAYMENT_PROVIDER="mercadopago",
        MERCADOPAGO_ACCESS_TOKEN=TOKEN,
        MERCADOPAGO_WEBHOOK_SECRET=SECRET,
        MERCADOPAGO_API_BASE_URL=mp.url,
    )


def _state(factory, code):
    with session_scope(factory) as s:
        order = s.scalars(select(Order).where(Order.code == code)).one()
        return {
            "order": order.status,
            "payments": [(p.status, p.provider_payment_id) for p in order.payments],
            "events": s.scalar(select(func.count()).select_from(PaymentEvent)),
            "paid": s.scalar(select(func.count()).select_from(Event).where(Event.name == "order_paid")),
            "messages": [m.payload["body"] for m in s.scalars(select(Message).order_by(Message.id))],
        }


def _post(client, query, headers, body):
    return client.post("/payments/mercadopago/webhook", params=query, headers=headers, content=body)


def test_pix_payment_confirmed_only_after_fetch(client, mp, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "pix")
    n_requests = len(mp.requests)
    p = start_payment(factory, code, settings)
    call = mp.requests[n_requests]
    assert (call["method"], call["path"]) == ("POST", "/v1/payments")
    assert call["headers"]["x-idempotency-key"] == p["idempotency_key"] == f"{code}-1"
    assert call["json"]["transaction_amount"] == 127.93 and call["json"]["external_reference"] == f"{code}-1"
    assert call["json"]["notification_url"] == "http://bot.test/payments/mercadopago/webhook"
    mp_payment = mp.payments[p["provider_payment_id"]]
    assert p["pix_qr_code"] == mp_payment["point_of_interaction"]["transaction_data"]["qr_code"]
    assert p["checkout_url"].startswith("https://www.mercadopago.com.br/payments/")
    assert (
        start_payment(factory, code, settings)["id"] == p["id"] and len(mp.requests) == n_requests + 1
    )  # no 2nd charge

    # a genuine notification while MP still has it pending: fetched, nothing moves
    assert _post(client, *mp.notification(p["provider_payment_id"], SECRET)).json()["status"] == "ignored"
    assert _state(factory, code)["order"] == "pending_payment"
    assert mp.requests[-1]["path"] == f"/v1/payments/{p['provider_payment_id']}"

    mp.approve(p["provider_payment_id"])
    note = mp.notification(p["provider_payment_id"], SECRET)
    assert _post(client, *note).json() == {"status": "processed", "order": code}
    assert _post(client, *note).json()["status"] == "duplicate"  # replayed (same x-request-id)
    assert _post(client, *mp.notification(p["provider_payment_id"], SECRET)).json()["status"] == "ignored"  # MP retry
    st = _state(factory, code)
    assert (st["order"], st["payments"], st["paid"], st["events"]) == (
        "paid",
        [("paid", p["provider_payment_id"])],
        1,
        3,
    )
    assert len(st["messages"]) == 1 and code in st["messages"][0]


def test_signature_failures_store_nothing(client, mp, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "pix")
    pid = start_payment(factory, code, settings)["provider_payment_id"]
    mp.approve(pid)
    query, headers, body = mp.notification(pid, SECRET)
    other_query = dict(query, **{"data.id": "1310999999"})
    bad = [
        (query, {**headers, "x-signature": ""}, body),
        (query, {k: v for k, v in headers.items() if k != "x-signature"}, body),
        mp.notification(pid, "not-the-secret"),
        (other_query, headers, body),  # signed for one payment, pointing at another
        (query, {**headers, "x-request-id": "another-request"}, body),
        mp.notification(pid, SECRET, ts=int(time.time()) - 3600),  # replay of an old capture
        (query, {**headers, "x-signature": headers["x-signature"].replace("v1=", "v2=")}, body),
    ]
    for q, h, b in bad:
        assert _post(client, q, h, b).status_code == 401
    st = _state(factory, code)
    assert (st["order"], st["events"], st["messages"]) == ("pending_payment", 0, [])
    # the body is not signed: a body naming another payment does not change what is fetched
    forged_body = body.replace(pid.encode(), b"1310999999")
    assert _post(client, query, headers, forged_body).json()["status"] == "processed"
    assert _state(factory, code)["order"] == "paid"


def test_checkout_pro_card_payment_matched_by_reference(client, mp, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "card")
    p = start_payment(factory, code, settings)
    pref_id = p["provider_payment_id"].removeprefix("pref:")
    pref = mp.preferences[pref_id]
    assert p["checkout_url"] == pref["init_point"] and p["pix_qr_code"] is None
    assert pref["items"][0]["unit_price"] == 127.93 and pref["external_reference"] == f"{code}-1"
    assert {"id": "ticket"} in pref["payment_methods"]["excluded_payment_types"]
    paid_id = mp.pay_preference(pref_id)
    assert _post(client, *mp.notification(paid_id, SECRET)).json()["status"] == "processed"
    st = _state(factory, code)
    assert (st["order"], st["payments"]) == ("paid", [("paid", paid_id)])


def test_gateway_errors(client, mp, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "pix")
    mp.fail_next(500)
    with pytest.raises(payments.PaymentUnavailable, match="link de pagamento"):
        start_payment(factory, code, settings)
    pid = start_payment(factory, code, settings)["provider_payment_id"]
    mp.approve(pid)
    note = mp.notification(pid, SECRET)
    mp.fail_next(503)
    assert _post(client, *note).status_code == 503  # fetch failed: MP will retry
    assert _state(factory, code)["events"] == 0
    assert _post(client, *note).json()["status"] == "processed"  # the retry goes through
    # amount paid differs from the order: not accepted
    _, code2 = new_order(factory, catalogue, "pix")
    pid2 = start_payment(factory, code2, settings)["provider_payment_id"]
    mp.approve(pid2)
    mp.payments[pid2]["transaction_amount"] = 1.0
    assert _post(client, *mp.notification(pid2, SECRET)).json()["status"] == "rejected"
    assert _state(factory, code2)["order"] == "pending_payment"


def test_wrong_access_token_is_a_payment_error(mp, factory, catalogue, settings):
    _, code = new_order(factory, catalogue, "pix")
    bad = settings.model_copy(update={"MERCADOPAGO_ACCESS_TOKEN": "TEST-wrong"})
    with pytest.raises(payments.PaymentUnavailable):
        start_payment(factory, code, bad)
    with session_scope(factory) as s:  # the attempt waits for a retry with the same key, no link yet
        assert [(p.idempotency_key, p.checkout_url, p.provider_payment_id) for p in s.scalars(select(Payment))] == [
            (f"{code}-1", "", None)
        ]


def test_a_preference_paid_twice_keeps_both_payments_asks_for_review_and_never_cancels(
    client, mp, factory, catalogue, settings
):
    from fastapi.testclient import TestClient

    from tests.serve.factories import webhook_app

    _, code = new_order(factory, catalogue, "card")
    pref_id = start_payment(factory, code, settings)["provider_payment_id"].removeprefix("pref:")
    first, second = mp.pay_preference(pref_id), mp.pay_preference(pref_id)  # two approved payments, one link
    assert _post(client, *mp.notification(first, SECRET)).json()["status"] == "processed"
    assert _post(client, *mp.notification(second, SECRET)).json()["status"] == "processed"
    st = _state(factory, code)
    assert (st["order"], st["payments"], st["paid"]) == ("paid", [("paid", first), ("paid", second)], 1)
    assert len(st["messages"]) == 1  # one "pagamento confirmado", nothing for the duplicate
    alerts = TestClient(webhook_app(factory, settings)).get("/admin/alerts").json()["items"]
    assert [(a["kind"], a["order"], a["payment"], a["reason"]) for a in alerts] == [
        ("payment_needs_review", code, second, "second payment")
    ]

    mp.set_status(second, "refunded")  # the operator gives the duplicate back: the order stays paid
    assert _post(client, *mp.notification(second, SECRET)).json()["status"] == "processed"
    st = _state(factory, code)
    assert (st["order"], st["payments"]) == ("paid", [("paid", first), ("refunded", second)])
    mp.set_status(first, "refunded")  # then the order's own payment: now the order is refunded
    assert _post(client, *mp.notification(first, SECRET)).json()["status"] == "processed"
    with factory() as s:
        names = s.scalars(select(Event.name).where(Event.name.like("%refunded")).order_by(Event.id)).all()
    assert _state(factory, code)["order"] == "refunded" and names == ["payment_refunded", "order_refunded"]
