"""synthesize: row helpers on literal input, determinism, contract validity, grounding, ethics, template."""

import json
import random
import re
from pathlib import Path

import pandas as pd
import pytest

from pipelines import phrases_pt
from pipelines.synth_flows import DEFAULT_WEIGHTS
from pipelines.synth_steps import hook, short_name
from pipelines.synth_world import noisy, typo
from pipelines.synthesize import main, trim, ungrounded_amounts
from serve.contract import (
    TOOLS,
    Conversation,
    chat_messages,
    chat_template,
    format_brl,
    read_jsonl,
    render_chat,
)
from serve.contract.records import INTENTS, SCENARIOS, TECHNIQUES
from serve.core.catalog import Catalogue, CatalogueError

FIXTURE = Path(__file__).resolve().parents[1] / "assets" / "catalogue_fixture"
HERMES = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)  # vLLM hermes parser
N = 300
SUPPORT_ROWS = [  # examples.parquet rows as the support stage writes them (text, intent, language, source)
    ("ainda não recebi o produto e o prazo já passou", "atrasado", "pt", "olist_complaints"),
    ("comprei 2 jogos de lençol mas só recebi um", "entrega_parcial", "pt", "olist_complaints"),
    ("veio de outra cor, diferente do anúncio", "diferente_do_anunciado", "pt", "olist_complaints"),
    ("produto chegou antes do prazo, adorei", "antes_prazo", "pt", "olist_complaints"),
    ("where is my order 3707955617?", "track_order", "en", "bitext"),
    ("I want to file a complaint about your service", "complaint", "en", "bitext"),
    ("how do I create an account", "create_account", "en", "bitext"),
]


