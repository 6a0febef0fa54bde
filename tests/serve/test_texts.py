"""serve/texts.py: both languages say everything, within the Cloud API's limits."""

import pytest

from serve.texts import TEXTS, detect_language, say, word


def test_both_languages_have_every_text_and_buttons_fit_whatsapp():
    assert TEXTS["pt"].keys() == TEXTS["en"].keys()
    for lang, table in TEXTS.items():
        too_long = {k: v for k, v in table.items() if k.startswith("b_") and len(v) > 20}
        assert not too_long, (lang, too_long)  # reply button / list button titles: ≤ 20 characters
    assert say("en", "added", qty=2, name="Lençol") == "Added 2x Lençol to your cart. ✅"
    assert say("xx", "cart_empty") == "Seu carrinho está vazio."  # unknown language → pt
    assert (word("en", "st", "shipped"), word("pt", "st", "shipped"), word("pt", "st", "lost")) == ("shipped", "enviado", "lost")


@pytest.mark.parametrize("text, lang", [
    ("oi, cadê meu pedido?", "pt"), ("quero 2 jogos de lençol", "pt"), ("tem perfume?", "pt"),
    ("hi! do you sell running shoes?", "en"), ("where is my order", "en"), ("thanks, that's all", "en"),
    ("R$ 150", None), ("ok 👍", None), ("", None),
])  # fmt: skip
def test_detect_language(text, lang):
    assert detect_language(text) == lang
