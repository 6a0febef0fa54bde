"""The intent classifier the bot under test routes with, made the way the pipeline makes it.

The bot ships with the nlu stage's classifier (models/nlu), which a fresh clone does not have. The
tests therefore run the pipeline's own stages, in-process, on the fresh catalogue: synthesize (the
synthesizer's conversations about these products) → build_datasets → nlu. So the router is exactly
as good as what the pipeline teaches it, on phrasing that never saw the fresh conversations (the
stages read the catalogue only; tests/test_fresh_conversations.py checks that no customer line of
the fresh conversations is in the synthesizer's output). The support stage's texts (Bitext, Olist
reviews) are left out: they are not in a fresh clone either.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.serve.factories import REPO_ROOT

PARAMS = REPO_ROOT / "params.yaml"
CONVERSATIONS = 600  # every synthesizer flow many times over; the three stages take seconds


def train_intents(catalogue_dir: Path, work: Path, n: int = CONVERSATIONS) -> tuple[Path, list[str]]:
    """(the nlu model directory, every customer turn it was trained from)."""
    from pipelines import build_datasets, nlu, synthesize

    conversations = work / "conversations.jsonl"
    synthesize.main(
        ["--catalogue", str(catalogue_dir), "--out", str(conversations), "--metrics", str(work / "synthesize.json")]
        + ["--params", str(PARAMS), "--n", str(n)]
    )
    build_datasets.main(
        ["--conversations", str(conversations), "--out", str(work / "datasets")]
        + ["--metrics", str(work / "datasets.json"), "--params", str(PARAMS)]
    )
    nlu.main(
        ["--datasets", str(work / "datasets"), "--out", str(work / "nlu")]
        + ["--metrics", str(work / "nlu.json"), "--params", str(PARAMS)]
    )
    turns = [
        m["content"]
        for line in conversations.read_text(encoding="utf-8").splitlines()
        for m in json.loads(line)["messages"]
        if m["role"] == "user"
    ]
    return work / "nlu", turns
