"""The phrasing bank: complete in both languages, validated on load, seeded, and never the synthesizer's words.

The zero-overlap check renders every bank template with slots filled and compares it with the customer
turns of the training conversations: those the synthesize stage writes on the catalogue fixture (its own
flows, phrase banks and noise) plus every customer phrase of pipelines/phrases_pt.py and phrases_en.py
filled with the same slot values the bank gets.
"""

import copy
import itertools
import random

import pandas as pd
import pytest
import yaml

from pipelines import phrases_en, phrases_pt
from pipelines.synth_flows import DEFAULT_WEIGHTS
from pipelines.synth_world import World
from pipelines.synthesize import generate
from simulator.phrasing import ACTS, LANGS, BankError, default_bank, load_bank, number_word, ordinal_word, utter
from tests.serve.factories import fixture_catalogue, read_fixture
from tests.simulator.phrase_overlap import BUDGETS, CODES, QTYS, copies, ngrams, renderings, slot_values, words

MIN_TEMPLATES = {"pt": 8, "en": 4}
CONVERSATIONS = 2000  # synthesize on the fixture: every flow and phrase many times over
SLOTS = {
    "product": "fone bluetooth",
    "budget": "150",
    "qty": "2",
    "ordinal": "2",
    "name": "relógio prata",
    "code": "ZV1",
}


@pytest.fixture(scope="module")
def world() -> World:
    histories = read_fixture("histories")
    for col in ("purchased_at", "estimated_delivery", "delivered_at"):
        histories[col] = pd.to_datetime(histories[col])
    return World(fixture_catalogue(), histories, None)


@pytest.fixture(scope="module")
def slot_words(world) -> tuple[list[str], list[str]]:
    """Product words as training customers use them (the fixture's search keywords) and product names."""
    products = sorted({q for queries in world.queries.values() for _, q in queries} | {"fone bluetooth"})
    return products, [p.name.lower() for p in world.cat.products][:12]


@pytest.fixture(scope="module")
def training(world, slot_words) -> tuple[set, set]:
    """(every word N-gram, every whole turn) of the training customers' messages."""
    rows = generate(world, CONVERSATIONS, english_share=0.3, seed=0, weights=DEFAULT_WEIGHTS)
    turns = [m["content"] for r in rows for m in r["messages"] if m["role"] == "user"]
    products, _ = slot_words
    for bank in (phrases_pt, phrases_en):
        turns += [text for text, _ in bank.HANDOFF_TOPICS]
        pay = [w for ws in bank.PAY_WORDS.values() for w in ws]
        values = {"q": products, "cat": products, "name": products, "ord": bank.ORDINALS, "pay": pay}
        values |= {"qty": [str(q) for q in QTYS], "budget": list(BUDGETS), "code": list(CODES)}
        turns += [text for ts in bank.USER.values() for t in ts for text, _ in renderings(t, values)]
    tagged = [words(t) for t in turns]
    return set().union(*map(ngrams, tagged)), {tuple(w for w, _ in t) for t in tagged}


def test_bank_shares_no_phrase_with_the_training_conversations(training, slot_words):
    found = copies(load_bank(), training, *slot_words)
    assert not found, "bank templates that repeat training phrasing:\n" + "\n".join(map(str, sorted(found)))


def test_the_overlap_check_catches_a_copied_training_phrase(training, slot_words):
    bank = copy.deepcopy(load_bank())
    bank["pt"]["object_shipping"].append(phrases_pt.USER["objection_shipping"][1])  # "quanto fica o frete?"
    bank["pt"]["ask_human"].append("vc é um robô? quero gente")  # training "você é um robô?" in slang
    bank["pt"]["add_this"].append("vou levar")  # shorter than N: compared whole
    bank["en"]["remove_item"].append("pls take out the {product}")  # training "take out the {name}"
    found = {(lang, act, template) for lang, act, template, _ in copies(bank, training, *slot_words)}
    assert found == {
        ("pt", "object_shipping", "quanto fica o frete?"),
        ("pt", "ask_human", "vc é um robô? quero gente"),
        ("pt", "add_this", "vou levar"),
        ("en", "remove_item", "pls take out the {product}"),
    }


