"""Tool results: the exact compact dicts the model reads, computed from catalogue and cart logic."""

import json
from datetime import date, datetime

import pandas as pd
import pytest

from serve.contract.tools import AddToCart, GetProduct, Recommend, RemoveFromCart, SearchProducts
from serve.core import tool_results as tr
from serve.core.catalog import Catalogue
from tests.serve.factories import FIXTURE_DIR

FONE, MOUSE, TECLADO, TOALHA = "317ae923", "9645714c", "3baf100e", "d3a40340"


@pytest.fixture(scope="module")
def cat():
    return Catalogue(*(pd.read_csv(FIXTURE_DIR / f"{n}.csv") for n in ("products", "reviews", "copurchase")))


def test_dumps_is_compact_utf8():
    assert tr.dumps({"name": "Relógio", "price": "R$ 1,00"}) == '{"name":"Relógio","price":"R$ 1,00"}'


def test_search_summary_fields_and_low_stock(cat):
    out = tr.search_products(cat, SearchProducts(query="fone bluetooth"))
    assert out == {
        "items": [
            {
                "id": FONE,
                "name": "Fone de Ouvido Bluetooth",
                "price": "R$ 89,90",
                "score": 4.6,
                "reviews": 18,
                "low_stock": True,
                "stock": 5,
            }
        ]
    }
    plenty = tr.search_products(cat, SearchProducts(query="mouse sem fio"))["items"][0]
    assert "low_stock" not in plenty and "stock" not in plenty  # stock is only shown when really low
    no_reviews = tr.search_products(cat, SearchProducts(query="edredom"))["items"][0]
    assert "reviews" not in no_reviews and "score" not in no_reviews  # nothing to claim
    sold_out = tr.search_products(cat, SearchProducts(query="tapete yoga"))["items"][0]
    assert sold_out["sold_out"] is True and "low_stock" not in sold_out
    assert tr.search_products(cat, SearchProducts(query="garrafa", max_price=50))["items"][0]["price"] == "R$ 44,90"
    assert len(tr.search_products(cat, SearchProducts(query="relogio garrafa toalha"))["items"]) == 3


def test_search_unknown_category_is_an_error_with_suggestions(cat):
    out = tr.search_products(cat, SearchProducts(query="x", category="foguetes"))
    assert out == {
        "error": "categoria não encontrada: 'foguetes'",
        "cats": ["informática e acessórios", "cama, mesa e banho", "beleza e saúde"],
    }


def test_product_detail_has_a_real_positive_comment(cat):
    out = tr.get_product(cat, GetProduct(product_id="9af20387ee88cf1367b17594630d2748"))  # full id works too
    assert (
        out["id"] == "9af20387"
        and out["desc"] == "Perfume feminino floral, frasco de 100 ml."
        and out["freight"] == "R$ 13,90"
    )
    assert out["comment"] == "cheiro maravilhoso, dura o dia todo"
    secador = tr.get_product(cat, GetProduct(product_id="0b28de68"))  # only a 1-star comment: none shown
    assert "comment" not in secador and secador["low_stock"] is True
    assert tr.get_product(cat, GetProduct(product_id="zzz")) == {"error": "produto não encontrado: 'zzz'"}


def test_recommend_modes(cat):
    assert [i["id"] for i in tr.recommend(cat, Recommend(product_id=MOUSE))["items"]][:2] == [TECLADO, "151455c3"]
    by_cat = tr.recommend(cat, Recommend(category="telefonia"))["items"]
    assert [i["name"] for i in by_cat] == ["Capinha Celular Silicone", "Carregador Turbo USB-C 20W"]
    fresh = tr.recommend(cat, Recommend())
    assert [i["name"] for i in fresh["items"]] == [
        "Perfume Floral Feminino 100 ml",
        "Capinha Celular Silicone",
        "Fone de Ouvido Bluetooth",
    ]
    assert fresh["cats"] == ["informática e acessórios", "cama, mesa e banho", "beleza e saúde"]
    returning = tr.recommend(cat, Recommend(), history=["6c960ba67062c4e0ec86082740d58be2", MOUSE])
    assert [i["id"] for i in returning["again"]] == ["6c960ba6", MOUSE]
    # complements of the past products (travesseiro, toalha co-bought with the lençol), never a past product
    assert [i["name"] for i in returning["items"]][:2] == [
        "Travesseiro Fibra Siliconada",
        "Toalha de Banho Felpuda Azul",
    ]
    assert len(returning["items"]) == 3
    assert "error" in tr.recommend(cat, Recommend(product_id="nope"))


