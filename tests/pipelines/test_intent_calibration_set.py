"""The calibration set: every classifier label in both languages, enough unique messages, and no
4-word sequence (nor whole message) shared with the synthesizer's phrase tables (training) or with
the evaluation texts (the simulator's phrasing bank, the fresh conversations, the shopping queries)."""

from __future__ import annotations

import ast
import re
import unicodedata
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CALIBRATION = ROOT / "configs" / "intent_calibration.yaml"
PHRASE_TABLES = [ROOT / "pipelines" / "phrases_pt.py", ROOT / "pipelines" / "phrases_en.py"]
PHRASING_BANK = ROOT / "simulator" / "phrasing_bank.yaml"
EVALUATION_YAML = [PHRASING_BANK, ROOT / "tests" / "fixtures" / "shopping_queries.yaml"] + sorted(
    (ROOT / "tests" / "fixtures" / "fresh_conversations").glob("*.yaml")
)
LABELS = [
    "add_to_cart",
    "browse_categories",
    "checkout",
    "complaint",
    "decline",
    "greeting",
    "human_request",
    "lgpd",
    "objection_price",
    "objection_quality",
    "objection_shipping",
    "off_topic",
    "order_status",
    "payment_question",
    "product_details",
    "recommendation",
    "remove_from_cart",
    "search_product",
    "thanks_goodbye",
    "view_cart",
]
MIN_MESSAGES = {"pt": 8, "en": 3}
N = 4


def ngrams(text: str, n: int = N) -> set[tuple[str, ...]]:
    """Word n-grams of `text`: lowercased, accents stripped, punctuation removed, split on whitespace."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    words = re.sub(r"[^\w\s]", " ", text).split()
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def strings(node) -> list[str]:
    """Every string (keys and values) in a parsed YAML document."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in strings(k) + strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return []


def calibration() -> dict[str, dict[str, list[str]]]:
    return yaml.safe_load(CALIBRATION.read_text(encoding="utf-8"))


def test_both_languages_have_exactly_the_classifier_labels():
    data = calibration()
    assert set(data) == set(MIN_MESSAGES)
    for lang, labels in data.items():
        assert sorted(labels) == LABELS, lang


def test_each_label_has_enough_unique_non_empty_messages():
    for lang, labels in calibration().items():
        for label, messages in labels.items():
            assert all(isinstance(m, str) and m.strip() for m in messages), (lang, label)
            assert len(set(messages)) == len(messages), (lang, label)
            assert len(messages) >= MIN_MESSAGES[lang], (lang, label)


def test_no_message_repeats_training_or_evaluation_phrasing():
    texts = [
        node.value
        for path in PHRASE_TABLES
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    texts += [s for path in EVALUATION_YAML for s in strings(yaml.safe_load(path.read_text(encoding="utf-8")))]
    assert len(texts) > 100 and len(EVALUATION_YAML) > 20
    forbidden = set().union(*map(ngrams, texts))
    whole = {" ".join(w for (w,) in sorted(ngrams(t, 1))) for t in texts}
    copies = [
        (lang, label, message, sorted(ngrams(message) & forbidden))
        for lang, labels in calibration().items()
        for label, messages in labels.items()
        for message in messages
        if ngrams(message) & forbidden or " ".join(w for (w,) in sorted(ngrams(message, 1))) in whole
    ]
    assert not copies, "\n".join(map(str, copies))


def test_the_ngram_helper_normalises_case_accents_and_punctuation():
    assert (
        ngrams("Você já VIU, o preço?")
        == ngrams("voce ja viu o preco")
        == {
            ("voce", "ja", "viu", "o"),
            ("ja", "viu", "o", "preco"),
        }
    )
    assert ngrams("oi tudo bem") == set()
