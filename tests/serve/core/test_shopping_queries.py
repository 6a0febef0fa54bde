"""The hand-written, labelled shopping queries (tests/fixtures/shopping_queries.yaml): parsed exactly,
budgets respected in every result, and never part of the synthesizer's phrasing (evaluation only).
The category figures on the real catalogue are bench/search_quality.py's (bench/RESULTS.md)."""

import ast
import re
from pathlib import Path

import pytest
import yaml

from serve.contract.tools import SearchProducts
from serve.conversation.shopping import search_arguments
from serve.core import tool_results
from serve.core.catalog import normalize
from serve.core.shopping_request import parse_request

REPO = Path(__file__).resolve().parents[3]
QUERIES = yaml.safe_load((REPO / "tests" / "fixtures" / "shopping_queries.yaml").read_text(encoding="utf-8"))
ALL = QUERIES["queries"] + QUERIES["held_out"] + QUERIES["held_out_2"]
TRAINING_PHRASING = sorted(REPO.glob("pipelines/synth_*.py")) + sorted(REPO.glob("pipelines/phrases_*.py"))
SLOT = r"\S+(?: \S+){0,3}"  # what the synthesizer puts in a {placeholder}: a product or category name


def test_the_set_is_big_enough_and_labelled():
    assert len(ALL) >= 200
    assert all(q["cats"] and isinstance(q.get("budget", 0), int) for q in ALL)
    assert len({normalize(q["text"]) for q in ALL}) == len(ALL)  # no query twice


@pytest.mark.parametrize("q", ALL, ids=lambda q: q["text"][:40])
def test_budget_and_sort_parse_as_labelled(q):
    r = parse_request(q["text"])
    assert (r.max_price_cents, r.sort) == (q.get("budget"), q.get("sort"))


def test_category_text_reads_back_for_every_query():
    for q in ALL:
        r = parse_request(q["text"])
        if r.categories and len(" ou ".join(r.category_words)) <= 80:
            assert parse_request(r.category_text).categories == r.categories, q["text"]


def test_every_result_respects_the_budget_on_the_fixture_catalogue(catalogue):
    """As the bot runs them: the search_products call the server builds, through the tool."""
    checked = 0
    for q in ALL:
        if q.get("budget") is None:
            continue
        args = SearchProducts(**search_arguments(parse_request(q["text"])))
        result = tool_results.search_products(catalogue, args, limit=10)
        prices = [catalogue.get(item["id"]).price_cents for item in result.get("items", [])]
        checked += len(prices)
        assert all(p <= q["budget"] for p in prices), (q["text"], prices)
        # the customer's words alone (the fallback's query) filter the same way
        plain = tool_results.search_products(catalogue, SearchProducts(query=q["text"][:120]), limit=10)
        assert all(catalogue.get(i["id"]).price_cents <= q["budget"] for i in plain.get("items", [])), q["text"]
    assert checked > 20  # the fixture catalogue answers enough of them for the check to mean something


def _template_patterns() -> list[re.Pattern]:
    """Every string of the synthesizer's phrasing as a regex over normalized text ({slots} → words)."""
    patterns = []
    for path in TRAINING_PHRASING:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            parts = re.split(r"\{\w*\}", node.value)
            literal = [normalize(p) for p in parts]
            if len(" ".join(literal).strip()) < 4:  # "{cat}", "{pay}": no phrasing of their own
                continue
            pieces = []
            for i, text in enumerate(literal):
                if text:
                    pieces.append(re.escape(text))
                if i < len(parts) - 1:
                    pieces.append(SLOT)
            patterns.append(re.compile(r"\s*".join(pieces)))
    return patterns


def test_no_hand_written_query_is_training_phrasing():
    patterns = _template_patterns()
    assert len(patterns) > 100  # the phrase banks were found and read
    clashes = [q["text"] for q in ALL if any(p.fullmatch(normalize(q["text"])) for p in patterns)]
    assert clashes == []
