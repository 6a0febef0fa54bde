"""nlu: labelled-turn extraction, training + held-out metrics, the bot's loader, clear errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pipelines import nlu
from serve.core.intents import load_intent_classifier

# Phrasings per intent: train and test use different ones, so the test measures generalisation.
PHRASES = {
    "greeting": [
        "oi",
        "olá, tudo bem?",
        "bom dia!",
        "oii boa tarde",
        "e aí, td bem?",
        "oi boa noite",
        "hello there",
        "hi!",
    ],
    "search_product": [
        "tem toalha de banho?",
        "procuro um fone bluetooth",
        "vcs tem panela de pressão?",
        "queria ver tapete pra sala",
        "tem lençol casal?",
        "to procurando uma luminária",
        "do you have bath towels?",
        "looking for a phone case",
    ],
    "add_to_cart": [
        "quero esse",
        "pode colocar 2 no carrinho",
        "adiciona o primeiro",
        "vou levar esse ai",
        "coloca 1 no carrinho pfv",
        "quero levar 3 desse",
        "add it to my cart",
        "i'll take two",
    ],
    "checkout": [
        "quero fechar o pedido",
        "pode finalizar no pix",
        "vamos fechar, pago no cartão",
        "finaliza pra mim no boleto",
        "bora fechar a compra",
        "fecha o pedido por favor",
        "let's check out",
        "i want to pay now",
    ],
    "order_status": [
        "cadê meu pedido?",
        "meu pedido já saiu?",
        "quando chega minha encomenda?",
        "qual o status do pedido",
        "o pedido ainda não chegou",
        "rastreio do meu pedido",
        "where is my order?",
        "has my order shipped?",
    ],
    "thanks_goodbye": [
        "obrigado!",
        "valeu, tchau",
        "brigadão 👋",
        "muito obrigada, até mais",
        "vlw falou",
        "obg, até logo",
        "thanks, bye",
        "thank you so much",
    ],
    "decline": [
        "não, obrigado",
        "agora não",
        "não quero",
        "deixa pra próxima",
        "nao precisa",
        "vou pensar, agora não",
        "no thanks",
        "not now",
    ],
}
PARAMS = {
    "seed": 17,
    "max_features": 5000,
    "classifier": "logreg",
    "C": 10.0,
    "label_field": "intent",
    "use_support": True,
    "support_languages": ["pt"],
}


def records(split: str) -> list[dict]:
    """One conversation per phrasing; train gets phrasings 0-4 (+ English 6), test 5 and 7."""
    picks = [0, 1, 2, 3, 4, 6] if split == "train" else [5, 7]
    rows = []
    for intent, phrases in PHRASES.items():
        for i in picks:
            lang = "en" if i >= 6 else "pt"
            rows.append(
                {
                    "id": f"{split}-{intent}-{i}",
                    "scenario": "exploration",
                    "language": lang,
                    "context": None,
                    "messages": [
                        {"role": "user", "content": phrases[i], "intent": intent},
                        {"role": "assistant", "content": "ok"},
                    ],
                }
            )
    return rows


def write_datasets(root: Path, splits=("train", "validation", "test")) -> Path:
    datasets = root / "datasets"
    (datasets / "records").mkdir(parents=True)
    for split in splits:
        rows = records("test" if split == "validation" else split)
        (datasets / "records" / f"{split}.jsonl").write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        )
    return datasets


def write_support(root: Path, columns=("text", "intent", "language", "source", "response")) -> Path:
    df = pd.DataFrame(
        {
            "text": ["quero falar com um humano", "oi gente", "meu pedido veio quebrado", "hi, good morning"],
            "intent": ["human_request", "greeting", "complaint", "greeting"],
            "language": ["pt", "pt", "pt", "en"],
            "source": ["olist_complaints"] * 3 + ["bitext"],
            "response": [""] * 4,
        }
    )
    support = root / "support"
    support.mkdir()
    df[list(columns)].to_parquet(support / "examples.parquet")
    return support


def run(tmp_path: Path, datasets: Path, support: Path | None, params: dict | None = None) -> dict:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"nlu": params or PARAMS}))
    argv = [
        "--datasets",
        str(datasets),
        "--out",
        str(tmp_path / "model"),
        "--metrics",
        str(tmp_path / "nlu.json"),
        "--params",
        str(tmp_path / "params.yaml"),
    ]
    return nlu.main(argv + (["--support", str(support)] if support else []))


def test_labelled_turns_reads_only_labelled_user_messages():
    rec = {
        "id": "c1",
        "language": "pt",
        "messages": [
            {"role": "user", "content": "oi", "intent": "greeting"},
            {"role": "assistant", "content": "olá!"},
            {"role": "user", "content": "hmm"},
            {"role": "user", "content": "tchau", "intent": "thanks_goodbye"},
        ],
    }
    df = nlu.labelled_turns([rec])
    assert df[["text", "intent"]].values.tolist() == [["oi", "greeting"], ["tchau", "thanks_goodbye"]]
    assert set(df["language"]) == {"pt"} and set(df["conversation"]) == {"c1"}


def test_trains_evaluates_saves_and_predicts(tmp_path):
    datasets, support = write_datasets(tmp_path), write_support(tmp_path)
    metrics = run(tmp_path, datasets, support)
    assert metrics == json.loads((tmp_path / "nlu.json").read_text())
    assert metrics["n_train"] == 42 and metrics["n_test"] == 14
    # support: only pt rows whose intent is a dialogue label ("greeting"); complaint/human_request unseen in train
    assert metrics["n_support"] == 1
    assert set(metrics["f1"]) == set(PHRASES)
    assert metrics["accuracy"] >= 0.6 and metrics["macro_f1"] >= 0.5  # chance is 1/7
    assert {"accuracy_pt", "accuracy_en"} <= set(metrics)
    clf = load_intent_classifier(tmp_path / "model")
    assert clf.labels == sorted(PHRASES)
    assert clf.predict(["oi, tudo bem?", "quero fechar o pedido no pix"]) == ["greeting", "checkout"]
    ((label, conf),) = clf.predict_with_confidence(["cadê o meu pedido?"])
    assert label == "order_status" and 0 < conf <= 1


def test_support_holdout_is_scored_and_kept_out_of_training(tmp_path):
    datasets, support = write_datasets(tmp_path), write_support(tmp_path)
    metrics = run(tmp_path, datasets, support, PARAMS | {"support_languages": ["pt", "en"], "support_eval_share": 0.5})
    # the two greetings (pt, en) qualify; one trains, one is held out
    assert metrics["n_support"] == 1 and metrics["support_holdout"]["n"] == 1
    assert set(metrics["support_holdout"]) >= {"accuracy", "macro_f1", "n"}


def test_split_support_is_stratified_and_seeded():
    df = pd.DataFrame(
        {
            "text": [f"t{i}" for i in range(40)],
            "intent": ["a", "b"] * 20,
            "language": "en",
            "source": ["bitext"] * 20 + ["olist_complaints"] * 20,
        }
    )
    fit, held = nlu.split_support(df, 0.5, seed=3)
    assert len(fit) == len(held) == 20 and not set(fit["text"]) & set(held["text"])
    assert held.groupby(["intent", "source"]).size().tolist() == [5, 5, 5, 5]
    assert nlu.split_support(df, 0.5, seed=3)[1].equals(held)
    assert nlu.split_support(df, 0.0, seed=3)[1].empty


def test_linear_svc_option(tmp_path):
    metrics = run(tmp_path, write_datasets(tmp_path), None, PARAMS | {"classifier": "linear_svc", "C": 1.0})
    assert metrics["n_support"] == 0 and metrics["accuracy"] >= 0.6
    assert load_intent_classifier(tmp_path / "model").predict_with_confidence(["oi"])[0][1] == 1.0


def test_missing_split_file_is_a_clear_error(tmp_path):
    datasets = write_datasets(tmp_path, splits=("train",))
    with pytest.raises(FileNotFoundError, match=r"records/test\.jsonl not found \(run the build_datasets stage"):
        run(tmp_path, datasets, None)


def test_unknown_label_field_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"records/train\.jsonl: no user turn carries the label field 'label'"):
        run(tmp_path, write_datasets(tmp_path), None, PARAMS | {"label_field": "label"})


def test_support_without_intent_column_is_a_clear_error(tmp_path):
    support = write_support(tmp_path, columns=("text", "language", "source"))
    with pytest.raises(ValueError, match=r"examples\.parquet: missing column\(s\) intent"):
        run(tmp_path, write_datasets(tmp_path), support)


def test_loader_without_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model.joblib"):
        load_intent_classifier(tmp_path)
