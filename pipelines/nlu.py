"""Stage nlu: intent classifier for customer turns (TF-IDF char + word n-grams → logistic regression).

    python -m pipelines.nlu --datasets data/processed/datasets --support data/processed/support \
        --out models/nlu --metrics metrics/nlu.json

Trains on the `intent`-labelled user turns of records/train.jsonl (plus, optionally, support
examples whose intent is one of those labels, in the configured languages) and reports accuracy,
macro-F1 and per-intent F1 on records/test.jsonl. Character n-grams (within word boundaries) carry
WhatsApp-style typos, slang and missing accents; word n-grams carry short phrases ("quero esse").
A few thousand short texts train in seconds on one CPU core.

The dialogue test split comes from the same synthesizer phrase banks as the training split, so it
mostly measures how well the synthesizer's phrasing is learnt. A seeded, stratified share of the
support examples (Bitext customers, Olist review texts: phrasing the synthesizer never wrote) is
held out as a second, harder check (`support_holdout` in the metrics).

The bot loads the result with `serve.core.intents.load_intent_classifier(models/nlu)`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import joblib
import pandas as pd
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report, f1_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from pipelines.nlu_calibration import calibrate, load_handwritten, split_stratified
from serve.core.intents import LABELS_FILE, MODEL_FILE, IntentClassifier

SUPPORT_COLUMNS = ("text", "intent", "language")


def labelled_turns(records: list[dict], label_field: str = "intent") -> pd.DataFrame:
    """One row (text, intent, language, conversation) per user turn that carries a label."""
    rows = [
        {"text": m["content"], "intent": m[label_field], "language": r["language"], "conversation": r["id"]}
        for r in records
        for m in r["messages"]
        if m["role"] == "user" and m.get(label_field)
    ]
    return pd.DataFrame(rows, columns=["text", "intent", "language", "conversation"])


def load_split(datasets: str | Path, split: str, label_field: str = "intent") -> pd.DataFrame:
    """Labelled user turns of datasets/records/<split>.jsonl; clear errors when missing or unlabelled."""
    path = Path(datasets) / "records" / f"{split}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"nlu: {path} not found (run the build_datasets stage first)")
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    df = labelled_turns(records, label_field)
    if df.empty:
        raise ValueError(f"nlu: {path}: no user turn carries the label field {label_field!r} ({len(records)} records)")
    return df


def load_support(path: str | Path, labels: set[str], languages: list[str]) -> pd.DataFrame:
    """Support examples (examples.parquet) whose intent is a dialogue label, in the given languages."""
    path = Path(path)
    if path.is_dir():
        path = path / "examples.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"nlu: {path} not found (run the support stage first, or set nlu.use_support: false)")
    df = pd.read_parquet(path)
    missing = [c for c in SUPPORT_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"nlu: {path}: missing column(s) {', '.join(missing)} (have: {', '.join(df.columns)})")
    keep = df["intent"].isin(labels) & df["language"].isin(languages) & df["text"].str.strip().astype(bool)
    columns = list(SUPPORT_COLUMNS) + (["source"] if "source" in df else [])
    return df.loc[keep, columns].reset_index(drop=True)


def split_support(support: pd.DataFrame, eval_share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, holdout): seeded, stratified by (intent, source) where every stratum has 2+ rows."""
    return split_stratified(support, eval_share, seed)


def build_model(params: dict) -> Pipeline:
    """TF-IDF (char_wb 2-5 + word 1-2, accents stripped) → linear classifier."""
    max_features = int(params.get("max_features", 20000))
    features = FeatureUnion(
        [
            (
                "char",
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    strip_accents="unicode",
                    sublinear_tf=True,
                    max_features=max_features,
                ),
            ),
            (
                "word",
                TfidfVectorizer(
                    analyzer="word",
                    ngram_range=(1, 2),
                    strip_accents="unicode",
                    token_pattern=r"(?u)\b\w+\b",
                    sublinear_tf=True,
                    max_features=max_features,
                ),
            ),
        ]
    )
    kind = params.get("classifier", "logreg")
    if kind == "logreg":  # probabilities: the bot can fall back when confidence is low
        clf = LogisticRegression(C=float(params.get("C", 10.0)), max_iter=2000, class_weight="balanced")
    elif kind == "linear_svc":
        clf = LinearSVC(C=float(params.get("C", 1.0)), class_weight="balanced", random_state=params.get("seed"))
    else:
        raise ValueError(f"nlu: params nlu.classifier must be 'logreg' or 'linear_svc', got {kind!r}")
    return Pipeline([("features", features), ("clf", clf)])