def test_cart_flow_prices_from_catalogue(cat):
    cart, out = tr.add_to_cart(cat, (), AddToCart(product_id=TOALHA, quantity=2))
    assert out == {
        "added": {"id": TOALHA, "name": "Toalha de Banho Felpuda Azul", "qty": 2, "in_cart": 2},
        "units": 2,
        "subtotal": "R$ 69,80",
        "freight": "R$ 16,13",
        "total": "R$ 85,93",
    }
    _, one_more = tr.add_to_cart(cat, cart, AddToCart(product_id=TOALHA, quantity=1))
    assert one_more["added"] == {"id": TOALHA, "name": "Toalha de Banho Felpuda Azul", "qty": 1, "in_cart": 3}
    cart, out = tr.add_to_cart(cat, cart, AddToCart(product_id=TOALHA, quantity=2))
    assert out == {"error": "só temos 3 unidades de Toalha de Banho Felpuda Azul (já tem 2 no carrinho)"}
    cart, _ = tr.add_to_cart(cat, cart, AddToCart(product_id="6c960ba6", quantity=2))  # 2 lençóis: 249,60 → free
    view = tr.view_cart(cart, cat)
    assert view["items"][1] == {
        "id": "6c960ba6",
        "name": "Jogo de Lençol Casal 4 Peças Algodão",
        "qty": 2,
        "price": "R$ 89,90",
    }
    assert (view["total"], view["freight"], view["free_shipping"]) == ("R$ 249,60", "R$ 0,00", True)
    cart, out = tr.remove_from_cart(cat, cart, RemoveFromCart(product_id="6c960ba6"))
    assert out["removed"] == {"id": "6c960ba6", "name": "Jogo de Lençol Casal 4 Peças Algodão", "qty": 2}
    assert out["total"] == "R$ 85,93" and "free_shipping" not in out
    same, out = tr.remove_from_cart(cat, cart, RemoveFromCart(product_id=FONE))
    assert out == {"error": "esse produto não está no carrinho"} and same == cart
    _, out = tr.add_to_cart(cat, cart, AddToCart(product_id="3fe8a386"))  # sold out
    assert out["error"].endswith("está sem estoque")


def test_checkout_order_status_handoff():
    assert tr.checkout_result("A1B2", 8593, "pix", "https://pay.example/A1B2") == {
        "order": "A1B2",
        "total": "R$ 85,93",
        "pay": "pix",
        "link": "https://pay.example/A1B2",
    }
    shipped = tr.OrderInfo("A1", "shipped", datetime(2018, 6, 10, 14, 3), date(2018, 6, 30), None, ["Capinha"])
    assert tr.order_status_result(shipped) == {
        "order": "A1",
        "status": "shipped",
        "bought": "10/06/2018",
        "eta": "30/06/2018",
        "items": ["Capinha"],
    }
    done = tr.OrderInfo(
        "A2", "delivered", "2018-03-01", pd.Timestamp("2018-03-20"), pd.Timestamp("2018-03-12"), ["a", "b", "c"]
    )
    assert tr.order_status_result(done) == {
        "order": "A2",
        "status": "delivered",
        "bought": "01/03/2018",
        "delivered": "12/03/2018",
        "items": ["a", "b"],
    }
    unknown = tr.OrderInfo("A3", "processing", "2018-03-01", pd.NaT, pd.NaT)
    assert "eta" not in tr.order_status_result(unknown) and "delivered" not in tr.order_status_result(unknown)
    assert tr.order_status_result(None) == {"error": "nenhum pedido encontrado para este número"}
    assert json.loads(tr.dumps(tr.handoff_result())) == {"ok": True}
