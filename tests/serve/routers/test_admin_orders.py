"""Admin API for the order lifecycle: paid → shipped → delivered and cancel of an unpaid order, only
forward, each timestamped, the customer notified once through the outbox (SQLite and PostgreSQL)."""

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from serve.commerce import orders, stock
from serve.storage.db import session_scope
from serve.storage.tables import Customer, Event, Message, Order, utcnow
from tests.serve.factories import make_settings, new_order, webhook_app


def _client(factory) -> TestClient:
    return TestClient(webhook_app(factory, make_settings()))


def _paid_order(factory, catalogue) -> tuple[int, str]:
    cid, code = new_order(factory, catalogue, "pix")
    with session_scope(factory) as s:
        orders.move(s, s.scalars(select(Order).where(Order.code == code)).one(), "paid")
        s.get(Customer, cid).last_inbound_at = utcnow() - timedelta(hours=2)  # the window is open
    return cid, code


def _notices(factory, cid) -> list[dict]:
    with factory() as s:
        q = select(Message).where(Message.customer_id == cid, Message.direction == "out").order_by(Message.id)
        return [m.payload for m in s.scalars(q)]


def _move(client, code, status):
    return client.post(f"/admin/orders/{code}/status", json={"status": status})


def test_ship_then_deliver_timestamped_and_notified_once_each(factory, catalogue):
    cid, code = _paid_order(factory, catalogue)
    client = _client(factory)

    shipped = _move(client, code, "shipped")
    assert shipped.status_code == 200, shipped.text
    body = shipped.json()
    assert (body["changed"], body["status"]) == (True, "shipped")
    assert body["paid_at"] <= body["shipped_at"] and body["delivered_at"] is None
    again = _move(client, code.lower(), "shipped")  # a retried request: no second move, no second notice
    assert (again.status_code, again.json()["changed"], again.json()["shipped_at"]) == (200, False, body["shipped_at"])
    delivered = _move(client, code, "delivered").json()
    assert delivered["status"] == "delivered" and delivered["shipped_at"] <= delivered["delivered_at"]

    notices = _notices(factory, cid)
    assert [n["kind"] for n in notices] == ["notice", "notice"]
    assert notices[0]["body"].startswith(f"Seu pedido {code} saiu para entrega!")
    assert notices[1]["body"].startswith(f"Seu pedido {code} foi entregue.")
    # outside the window the outbox sends the approved utility template, with its parameters
    assert notices[0]["template"]["name"] == "pedido_enviado" and notices[0]["template"]["parameters"][0] == code
    assert notices[1]["template"] == {
        "name": "pedido_entregue",
        "language": "pt_BR",
        "parameters": [code],
        "kind": "template",
    }
    with factory() as s:
        names = s.scalars(select(Event.name).where(Event.name.like("order_%")).order_by(Event.id)).all()
    assert names == ["order_shipped", "order_delivered"]


def test_backward_and_skipping_moves_are_refused_and_change_nothing(factory, catalogue):
    cid, code = _paid_order(factory, catalogue)
    client = _client(factory)
    skip = _move(client, code, "delivered")  # paid → delivered skips shipping
    assert skip.status_code == 409 and "paid → delivered não é permitido" in skip.json()["detail"]
    _move(client, code, "shipped")
    _move(client, code, "delivered")
    for back in ("shipped", "canceled"):
        refused = _move(client, code, back)
        assert refused.status_code == 409, refused.text
    assert _move(client, code, "paid").status_code == 422  # not an operator's move at all
    view = client.get(f"/admin/orders/{code}").json()
    assert view["status"] == "delivered" and view["canceled_at"] is None
    assert len(_notices(factory, cid)) == 2  # shipped and delivered, nothing for the refused moves
    assert _move(client, "ZV00000", "shipped").status_code == 404


def test_cancel_of_an_unpaid_order_releases_its_stock_and_a_paid_one_cannot_be_canceled(factory, catalogue):
    cid, code = new_order(factory, catalogue, "boleto", quantity=2)
    client = _client(factory)
    with factory() as s:
        held = {pid: reserved for pid, (_, reserved) in stock.levels(s).items()}
    assert sorted(held.values()) == [1, 2]
    assert _move(client, code, "shipped").status_code == 409  # not paid: nothing to ship

    canceled = _move(client, code, "canceled").json()
    assert canceled["status"] == "canceled" and canceled["canceled_at"] is not None
    with factory() as s:
        assert {reserved for _, reserved in stock.levels(s).values()} == {0}
    assert _notices(factory, cid)[0]["body"].startswith(f"O pedido {code} foi cancelado")

    _, paid = _paid_order(factory, catalogue)
    refused = _move(client, paid, "canceled")
    assert refused.status_code == 409 and refused.json()["detail"].endswith("não é permitido")
    assert client.get(f"/admin/orders/{paid}").json()["status"] == "paid"