def evaluate(model: Pipeline, test: pd.DataFrame, labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-intent F1 (labels absent from test are left out) and per-language accuracy."""
    pred = model.predict(test["text"].tolist())
    present = [label for label in labels if label in set(test["intent"])]
    report = classification_report(test["intent"], pred, labels=present, output_dict=True, zero_division=0)
    by_lang = {
        f"accuracy_{lang}": round(float(accuracy_score(g["intent"], pred[g.index])), 4)
        for lang, g in test.reset_index(drop=True).groupby("language")
    }
    return {
        "accuracy": round(float(accuracy_score(test["intent"], pred)), 4),
        "macro_f1": round(float(f1_score(test["intent"], pred, labels=present, average="macro", zero_division=0)), 4),
        **by_lang,
        "f1": {label: round(report[label]["f1-score"], 4) for label in present},
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", required=True, help="build_datasets output directory (records/ inside)")
    ap.add_argument("--support", help="support stage output directory or examples.parquet")
    ap.add_argument("--out", required=True, help="model directory to write")
    ap.add_argument("--metrics", required=True, help="DVC metrics JSON to write")
    ap.add_argument("--calibration", help="hand-written real-style texts (YAML) for the confidence temperature")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    params = yaml.safe_load(Path(args.params).read_text(encoding="utf-8"))["nlu"]
    label_field = params.get("label_field", "intent")

    train, test = load_split(args.datasets, "train", label_field), load_split(args.datasets, "test", label_field)
    labels = sorted(train["intent"].unique())
    unseen = sorted(set(test["intent"]) - set(labels))
    if unseen:
        print(f"nlu: warning: test intents never seen in train: {unseen}")
    support = holdout = pd.DataFrame(columns=list(SUPPORT_COLUMNS))
    if params.get("use_support") and args.support:
        support = load_support(args.support, set(labels), params.get("support_languages", ["pt"]))
        support, holdout = split_support(support, float(params.get("support_eval_share", 0.0)), int(params["seed"]))
    fit = pd.concat([train[list(SUPPORT_COLUMNS)], support[list(SUPPORT_COLUMNS)]], ignore_index=True)
    print(f"nlu: training on {len(train)} dialogue turns + {len(support)} support examples, {len(labels)} intents")

    model = build_model(params)
    t0 = time.perf_counter()
    model.fit(fit["text"].tolist(), fit["intent"].tolist())
    train_s = time.perf_counter() - t0
    metrics = {
        **evaluate(model, test, labels),
        "n_train": len(train),
        "n_support": len(support),
        "n_test": len(test),
        "n_labels": len(labels),
        "train_seconds": round(train_s, 2),
    }
    temperature = 1.0
    if args.calibration:  # the confidence temperature, from hand-written customer messages
        checks = {"support_holdout": holdout, "test": test}
        temperature, metrics["calibration"] = calibrate(
            IntentClassifier(model, labels), load_handwritten(args.calibration), checks, params
        )
    if len(holdout):
        held = evaluate(model, holdout, labels)
        metrics["support_holdout"] = {k: v for k, v in held.items() if k != "f1"} | {"n": len(holdout)}

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, out / MODEL_FILE)
    (out / LABELS_FILE).write_text(
        json.dumps(
            {
                "labels": labels,
                "label_field": label_field,
                "classifier": params.get("classifier", "logreg"),
                "temperature": temperature,
            },
            indent=2,
        )
    )
    Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
    Path(args.metrics).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in metrics.items() if k != "f1"}, ensure_ascii=False))
    return metrics


if __name__ == "__main__":
    main()