def test_every_act_in_both_languages_with_enough_templates():
    bank = load_bank()
    for lang in LANGS:
        assert set(bank[lang]) == set(ACTS)
        short = {act: len(ts) for act, ts in bank[lang].items() if len(ts) < MIN_TEMPLATES[lang]}
        assert not short, f"{lang}: acts with fewer than {MIN_TEMPLATES[lang]} templates: {short}"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda b: b["en"].pop("complaint"), r"en: missing act 'complaint'"),
        (lambda b: b["pt"]["ask_product"].append("tem {produto}?"), r"unknown slot \{produto\}"),
        (lambda b: b["pt"]["order_status"].append("e meu pedido?"), r"does not say \{code\}"),
        (lambda b: b["pt"]["greet"].append(b["pt"]["greet"][0]), r"listed twice"),
        (lambda b: b.pop("pt"), r"missing language 'pt'"),
    ],
)
def test_load_bank_names_what_is_wrong(tmp_path, edit, message):
    bank = copy.deepcopy(load_bank())
    edit(bank)
    path = tmp_path / "bank.yaml"
    path.write_text(yaml.safe_dump(bank, allow_unicode=True), encoding="utf-8")
    with pytest.raises(BankError, match=message):
        load_bank(path)


def test_utter_fills_every_slot_and_is_seeded():
    for lang, act in itertools.product(LANGS, ACTS):
        slots, templates = {s: SLOTS[s] for s in ACTS[act]}, render_all(act, lang)
        for seed in range(20):
            clean = utter(act, lang, random.Random(seed), noise=0, **slots)
            assert len(clean) == 1 and "{" not in clean[0] and clean[0] in templates
            noisy = utter(act, lang, random.Random(seed), noise=1, **slots)
            assert noisy == utter(act, lang, random.Random(seed), noise=1, **slots)
            assert all(m.strip() for m in noisy)
            for value in ("150", "ZV1"):  # digits reach the bot intact, whatever the noise
                if value in slots.values():
                    assert value in " ".join(noisy)
    assert len({utter("ask_product", "pt", random.Random(s), noise=0, product="x")[0] for s in range(50)}) > 5
    assert any(len(utter("complaint", "pt", random.Random(s), noise=1)) > 1 for s in range(50))  # bursts


def render_all(act: str, lang: str) -> set[str]:
    values = slot_values(lang, [SLOTS["product"]], [SLOTS["name"]]) | {"budget": ["150"], "code": ["ZV1"]}
    return {text for t in default_bank()[lang][act] for text, _ in renderings(t, values)}


def test_utter_rejects_missing_unknown_and_malformed_slots():
    rng = random.Random(0)
    with pytest.raises(ValueError, match=r"takes slot\(s\) \['code'\]"):
        utter("order_status", "pt", rng)
    with pytest.raises(ValueError, match=r"takes slot\(s\) \[\]"):
        utter("greet", "pt", rng, product="relógio")
    with pytest.raises(ValueError, match="positive whole number"):
        utter("want_quantity", "pt", rng, qty="dois")
    with pytest.raises(ValueError, match="unknown act"):
        utter("haggle", "pt", rng)
    with pytest.raises(ValueError, match="unknown language"):
        utter("greet", "es", rng)


def test_ordinal_and_number_words():
    assert ordinal_word(2, "pt") == "segundo" and ordinal_word(3, "en") == "third" and ordinal_word(11, "pt") == "11"
    assert number_word(2, "pt") == "duas" and number_word(10, "en") == "ten" and number_word(12, "pt") == "12"
    texts = {utter("want_quantity", "pt", random.Random(s), noise=0, qty=2)[0] for s in range(200)}
    assert any("duas unidades" in t for t in texts) and any("2 unidades" in t for t in texts)
    assert utter("pick_ordinal", "en", random.Random(1), noise=0, ordinal="1")[0] in render_all("pick_ordinal", "en")
