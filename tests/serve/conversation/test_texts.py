"""serve/conversation/texts.py: both languages say everything, within the Cloud API's limits."""

import pytest

from serve.conversation.texts import TEXTS, detect_language, is_follow_up, say, tool_error, word
from serve.core.cart_math import CartError, CartLine, check_quantity, remove_line


def test_both_languages_have_every_text_and_buttons_fit_whatsapp():
    assert TEXTS["pt"].keys() == TEXTS["en"].keys()
    for lang, table in TEXTS.items():
        too_long = {k: v for k, v in table.items() if k.startswith("b_") and len(v) > 20}
        assert not too_long, (lang, too_long)  # reply button / list button titles: ≤ 20 characters
    assert say("en", "added", qty=2, name="Lençol") == "Added 2x Lençol to your cart. ✅"
    assert say("xx", "cart_empty") == "Seu carrinho está vazio."  # unknown language → pt
    assert (word("en", "st", "shipped"), word("pt", "st", "shipped"), word("pt", "st", "lost")) == (
        "shipped",
        "enviado",
        "lost",
    )


@pytest.mark.parametrize(
    "text, lang",
    [
        ("oi, cadê meu pedido?", "pt"),
        ("quero 2 jogos de lençol", "pt"),
        ("tem perfume?", "pt"),
        ("hi! do you sell running shoes?", "en"),
        ("where is my order", "en"),
        ("thanks, that's all", "en"),
        ("got 😍\nany caedirinha?", "en"),  # a Portuguese product word in an English question
        ("can I get a relógio?", "en"),
        ("me interessei pelo primeiro", None),  # "me" is both languages' word: the language it had stays
        ("R$ 150", None),
        ("ok 👍", None),
        ("", None),
    ],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def _error_of(call) -> str:
    with pytest.raises(CartError) as exc:
        call()
    return str(exc.value)


def test_tool_errors_read_in_english_for_an_english_customer():
    """The errors come from the real cart code, so a reworded source message shows up here."""
    line = CartLine(product_id="p1", name="Lençol Percal", unit_price_cents=8990, quantity=1)
    errors = [
        _error_of(lambda: check_quantity(0, 5)),
        _error_of(lambda: check_quantity(99, 500, in_cart=1)),
        _error_of(lambda: check_quantity(1, 0, name="Lençol Percal")),
        _error_of(lambda: check_quantity(3, 2, in_cart=1, name="Lençol Percal")),
        _error_of(lambda: check_quantity(2, 1, name="Lençol Percal")),
        _error_of(lambda: remove_line([line], "p2")),
        "produto não encontrado: 'zz'",
        "cupom 'X10' não existe ou expirou",
        "o carrinho está vazio",
    ]
    english = [tool_error("en", e) for e in errors]
    assert english == [
        "the quantity must be at least 1",
        "at most 99 units per product",
        "Lençol Percal is out of stock",
        "we only have 2 of Lençol Percal (you already have 1 in your cart)",
        "we only have 1 of Lençol Percal",
        "that product is not in your cart",
        "product not found: 'zz'",
        "coupon 'X10' does not exist or has expired",
        "your cart is empty",
    ]
    assert [tool_error("pt", e) for e in errors] == errors  # pt keeps the tool's words
    assert tool_error("en", "algo novo deu errado") == "algo novo deu errado"  # no pattern: kept, not guessed


@pytest.mark.parametrize(
    "text, follow_up",
    [
        ("e o frete?", True),
        ("qual o valor do frete?", True),
        ("me fala mais dele", True),
        ("vale a pena?", True),
        ("how much is shipping?", True),
        ("is it any good?", True),
        ("e o frete da toalha?", False),
        ("quero 2", False),
        ("tem azul?", False),
        ("", False),
    ],
)
def test_a_follow_up_names_no_other_product(text, follow_up):
    assert is_follow_up(text) is follow_up
