"""Tools executed against the real cart/orders/payments modules, on SQLite and PostgreSQL.

Result dicts must equal what serve.core.tool_results builds for training data from the same inputs.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from serve.commerce.customers import OlistHistory
from serve.contract import ToolCallError
from serve.contract.tools import AddToCart, GetProduct, RemoveFromCart, SearchProducts
from serve.conversation.executor import Tools
from serve.core import tool_results
from serve.settings import Settings
from serve.storage.db import session_scope
from serve.storage.tables import Event, Handoff, Order, Payment
from tests.serve.factories import fixture_catalogue, fixture_frames, new_customer

LENCOL, TRAVESSEIRO, FONE = "6c960ba6", "4df88974", "317ae923"  # refs; fone has 5 in stock


@pytest.fixture
def tools(tmp_path):
    settings = Settings(ENV="test", PUBLIC_BASE_URL="http://bot.test", MEDIA_DIR=str(tmp_path / "media"))
    hist = fixture_frames()["histories"]
    return Tools(fixture_catalogue(), settings, olist=OlistHistory(hist))


def run(tools, factory, cid, name, args):
    return tools.run(factory, cid, name, tools.validate(name, args))


def test_validate_refuses_unknown_products_and_schema_violations(tools):
    with pytest.raises(ToolCallError, match="produto não encontrado"):
        tools.validate("get_product", {"product_id": "00000000"})
    with pytest.raises(ToolCallError, match="price"):
        tools.validate("add_to_cart", {"product_id": LENCOL, "price": 10})
    with pytest.raises(ToolCallError, match="quantity"):
        tools.validate("remove_from_cart", {"product_id": LENCOL, "quantity": 0})
    assert tools.validate("add_to_cart", {"product_id": LENCOL}).quantity == 1


def test_search_and_product_results_equal_training_shapes(tools, factory):
    cid = new_customer(factory)
    out = run(tools, factory, cid, "search_products", {"query": "lençol casal", "max_price": 100})
    assert out.result == tool_results.search_products(
        tools.catalogue, SearchProducts(query="lençol casal", max_price=100)
    )
    assert out.events[0][0] == "recommendation_shown"
    out = run(tools, factory, cid, "get_product", {"product_id": LENCOL})
    assert out.result == tool_results.get_product(tools.catalogue, GetProduct(product_id=LENCOL))
    assert out.events == [("product_viewed", {"product_id": "6c960ba67062c4e0ec86082740d58be2"})]


def test_cart_tools_persist_per_customer_and_match_pure_arithmetic(tools, factory):
    cid, other = new_customer(factory), new_customer(factory)
    out = run(tools, factory, cid, "add_to_cart", {"product_id": LENCOL, "quantity": 2})
    lines, expected = tool_results.add_to_cart(tools.catalogue, (), AddToCart(product_id=LENCOL, quantity=2))
    assert out.ok and out.result == expected
    out = run(tools, factory, cid, "add_to_cart", {"product_id": TRAVESSEIRO})
    lines, expected = tool_results.add_to_cart(tools.catalogue, lines, AddToCart(product_id=TRAVESSEIRO))
    assert out.result == expected and out.result["free_shipping"] is True  # 2 × 89,90 + 45,90 ≥ R$ 199
    out = run(tools, factory, cid, "remove_from_cart", {"product_id": LENCOL, "quantity": 1})
    _, expected = tool_results.remove_from_cart(tools.catalogue, lines, RemoveFromCart(product_id=LENCOL, quantity=1))
    assert out.result == expected
    assert run(tools, factory, other, "view_cart", {}).result["items"] == []
    too_many = run(tools, factory, cid, "add_to_cart", {"product_id": FONE, "quantity": 6})
    assert not too_many.ok and "só temos 5" in too_many.result["error"]
    missing = run(tools, factory, cid, "remove_from_cart", {"product_id": FONE})
    assert missing.result == {"error": "esse produto não está no carrinho"}


def test_checkout_creates_order_and_sandbox_payment_then_status(tools, factory):
    cid = new_customer(factory)
    empty = run(tools, factory, cid, "checkout", {"payment_method": "pix"})
    assert empty.result == {"error": "o carrinho está vazio"}
    run(tools, factory, cid, "add_to_cart", {"product_id": LENCOL})
    out = run(tools, factory, cid, "checkout", {"payment_method": "pix"})
    with session_scope(factory) as s:
        order = s.scalars(select(Order).where(Order.customer_id == cid)).one()
        payment = s.scalars(select(Payment).where(Payment.order_id == order.id)).one()
        assert (order.status, order.total_cents, payment.status, payment.amount_cents) == (
            "pending_payment",
            8990 + 1590,
            "pending",
            8990 + 1590,
        )
    assert out.result == tool_results.checkout_result(order.code, order.total_cents, "pix", payment.checkout_url)
    assert payment.checkout_url.startswith("http://bot.test/pay/") and out.pix_code == payment.pix_qr_code
    assert out.events[0] == (
        "checkout_started",
        {"order": order.code, "total_cents": 10580, "method": "pix", "provider": "sandbox"},
    )
    status = run(tools, factory, cid, "order_status", {}).result
    assert (status["order"], status["status"], status["items"]) == (
        order.code,
        "created",
        ["Jogo de Lençol Casal 4 Peças Algodão"],
    )
    assert run(tools, factory, cid, "view_cart", {}).result["items"] == []  # the cart was checked out


def test_order_status_from_linked_olist_history(tools, factory):
    cid = new_customer(factory, olist_id="c1a10000000000000000000000000000")
    r = run(tools, factory, cid, "order_status", {}).result
    assert r == {
        "order": "o1000000",
        "status": "shipped",
        "bought": "10/06/2018",
        "eta": "30/06/2018",
        "items": ["Capinha Celular Silicone"],
    }
    assert run(tools, factory, new_customer(factory), "order_status", {}).result == {
        "error": "nenhum pedido encontrado para este número"
    }


def test_recommend_uses_the_customers_history(tools, factory):
    cid = new_customer(factory, olist_id="c1a10000000000000000000000000000")
    r = run(tools, factory, cid, "recommend", {}).result
    assert [i["id"] for i in r["again"]] == ["92cb7c29", LENCOL]  # newest order first
    assert "cats" in run(tools, factory, new_customer(factory), "recommend", {}).result


def test_handoff_queues_one_ticket_with_priority(tools, factory):
    cid = new_customer(factory)
    run(tools, factory, cid, "add_to_cart", {"product_id": LENCOL})
    calm = run(tools, factory, new_customer(factory), "handoff_to_human", {"reason": "quero falar com alguém"})
    angry = run(tools, factory, cid, "handoff_to_human", {"reason": "reclamação: produto veio quebrado"})
    again = run(tools, factory, cid, "handoff_to_human", {"reason": "reclamação de novo"})
    assert angry.result == calm.result == again.result == {"ok": True}
    with session_scope(factory) as s:
        rows = s.scalars(select(Handoff).order_by(Handoff.priority_score.desc())).all()
        assert [h.customer_id for h in rows] == [cid, rows[1].customer_id] and len(rows) == 2
        assert rows[0].estimated_value_cents == 8990 + 1590 and rows[0].priority_score > rows[1].priority_score
        assert (
            s.scalars(select(Event).where(Event.name == "handoff")).first() is None
        )  # events: the agent persists them
    assert angry.events[0][1]["urgency"] == 1.0 and calm.events[0][1]["urgency"] == 0.0
