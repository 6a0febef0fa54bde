"""Misspelt keywords read as the keywords (serve/core/spelling.py)."""

from __future__ import annotations

import pytest

from serve.core.spelling import respell

KEYWORDS = frozenset({"caro", "frete", "pagar", "menos", "original", "muito", "nota"})


@pytest.mark.parametrize(
    "typed, read",
    [
        ("ta crao", "ta caro"),  # two letters swapped
        ("ta caaro", "ta caro"),  # one doubled
        ("cobra frte", "cobra frete"),  # one missed
        ("muitk caro", "muito caro"),  # one replaced
        ("esperava pqgar menow", "esperava pagar menos"),
        ("e origial?", "e original?"),
        ("ta aro", "ta caro"),  # three letters are enough
    ],
)
def test_one_slip_away_from_a_keyword_is_the_keyword(typed, read):
    assert respell(typed, KEYWORDS) == read


@pytest.mark.parametrize("text", ["pra frente", "tem nova", "ta", "r 59", "mesa de centro", "nota fiscal"])
def test_other_words_and_short_ones_stay(text):
    assert respell(text, KEYWORDS) == text


def test_a_word_the_catalogue_knows_is_not_a_misspelling():
    assert respell("nata fresca", KEYWORDS) == "nota fresca"
    assert respell("nata fresca", KEYWORDS, known=lambda w: w == "nata") == "nata fresca"
