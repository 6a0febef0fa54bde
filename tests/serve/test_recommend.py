from serve.commerce.recommend import category_affinity, recommend_tool, suggest
from serve.contract.tools import Recommend
from tests.serve.agent_helpers import fixture_catalogue

LENCOL, TRAVESSEIRO, TOALHA = (
    "6c960ba67062c4e0ec86082740d58be2",
    "4df889741167b95b278c4ae536567731",
    "d3a4034028341fdbab0e4f5ba14ce89d",
)
MOUSE, TECLADO, SUPORTE = (
    "9645714c8a70d287c2316e5a7b5246db",
    "3baf100e97eff588fc63b1ec2e831cfd",
    "151455c3a36b4bf62f5a96f310f4476c",
)
YOGA = "3fe8a386"  # out of stock


def test_complements_come_from_copurchase_by_count():
    cat = fixture_catalogue()
    assert [p.product_id for p in suggest(cat, anchors=[MOUSE], limit=2)] == [TECLADO, SUPORTE]
    assert [p.product_id for p in suggest(cat, anchors=[LENCOL], limit=2)] == [TRAVESSEIRO, TOALHA]


def test_never_suggests_cart_history_or_out_of_stock():
    cat = fixture_catalogue()
    got = suggest(cat, anchors=[LENCOL], exclude={TRAVESSEIRO}, history=[TOALHA], limit=5)
    ids = {p.product_id for p in got}
    assert not ids & {LENCOL, TRAVESSEIRO, TOALHA}
    assert all(p.stock > 0 for p in got) and len(got) == 5
    assert YOGA not in {p.ref for p in suggest(cat, preferred=["esporte e lazer"], limit=10)}


def test_affinity_prefers_declared_then_bought_categories():
    cat = fixture_catalogue()
    assert category_affinity(cat, [MOUSE, TECLADO, LENCOL], preferred=["beleza e saúde"]) == [
        "beleza_saude",
        "informatica_acessorios",
        "cama_mesa_banho",
    ]
    got = suggest(cat, history=[], preferred=["relógios e presentes"], limit=2)
    assert [p.category for p in got] == ["relogios_presentes", "relogios_presentes"]


def test_popularity_fallback_without_any_signal():
    cat = fixture_catalogue()
    assert [p.sales_rank for p in suggest(cat, limit=3)] == [1, 2, 3]


def test_recommend_tool_uses_history_for_reorder_and_complements():
    cat = fixture_catalogue()
    result = recommend_tool(cat, Recommend(), history=[MOUSE])
    assert [i["id"] for i in result["again"]] == [MOUSE[:8]]
    assert result["items"][0]["id"] == TECLADO[:8]
    cold = recommend_tool(cat, Recommend(), history=[])
    assert "cats" in cold and len(cold["items"]) == 3
