"""The intent classifier the nlu stage trains (pipelines/nlu.py), as training and serving load it.

classifier = load_intent_classifier("models/nlu")
classifier.predict_with_confidence(["quero ver relógios"])   # [("search", 0.93)]

Confidence is the softmax of the linear model's logits divided by the temperature the nlu stage
fitted on held-out real-style text (labels.json "temperature"; 1.0 = the model's own probabilities,
pipelines/nlu_calibration.py says why).
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
from scipy.special import softmax
from sklearn.pipeline import Pipeline

MODEL_FILE, LABELS_FILE = "model.joblib", "labels.json"


class IntentClassifier:
    """The trained pipeline plus its labels and confidence temperature; what the bot holds in memory."""

    def __init__(self, model: Pipeline, labels: list[str], temperature: float = 1.0):
        if not temperature > 0:
            raise ValueError(f"nlu: the confidence temperature must be > 0, got {temperature!r}")
        self.model, self.labels, self.temperature = model, labels, float(temperature)

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.model.classes_]

    def with_temperature(self, temperature: float) -> IntentClassifier:
        return IntentClassifier(self.model, self.labels, temperature)

    def predict(self, texts: list[str]) -> list[str]:
        return [str(p) for p in self.model.predict(list(texts))]

    def logits(self, texts: list[str]) -> np.ndarray:
        """(n texts, n classes) decision scores, columns in `classes` order."""
        scores = np.asarray(self.model.decision_function(list(texts)), dtype=float)
        return (
            scores if scores.ndim == 2 else np.stack([np.zeros_like(scores), scores], axis=1)
        )  # two classes: one column

    def predict_with_confidence(self, texts: list[str]) -> list[tuple[str, float]]:
        """(intent, probability) per text; probability is 1.0 for a classifier without probabilities."""
        if not hasattr(self.model, "predict_proba"):
            return [(p, 1.0) for p in self.predict(texts)]
        proba = softmax(self.logits(texts) / self.temperature, axis=1)
        classes = self.classes
        return [(classes[row.argmax()], float(row.max())) for row in proba]


def load_intent_classifier(path: str | Path) -> IntentClassifier:
    path = Path(path)
    if not (path / MODEL_FILE).is_file():
        raise FileNotFoundError(f"nlu: no {MODEL_FILE} in {path} (run the nlu stage first)")
    meta = json.loads((path / LABELS_FILE).read_text(encoding="utf-8"))
    return IntentClassifier(joblib.load(path / MODEL_FILE), meta["labels"], meta.get("temperature", 1.0))
