"""support stage: intent mapping on literal rows, the full stage on a small Bitext sample plus the
fixture's classified complaints, the cap, and bad inputs naming the file and the column."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from pipelines.olist_fixture import ensure_fixture
from pipelines.olist_schema import SchemaError
from pipelines.support import bitext_example, cap, complaint_example, main
from serve.contract.records import INTENTS

FIXTURE = ensure_fixture()  # the made-up Olist release (pipelines/olist_fixture.py), written once
COMPLAINTS = FIXTURE / "olist_classified_public_dataset.csv"
BITEXT_ROWS = [  # (instruction, intent, category): written for the test, in Bitext's style
    ("where is my order 123456?", "track_order", "ORDER"),
    ("I need to track the package I bought", "track_order", "ORDER"),
    ("help me cancel purchase 987", "cancel_order", "ORDER"),
    ("I want to speak to a real person", "contact_human_agent", "CONTACT"),
    ("what payment methods do you accept?", "check_payment_methods", "PAYMENT"),
    ("how long does shipping take to Recife?", "delivery_period", "DELIVERY"),
    ("please erase my account and data", "delete_account", "ACCOUNT"),
    ("I'd like to file a complaint, call me at +1 (555) 123-4567", "complaint", "FEEDBACK"),
    ("how do I create an account?", "create_account", "ACCOUNT"),
    ("sign me up for the newsletter", "newsletter_subscription", "NEWSLETTER"),
]


def write_bitext(path: Path, rows=BITEXT_ROWS, drop: str | None = None) -> Path:
    df = pd.DataFrame(
        [
            {
                "context": "customer support",
                "role": "virtual assistant",
                "instruction": i,
                "intent": t,
                "entity_type": "",
                "entity_value": "",
                "start_offset": "",
                "end_offset": "",
                "category": c,
                "tags": "BL",
                "response": f"I'm here to help with {t}.\r\nCall {{{{Customer Support Phone Number}}}}.",
            }
            for i, t, c in rows
        ]
    )
    if drop:
        df = df.drop(columns=[drop])
    df.to_csv(path, index=False)
    return path


def run(tmp_path: Path, bitext: Path, complaints: Path = COMPLAINTS, per_intent: int = 60) -> tuple[dict, Path]:
    (tmp_path / "params.yaml").write_text(f"support:\n  max_examples_per_intent: {per_intent}\n  seed: 17\n")
    out = tmp_path / "support"
    metrics = main(
        [
            "--bitext",
            str(bitext),
            "--complaints",
            str(complaints),
            "--out",
            str(out),
            "--metrics",
            str(tmp_path / "m.json"),
            "--params",
            str(tmp_path / "params.yaml"),
        ]
    )
    return metrics, out


def test_bitext_rows_map_onto_contract_intents():
    assert bitext_example("where is my order?", "track_order", "Sure")["intent"] == "order_status"
    assert bitext_example("cancel it", "cancel_order", None)["intent"] == "complaint"
    assert bitext_example("human please", "contact_human_agent", "")["intent"] == "human_request"
    row = bitext_example("call me at +1 (555) 123-4567", "complaint", "Sorry\r\nabout that")
    assert row == {
        "text": "call me at [telefone]",
        "intent": "complaint",
        "language": "en",
        "source": "bitext",
        "response": "Sorry\nabout that",
        "original_intent": "complaint",
    }
    assert bitext_example("create an account", "create_account", "ok") is None


def test_complaint_rows_map_classes_and_scrub_pii():
    row = complaint_example("ainda nao recebi meu email e ana@exemplo.com", "problemas_de_entrega", "atrasado")
    assert row == {
        "text": "ainda nao recebi meu email e [email]",
        "intent": "complaint",
        "language": "pt",
        "source": "olist_complaints",
        "response": "",
        "original_intent": "problemas_de_entrega/atrasado",
    }
    assert (
        complaint_example("chegou antes do prazo", "satisfeito_com_pedido", "antes_prazo")["intent"] == "thanks_goodbye"
    )
    assert complaint_example("sem classe", None, None) is None
    assert complaint_example(None, "problemas_de_entrega", "atrasado") is None


def test_cap_is_per_intent_and_source_and_seeded():
    df = pd.DataFrame(
        {
            "text": [f"t{i}" for i in range(30)],
            "intent": ["complaint"] * 20 + ["lgpd"] * 10,
            "source": ["bitext"] * 10 + ["olist_complaints"] * 10 + ["bitext"] * 10,
        }
    )
    a, b = cap(df, 4, seed=1), cap(df, 4, seed=1)
    assert a.equals(b) and a.groupby(["intent", "source"]).size().tolist() == [4, 4, 4]
    assert not a.equals(cap(df, 4, seed=2))


def test_stage_on_sample_and_fixture(tmp_path):
    metrics, out = run(tmp_path, write_bitext(tmp_path / "bitext.csv"))
    ex = pd.read_parquet(out / "examples.parquet")
    assert list(ex.columns) == ["text", "intent", "language", "source", "response", "original_intent"]
    assert set(ex["intent"]) <= set(INTENTS)
    assert set(ex["language"]) == {"en", "pt"} and set(ex["source"]) == {"bitext", "olist_complaints"}
    assert (ex.loc[ex["source"] == "bitext", "language"] == "en").all()
    assert not ex["text"].str.contains("555").any()
    labelled = pd.read_csv(COMPLAINTS)["most_voted_subclass"].notna().sum()
    assert metrics["by_source"] == {"bitext": 8, "olist_complaints": labelled}
    assert metrics["dropped_unmapped"]["create_account"] == 1
    intents = json.loads((out / "intents.json").read_text())
    assert {k: v["count"] for k, v in intents.items()} == metrics["by_intent"]
    assert all(set(v) >= {"description", "count", "category"} for v in intents.values())
    assert intents["complaint"]["sources"] == {
        "bitext": 2,
        "olist_complaints": int(ex.query("source == 'olist_complaints' and intent == 'complaint'").shape[0]),
    }


def test_cap_applies_in_the_stage(tmp_path):
    metrics, _ = run(tmp_path, write_bitext(tmp_path / "bitext.csv"), per_intent=1)
    assert max(metrics["by_intent_source"].values()) == 1


def test_missing_complaints_file_warns_and_keeps_english(tmp_path, caplog):
    metrics, out = run(tmp_path, write_bitext(tmp_path / "bitext.csv"), complaints=tmp_path / "absent.csv")
    assert metrics["by_source"] == {"bitext": 8} and "absent.csv" in caplog.text


def test_bad_bitext_names_file_and_column(tmp_path):
    bitext = write_bitext(tmp_path / "bitext_bad.csv", drop="intent")
    with pytest.raises(SchemaError, match=r"bitext_bad\.csv: missing column\(s\) 'intent'"):
        run(tmp_path, bitext)
    bitext = write_bitext(tmp_path / "bitext_empty.csv", rows=[("", "track_order", "ORDER")])
    with pytest.raises(SchemaError, match=r"bitext_empty\.csv: column 'instruction' is empty"):
        run(tmp_path, bitext)


def test_bad_complaint_score_names_file_and_column(tmp_path):
    df = pd.read_csv(COMPLAINTS, dtype=str, keep_default_na=False)
    df.loc[2, "review_score"] = "7"
    bad = tmp_path / "olist_classified_public_dataset.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(SchemaError) as err:
        run(tmp_path, write_bitext(tmp_path / "bitext.csv"), complaints=bad)
    assert "olist_classified_public_dataset.csv: column 'review_score' is out of range (allowed 1..5)" in str(err.value)
    assert "review_score='7'" in str(err.value)
