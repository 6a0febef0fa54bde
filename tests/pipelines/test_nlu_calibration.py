"""nlu confidence temperature: fitted on held-out real-style text, applied by the bot's loader."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from pipelines import nlu
from pipelines.nlu_calibration import confidence_report, fit_temperature, load_handwritten
from serve.core.intents import IntentClassifier, load_intent_classifier
from tests.pipelines.test_nlu import PARAMS, run, write_datasets, write_support

WORDS = {"a": ["oi", "ola", "bom"], "b": ["pedido", "entrega", "rastreio"]}


def overconfident() -> IntentClassifier:
    """Sure of itself (C large, separable words); then shown texts whose words point both ways."""
    texts = [w for words in WORDS.values() for w in words] * 5
    labels = [label for label, words in WORDS.items() for _ in words] * 5
    model = Pipeline([("v", CountVectorizer()), ("clf", LogisticRegression(C=1000.0, max_iter=1000))])
    return IntentClassifier(model.fit(texts, labels), sorted(WORDS))


def noisy(n: int, seed: int) -> pd.DataFrame:
    """Texts of one intent's words, labelled with the other intent one time in three (as real text
    can be): the classifier is sure of all of them and right on about two in three."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        said = str(rng.choice(sorted(WORDS)))
        label = said if rng.random() < 2 / 3 else ({"a": "b", "b": "a"}[said])
        rows.append({"text": " ".join(rng.choice(WORDS[said], size=2)), "intent": label})
    return pd.DataFrame(rows)


def test_an_overconfident_classifier_gets_a_temperature_above_one_and_a_lower_calibration_error():
    clf, fit, check = overconfident(), noisy(200, 1), noisy(200, 2)
    temperature = fit_temperature(clf, fit)
    before, after = confidence_report(clf, check, 0.8), confidence_report(clf.with_temperature(temperature), check, 0.8)
    assert temperature > 1
    assert after["ece"] < before["ece"] and after["mean_confidence"] < before["mean_confidence"]
    assert after["accuracy"] == before["accuracy"]  # the argmax never moves
    assert after["routed_share"] <= before["routed_share"]


def test_temperature_one_is_the_models_own_probabilities_and_a_bad_temperature_is_refused():
    clf = overconfident()
    proba = clf.model.predict_proba(["oi pedido", "entrega"]).max(axis=1)
    assert [p for _, p in clf.predict_with_confidence(["oi pedido", "entrega"])] == pytest.approx(proba)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        IntentClassifier(clf.model, clf.labels, 0.0)


def test_the_stage_fits_a_temperature_saves_it_and_the_loader_applies_it(tmp_path):
    hand = {
        "pt": {"greeting": ["boa tardee", "eae blz", "oi oi"], "order_status": ["cade minha encomenda", "ja saiu?"]}
    }
    (tmp_path / "hand.yaml").write_text(yaml.safe_dump(hand, allow_unicode=True))
    params = PARAMS | {"support_languages": ["pt", "en"], "support_eval_share": 0.5, "calibration_folds": 2}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"nlu": params}))
    datasets, support = write_datasets(tmp_path), write_support(tmp_path)
    argv = ["--datasets", str(datasets), "--support", str(support), "--out", str(tmp_path / "model")]
    argv += ["--metrics", str(tmp_path / "nlu.json"), "--params", str(tmp_path / "params.yaml")]
    metrics = nlu.main(argv + ["--calibration", str(tmp_path / "hand.yaml")])
    report = metrics["calibration"]
    saved = json.loads((tmp_path / "model" / "labels.json").read_text())["temperature"]
    assert report["temperature"] == saved and saved > 0
    assert report["n_fit"] == 5 and set(report["before"]) == set(report["after"])
    assert report["after"]["handwritten_pt_out_of_fold"]["n"] == 5  # each text scored by a fold it did not fit
    assert report["after"]["test"]["n"] == metrics["n_test"] and report["after"]["support_holdout"]["n"] == 1
    assert load_intent_classifier(tmp_path / "model").temperature == saved


def test_without_a_calibration_set_the_temperature_is_one(tmp_path):
    metrics = run(tmp_path, write_datasets(tmp_path), write_support(tmp_path))
    assert "calibration" not in metrics
    assert load_intent_classifier(tmp_path / "model").temperature == 1.0


def test_a_calibration_file_without_texts_is_a_clear_error(tmp_path):
    (tmp_path / "empty.yaml").write_text("pt: {}\n")
    with pytest.raises(ValueError, match="holds no texts"):
        load_handwritten(tmp_path / "empty.yaml")
    with pytest.raises(FileNotFoundError, match="calibration set .* not found"):
        load_handwritten(tmp_path / "missing.yaml")
