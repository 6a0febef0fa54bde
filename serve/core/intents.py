"""The intent classifier the nlu stage trains (pipelines/nlu.py), as training and serving load it.

classifier = load_intent_classifier("models/nlu")
classifier.predict_with_confidence(["quero ver relógios"])   # [("search", 0.93)]
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
from sklearn.pipeline import Pipeline

MODEL_FILE, LABELS_FILE = "model.joblib", "labels.json"


class IntentClassifier:
    """The trained pipeline plus its labels; what the bot holds in memory."""

    def __init__(self, model: Pipeline, labels: list[str]):
        self.model, self.labels = model, labels

    def predict(self, texts: list[str]) -> list[str]:
        return [str(p) for p in self.model.predict(list(texts))]

    def predict_with_confidence(self, texts: list[str]) -> list[tuple[str, float]]:
        """(intent, probability) per text; probability is 1.0 for a classifier without probabilities."""
        if not hasattr(self.model, "predict_proba"):
            return [(p, 1.0) for p in self.predict(texts)]
        proba = self.model.predict_proba(list(texts))
        classes = self.model.classes_
        return [(str(classes[row.argmax()]), float(row.max())) for row in proba]


def load_intent_classifier(path: str | Path) -> IntentClassifier:
    path = Path(path)
    if not (path / MODEL_FILE).is_file():
        raise FileNotFoundError(f"nlu: no {MODEL_FILE} in {path} (run the nlu stage first)")
    labels = json.loads((path / LABELS_FILE).read_text(encoding="utf-8"))["labels"]
    return IntentClassifier(joblib.load(path / MODEL_FILE), labels)