def write_catalogue(root: Path, drop: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    dates = {"histories": ["purchased_at", "estimated_delivery", "delivered_at"], "reviews": ["created_at"]}
    for name in ("products", "reviews", "copurchase", "histories"):
        df = pd.read_csv(FIXTURE / f"{name}.csv", parse_dates=dates.get(name, False))
        if drop and name == "products":
            df = df.drop(columns=[drop])
        df.to_parquet(root / f"{name}.parquet")
    return root


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    cat_dir = write_catalogue(root / "catalogue")
    (root / "support").mkdir()
    pd.DataFrame(SUPPORT_ROWS, columns=["text", "intent", "language", "source"]).to_parquet(
        root / "support" / "examples.parquet"
    )
    params = root / "params.yaml"
    params.write_text("synthesize:\n  n_conversations: 5\n  english_share: 0.25\n  seed: 3\n  max_replies: 5\n")
    return root, cat_dir, params


def run(inputs, name: str, n: int = N, params: Path | None = None) -> tuple[Path, Path]:
    root, cat_dir, default_params = inputs
    out, metrics = root / f"{name}.jsonl", root / f"{name}.json"
    main(
        [
            "--catalogue",
            str(cat_dir),
            "--support",
            str(root / "support"),
            "--out",
            str(out),
            "--metrics",
            str(metrics),
            "--params",
            str(params or default_params),
            "--n",
            str(n),
        ]
    )
    return out, metrics


@pytest.fixture(scope="module")
def generated(inputs):
    out, metrics = run(inputs, "main")
    return read_jsonl(out), json.loads(metrics.read_text())


@pytest.fixture(scope="module")
def catalogue(inputs):
    return Catalogue.load(inputs[1])


# --- row helpers on literal input ---------------------------------------------------------------
def test_noise_and_typo_are_seeded_and_whatsapp_like():
    text = "Você tem toalha de banho? Quanto custa, por favor?"
    outs = {noisy(text, random.Random(i), phrases_pt) for i in range(200)}
    assert noisy(text, random.Random(5), phrases_pt) == noisy(text, random.Random(5), phrases_pt)
    assert any("vc" in o for o in outs) and any("qto" in o for o in outs) and any("pfv" in o for o in outs)
    assert any("Voce" in o or "voce" in o for o in outs)  # accents dropped sometimes
    assert any(o.islower() for o in outs) and text in outs  # lowercase sometimes, untouched sometimes
    assert typo("oi", random.Random(0)) == "oi"  # nothing long enough to misspell
    slip = typo("quero toalha", random.Random(1))
    assert slip != "quero toalha" and abs(len(slip) - len("quero toalha")) <= 1


def test_short_name_hook_trim():
    assert short_name("Toalha de Mesa Redonda Rosa Serena") == "toalha de mesa"
    assert short_name("Espelho Redondo 60 cm Branco") == "espelho redondo"
    assert hook("Regador 5 Litros, que deixa as plantas sempre bonitas.") == "Deixa as plantas sempre bonitas."
    assert hook("Sem vírgula nenhuma.") == ""
    msgs = [{"role": r} for r in ("user", "assistant", "user", "assistant", "tool", "assistant", "user", "assistant")]
    assert trim(msgs, 2) == msgs[:6] and trim(msgs, 3) == msgs


def test_ungrounded_amounts_flags_prices_no_tool_returned():
    row = {
        "messages": [
            {"role": "user", "content": "tem toalha até R$ 50?"},
            {"role": "tool", "content": '{"items":[{"price":"R$ 34,90"}]}'},
            {"role": "assistant", "content": "Tenho por R$ 34,90, e outra por R$ 29,90."},
        ]
    }
    assert ungrounded_amounts(row) == [(2, 2990)]


# --- the stage ----------------------------------------------------------------------------------
def test_same_seed_same_bytes_other_seed_differs(inputs, tmp_path):
    a, _ = run(inputs, "det_a", n=60)
    b, _ = run(inputs, "det_b", n=60)
    assert a.read_bytes() == b.read_bytes()
    other = tmp_path / "params.yaml"
    other.write_text("synthesize:\n  n_conversations: 5\n  english_share: 0.25\n  seed: 4\n")
    c, _ = run(inputs, "det_c", n=60, params=other)
    assert c.read_bytes() != a.read_bytes()


def test_records_validate_and_cover_scenarios_languages_labels(generated):
    rows, metrics = generated
    assert len(rows) == N == metrics["conversations"]
    for row in rows:
        Conversation.model_validate(row)
        for m in row["messages"]:
            if m["role"] == "user":
                assert m["intent"] in INTENTS
            if m["role"] == "assistant":
                assert m["technique"] in TECHNIQUES
        assert 1 <= sum(m["role"] == "user" for m in row["messages"]) <= 5  # one reply per user message, ≤ 5
    assert set(metrics["scenario"]) == set(SCENARIOS) == set(DEFAULT_WEIGHTS)
    assert 0.15 < metrics["language"]["en"] / N < 0.35
    assert {
        "greeting",
        "search_product",
        "add_to_cart",
        "remove_from_cart",
        "checkout",
        "objection_price",
        "complaint",
        "human_request",
        "off_topic",
        "lgpd",
        "order_status",
        "decline",
    } <= set(metrics["intent"])
    assert metrics["mean_assistant_replies"] <= 5 and metrics["max_assistant_replies"] <= 5
    recurring = [r for r in rows if r["scenario"] == "recurring" and r["context"]]
    assert recurring and all(r["context"]["recurring"] and r["context"]["last_order"] for r in recurring)
    # real complaint texts from the support examples are used (the 'satisfied' one never is)
    texts = {m["content"] for r in rows for m in r["messages"] if m.get("intent") == "complaint"}
    assert "ainda não recebi o produto e o prazo já passou" in texts
    assert "produto chegou antes do prazo, adorei" not in texts


def test_tool_calls_and_prices_are_grounded_in_the_catalogue(generated, catalogue):
    rows, _ = generated
    for row in rows:
        assert ungrounded_amounts(row) == [], row["id"]
        for m in row["messages"]:
            for call in m.get("tool_calls") or []:
                args = json.loads(call["function"]["arguments"])
                if "product_id" in args:
                    assert catalogue.get(args["product_id"]) is not None, (row["id"], args)
            if m["role"] == "tool":
                result = json.loads(m["content"])
                if m["name"] not in ("search_products", "recommend", "get_product"):
                    continue
                for item in result.get("items", []) + result.get("again", []) + ([result] if "price" in result else []):
                    assert item["price"] == format_brl(catalogue.get(item["id"]).price_cents)  # the catalogue price


def test_ethics_scarcity_social_proof_no_push_after_no(generated):
    rows, _ = generated
    seen = set()
    for row in rows:
        msgs = row["messages"]
        for i, m in enumerate(msgs):
            earlier_tools = [json.loads(x["content"]) for x in msgs[:i] if x["role"] == "tool"]
            if m.get("technique") == "cialdini:escassez":
                seen.add("escassez")
                assert '"low_stock": true' in json.dumps(earlier_tools[-1])  # the product, or one listed, is low
            if m.get("technique") == "cialdini:prova_social" and m.get("content"):
                seen.add("prova_social")
                assert any("score" in json.dumps(t) for t in earlier_tools)
            if m.get("intent") == "decline":
                rest = msgs[i + 1 :]
                assert [x["role"] for x in rest] == ["assistant"] and rest[0]["technique"] == "nenhuma"
                assert not rest[0].get("tool_calls")
    assert seen == {"escassez", "prova_social"}


def test_template_renders_hermes_tool_calls_that_parse(generated, smollm2_tokenizer):
    rows, _ = generated
    sample = rows[:: max(len(rows) // 40, 1)]
    lengths = []
    for row in sample:
        msgs = chat_messages(row)
        text = render_chat(msgs).split("<|im_end|>", 1)[1]  # after the system block (it shows the format)
        calls = [json.loads(block) for block in HERMES.findall(text)]
        expected = [
            (c["function"]["name"], json.loads(c["function"]["arguments"]))
            for m in row["messages"]
            for c in m.get("tool_calls") or []
        ]
        assert [(c["name"], c["arguments"]) for c in calls] == expected
        ids = smollm2_tokenizer.apply_chat_template(
            msgs, tools=TOOLS, chat_template=chat_template(), tokenize=True, return_dict=True
        )["input_ids"]
        lengths.append(len(ids))
    assert max(lengths) < 2600  # short conversations: ~700 prompt tokens + ~650 of dialogue on average


def test_bad_inputs_fail_with_file_and_column(inputs, tmp_path):
    root, _, params = inputs
    bad_cat = write_catalogue(tmp_path / "cat", drop="stock")
    with pytest.raises(CatalogueError, match=r"products\.parquet: missing column\(s\) stock"):
        main(
            [
                "--catalogue",
                str(bad_cat),
                "--out",
                str(tmp_path / "o.jsonl"),
                "--metrics",
                str(tmp_path / "m.json"),
                "--params",
                str(params),
            ]
        )
    good_cat = write_catalogue(tmp_path / "cat2")
    (tmp_path / "sup").mkdir()
    pd.DataFrame({"texto": ["x"], "intent": ["y"], "language": ["pt"]}).to_parquet(
        tmp_path / "sup" / "examples.parquet"
    )
    with pytest.raises(ValueError, match=r"examples\.parquet: missing column\(s\) text"):
        main(
            [
                "--catalogue",
                str(good_cat),
                "--support",
                str(tmp_path / "sup"),
                "--out",
                str(tmp_path / "o.jsonl"),
                "--metrics",
                str(tmp_path / "m.json"),
                "--params",
                str(params),
            ]
        )
    with pytest.raises(FileNotFoundError, match="run the support stage"):
        main(
            [
                "--catalogue",
                str(good_cat),
                "--support",
                str(tmp_path / "nowhere"),
                "--out",
                str(tmp_path / "o.jsonl"),
                "--metrics",
                str(tmp_path / "m.json"),
                "--params",
                str(params),
            ]
        )
