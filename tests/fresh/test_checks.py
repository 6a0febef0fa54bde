"""The fresh-conversation judge itself: each check fails on what it must catch (no bot needed)."""

from __future__ import annotations

import pytest

from serve.contract import format_brl
from serve.conversation.texts import say
from tests.fresh.checks import Refs, State, check_end, check_turn, every_answer
from tests.fresh.screen import find_tap, read
from tests.fresh.script import ScriptError, load_conversation
from tests.serve.factories import fresh_catalogue

CATALOGUE = fresh_catalogue()
PET_TOY = next(p for p in CATALOGUE.products if p.category == "pet_shop" and "Brinquedo" in p.name)
BLOCKS = next(p for p in CATALOGUE.products if p.name.startswith("Blocos de Montar"))
CLAY = next(p for p in CATALOGUE.products if p.name.startswith("Kit Massinha"))


def text(body: str) -> dict:
    return {"type": "text", "text": {"body": body}}


def product_list(*products) -> dict:
    rows = [
        {"id": f"product:{p.ref}", "title": p.name[:23] + "…", "description": format_brl(p.price_cents)}
        for p in products
    ]
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Separei estas opções:"},
            "action": {"button": "Ver opções", "sections": [{"rows": rows}]},
        },
    }


def buttons(*pairs) -> dict:
    action = {"buttons": [{"type": "reply", "reply": {"id": i, "title": t}} for i, t in pairs]}
    return {
        "type": "interactive",
        "interactive": {"type": "button", "body": {"text": "Como você prefere pagar?"}, "action": action},
    }


EMPTY = State(cart={}, cart_total_cents=None, orders=[], handoffs=0)


def test_every_answer_catches_silence_the_generic_apology_debris_and_the_wrong_language():
    assert every_answer(read([], CATALOGUE), "pt", CATALOGUE) == ["no answer"]
    assert every_answer(read([text(say("pt", "fallback"))], CATALOGUE), "pt", CATALOGUE)[0].startswith(
        "generic apology"
    )
    assert every_answer(read([text('<tool_call>{"name"')], CATALOGUE), "pt", CATALOGUE)
    portuguese = read(
        [text("Adicionei 1x Blocos de Montar 100 Peças ao carrinho. O que você quer fazer agora?")], CATALOGUE
    )
    assert every_answer(portuguese, "en", CATALOGUE) == ["answered in Portuguese to an English-writing customer"]
    english = read([text("Added 1x Blocos de Montar 100 Peças to your cart. ✅"), product_list(BLOCKS)], CATALOGUE)
    assert every_answer(english, "en", CATALOGUE) == []


def test_shown_products_are_judged_on_category_budget_and_saved_for_references():
    refs = Refs(CATALOGUE)
    screen = read([product_list(PET_TOY, BLOCKS, CLAY)], CATALOGUE)
    wrong = check_turn(
        {"shown": {"as": "toys", "min": 3, "categories": ["brinquedos"], "max_price_cents": 5000}}, screen, EMPTY, refs
    )
    assert wrong == [
        f"{PET_TOY.name} (pet_shop) is not in ['brinquedos']",
        f"{BLOCKS.name} costs {format_brl(BLOCKS.price_cents)}, above R$ 50,00",
    ]
    assert [refs.product(r) for r in ("toys#1", "toys#2", "toys#cheapest", "toys#priciest")] == [
        PET_TOY,
        BLOCKS,
        PET_TOY,
        BLOCKS,
    ]
    assert check_turn({"cart": [["toys#4", 1]]}, screen, EMPTY, refs) == ["toys#4: the list 'toys' had 3 products"]
    assert check_turn({"no_products": True}, screen, EMPTY, refs) == [
        f"shows products: {[PET_TOY.name, BLOCKS.name, CLAY.name]}"
    ]


def test_cart_order_and_handoff_are_read_from_the_state():
    refs = Refs(CATALOGUE)
    state = State(cart={BLOCKS.product_id: 2}, cart_total_cents=17370, orders=[], handoffs=0)
    screen = read([text("Total: R$ 173,70")], CATALOGUE)
    assert check_turn({"cart": [[BLOCKS.name, 2]], "cart_total_shown": True}, screen, state, refs) == []
    assert check_turn({"cart": [[BLOCKS.name, 1]]}, screen, state, refs) == [
        f"cart holds 2x {BLOCKS.name}; expected 1x {BLOCKS.name}"
    ]
    assert check_turn({"cart_includes": [[BLOCKS.name, 2]], "handoff": True}, screen, state, refs) == [
        "handoff rows: 0, expected some"
    ]
    paid = State({}, None, [{"code": "ZV1", "status": "paid", "method": "pix", "items": {CLAY.product_id: 1}}], 0)
    assert (
        check_end({"orders": [{"status": "paid", "method": "pix", "items": [[CLAY.name, 1]]}], "cart": []}, paid, refs)
        == []
    )
    assert check_end({"orders": []}, paid, refs) == [f"orders [('paid', 'pix', '1x {CLAY.name}')], expected []"]


def test_any_of_holds_when_one_alternative_does():
    refs = Refs(CATALOGUE, lists={"toys": [BLOCKS, CLAY]})
    asks = read([text("Claro! Qual deles você quer: o primeiro ou o segundo?")], CATALOGUE)
    expect = {"any_of": [{"cart_one_of": "toys"}, {"cart": [], "asks_which": True}]}
    assert check_turn(expect, asks, EMPTY, refs) == []
    assert check_turn(expect, read([text("Seu carrinho está vazio.")], CATALOGUE), EMPTY, refs)
    assert check_turn(expect, asks, State({CLAY.product_id: 1}, 1990, [], 0), refs) == []


def test_taps_find_buttons_by_title_and_rows_by_position_or_cut_title():
    screens = [read([product_list(BLOCKS, CLAY)], CATALOGUE), read([buttons(("checkout:pix", "PIX"))], CATALOGUE)]
    assert find_tap(screens, "pix") == ("button_reply", "checkout:pix", "PIX")
    assert find_tap(screens, {"row": 2}) == ("list_reply", f"product:{CLAY.ref}", CLAY.name[:23] + "…")
    assert find_tap(screens, BLOCKS.name)[1] == f"product:{BLOCKS.ref}"
    assert find_tap(screens, "Cartão") is None and find_tap(screens, {"row": 3}) is None


@pytest.mark.parametrize(
    "yaml_text, message",
    [
        ("about: x\ncustomer: y\nturns: [{say: oi, expect: {sayz: [a]}}]\nend: {}", "unknown expectation"),
        ("about: x\ncustomer: y\nturns: [{say: oi, tap: PIX}]\nend: {}", "exactly one of"),
        ("about: x\ncustomer: y\nturns: [{say: oi, expect: {shown: {maximum: 3}}}]\nend: {}", "unknown shown key"),
        ("about: x\ncustomer: y\nturns: [{send: video}]\nend: {}", "send one of"),
        ("about: x\nturns: []\nend: {}", "missing"),
    ],
)
def test_a_mistyped_conversation_file_fails_to_load(tmp_path, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ScriptError, match=message):
        load_conversation(path)
