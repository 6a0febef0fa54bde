"""The agent with what it reads from disk: catalogue, Olist purchase history, intent classifier.

One builder for the app's lifespan and for `python -m serve.whatsapp.worker`, so both processes
run the same agent.
"""

from __future__ import annotations

import logging
from pathlib import Path

from serve.conversation.agent import Agent
from serve.core.catalog import Catalogue
from serve.core.history import OlistHistory
from serve.core.intents import IntentClassifier, load_intent_classifier
from serve.settings import Settings

log = logging.getLogger(__name__)


def load_intents(nlu_dir: str | Path | None) -> IntentClassifier | None:
    """The nlu stage's intent classifier, or None (then every free text goes to the model)."""
    if not nlu_dir:
        return None
    try:
        return load_intent_classifier(nlu_dir)
    except FileNotFoundError:
        log.warning("no intent classifier in %s (run `make run`); every text goes to the model", nlu_dir)
        return None


def build_agent(settings: Settings) -> Agent:
    return Agent(
        settings,
        Catalogue.load(settings.CATALOGUE_DIR),
        olist=OlistHistory.load(settings.CATALOGUE_DIR),
        intents=load_intents(settings.NLU_DIR),
    )
