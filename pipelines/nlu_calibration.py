"""Honest confidence for the intent classifier: temperature scaling fitted on real-style text.

    temperature = fit_temperature(classifier, calibration_split)       # one scalar, > 1 softens
    confidence_report(classifier.with_temperature(temperature), check_split, threshold=0.8)
    calibrate(classifier, handwritten, {"support_holdout": ..., "test": ...}, params["nlu"])  # the stage's use

The bot answers a text itself when the classifier's probability reaches its threshold
(serve/settings.py NLU_MIN_CONFIDENCE). A classifier trained on synthetic turns is sure of itself on
the synthesizer's phrasing and just as sure on phrasing it never saw, where it is wrong more often.
One temperature, fitted on hand-written customer messages (configs/intent_calibration.yaml: WhatsApp
register, pt and en, never used for training or evaluation), rescales the logits so that "0.8"
means about 80% right on such text; the argmax, and so accuracy, do not change. Its figures on that
set are out of fold; the support texts held out of training are a second check. (The support texts
do not fit it: most are Bitext's English support requests, a register the classifier is sure of
and right on, which pulls the temperature the other way from customers' chat.)

scikit-learn's CalibratedClassifierCV(FrozenEstimator(model), method="temperature") does the same
fit, but fails (IndexError in cross_val_predict) when the calibration texts cover only some of the
labels, as the support data does; so the scalar is fitted here with scipy, and serving applies it
(serve/core/intents.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.model_selection import StratifiedKFold, train_test_split

from serve.core.intents import IntentClassifier

ECE_BINS = 10
LOG_T_BOUNDS = (-3.0, 3.0)  # temperatures from 0.05 to 20


def fit_temperature(classifier: IntentClassifier, calibration: pd.DataFrame) -> float:
    """The temperature minimising the negative log-likelihood of `calibration`'s intents."""
    logits = classifier.logits(calibration["text"].tolist())
    index = {label: i for i, label in enumerate(classifier.classes)}
    known = calibration["intent"].isin(index).to_numpy()
    if not known.any():
        raise ValueError("nlu: no calibration text carries an intent the classifier knows")
    logits, target = logits[known], np.array([index[i] for i in calibration["intent"][known]])

    def nll(log_t: float) -> float:
        return float(-log_softmax(logits / np.exp(log_t), axis=1)[np.arange(len(target)), target].mean())

    return round(float(np.exp(minimize_scalar(nll, bounds=LOG_T_BOUNDS, method="bounded").x)), 4)


def confidence_report(classifier: IntentClassifier, rows: pd.DataFrame, threshold: float) -> dict:
    """Expected calibration error (top-label, equal-width bins), mean confidence vs accuracy, and the
    share of texts at or above `threshold` with the accuracy on them (what the bot would route)."""
    return _report(*_scored(classifier, rows), threshold)


def _scored(classifier: IntentClassifier, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, right) per row."""
    predicted = classifier.predict_with_confidence(rows["text"].tolist())
    confidence = np.array([p for _, p in predicted])
    right = np.array([label == want for (label, _), want in zip(predicted, rows["intent"], strict=True)], float)
    return confidence, right


def _report(confidence: np.ndarray, right: np.ndarray, threshold: float) -> dict:
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    ece = sum(
        abs(right[bins == b].mean() - confidence[bins == b].mean()) * (bins == b).mean()
        for b in range(ECE_BINS)
        if (bins == b).any()
    )
    routed = confidence >= threshold
    return {
        "ece": round(float(ece), 4),
        "mean_confidence": round(float(confidence.mean()), 4),
        "accuracy": round(float(right.mean()), 4),
        "routed_share": round(float(routed.mean()), 4),
        "routed_accuracy": round(float(right[routed].mean()), 4) if routed.any() else None,
        "n": len(confidence),
    }


def load_handwritten(path: str | Path) -> pd.DataFrame:
    """configs/intent_calibration.yaml: {language: {intent: [texts]}} as rows (text, intent, language)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"nlu: calibration set {path} not found")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    rows = [
        {"text": text, "intent": intent, "language": lang}
        for lang, by_intent in data.items()
        for intent, texts in (by_intent or {}).items()
        for text in texts or []
    ]
    if not rows:
        raise ValueError(f"nlu: calibration set {path} holds no texts (expected language → intent → texts)")
    return pd.DataFrame(rows, columns=["text", "intent", "language"])


def calibrate(
    classifier: IntentClassifier, handwritten: pd.DataFrame, checks: dict[str, pd.DataFrame], params: dict
) -> tuple[float, dict]:
    """The temperature fitted on the whole `handwritten` set, and the report: on that set out of
    fold (each of `calibration_folds` stratified folds scored with a temperature fitted on the
    others, pooled, per language), and on each of the other `checks` with the final temperature."""
    seed, threshold = int(params["seed"]), float(params.get("report_threshold", 0.8))
    rows = handwritten.reset_index(drop=True)
    n_folds = min(int(params.get("calibration_folds", 5)), int(rows["intent"].value_counts().min()))
    splits = (
        StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(rows, rows["intent"]) if n_folds > 1 else []
    )
    scored = {"before": [], "after": []}
    for fit, held in splits:  # (fewer texts of an intent than folds: fewer folds; one text: no out-of-fold figure)
        tempered = classifier.with_temperature(fit_temperature(classifier, rows.iloc[fit]))
        scored["before"].append((held, *_scored(classifier, rows.iloc[held])))
        scored["after"].append((held, *_scored(tempered, rows.iloc[held])))
    temperature = fit_temperature(classifier, rows)
    report = {"method": "temperature", "temperature": temperature, "threshold": threshold, "n_fit": len(rows)}
    for when, parts in scored.items():
        report[when] = {}
        if not parts:
            continue
        index = np.concatenate([p[0] for p in parts])
        confidence, right = np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])
        language = rows["language"].to_numpy()[index]
        report[when] = {
            f"handwritten_{lang}_out_of_fold": _report(confidence[language == lang], right[language == lang], threshold)
            for lang in sorted(set(language))
        }
    final = classifier.with_temperature(temperature)
    for name, check in checks.items():
        if len(check):
            report["before"][name] = confidence_report(classifier, check, threshold)
            report["after"][name] = confidence_report(final, check, threshold)
    return temperature, report


def split_stratified(rows: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rest, part): a seeded `share` of the rows, stratified by intent and source (else language)
    where every stratum has 2+ rows."""
    if len(rows) < 2 or not share:
        return rows, rows.iloc[:0]
    strata = rows["intent"] + "/" + (rows["source"] if "source" in rows else rows["language"])
    stratify = strata if strata.value_counts().min() >= 2 else None
    rest, part = train_test_split(rows, test_size=share, random_state=seed, stratify=stratify)
    return rest.reset_index(drop=True), part.reset_index(drop=True)
