"""Hand-written fresh conversations (issue 10's acceptance), replayed through the signed webhook.

tests/fixtures/fresh_conversations/*.yaml: WhatsApp-style customers (lowercase, no accents, slang,
emoji, bursts, English, audio, a location) written for these tests only, each with what must
follow: the database state (cart lines, orders with items, method and payment, handoff rows) and
what the customer saw (tests/fresh/checks.py). The harness is tests/fresh/replay.py; the products
are tests/assets/fresh_catalogue (73 products, with the look-alikes the issue's failures landed on).

Default run: the model is a local OpenAI-compatible server (tests/fakes/fake_llm.py) that never
says anything useful (empty text, chat-template debris, a broken tool call, word soup), so what
passes is the server's own understanding: router, intent classifier (trained by the pipeline's
own stages on the synthesizer's text, tests/fresh/intents.py), references to shown products,
search, store knowledge. `-m slow`: the same conversations with the trained model behind vLLM
(models/export, or ZAPVENDAS_MODEL_DIR), and its models/nlu when there is one.

These texts are evaluation data: they never feed training or the classifier (checked below).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path

import pytest

from serve.core.catalog import normalize
from serve.core.engine import free_port, start_vllm, stop, vllm_available, wait_http
from tests.fakes.fake_llm import FakeLLM
from tests.fresh.intents import train_intents
from tests.fresh.replay import Bot, replay
from tests.fresh.script import FIXTURES, load_conversations
from tests.serve.factories import FRESH_CATALOGUE_DIR, REPO_ROOT, write_catalogue_dir

CONVERSATIONS = load_conversations()
UNHELPFUL = (
    "",
    "<|im_end|>",
    '<tool_call>\n{"name": "search_products", "arguments": {"query": ',
    "zxq vbnm lkjh poiu trewq asdfg hjkl qwerty zzxx",
)


def unhelpful(request: dict) -> dict:
    """A model that understood nothing: one of UNHELPFUL, picked by the prompt (same prompt, same answer)."""
    digest = hashlib.sha256(json.dumps(request.get("messages"), sort_keys=True).encode()).digest()
    return FakeLLM.text(UNHELPFUL[digest[0] % len(UNHELPFUL)])


@pytest.fixture(scope="module")
def catalogue_dir(tmp_path_factory) -> Path:
    return write_catalogue_dir(tmp_path_factory.mktemp("fresh") / "catalogue", FRESH_CATALOGUE_DIR)


@pytest.fixture(scope="module")
def intents(catalogue_dir, tmp_path_factory) -> tuple[Path, list[str]]:
    return train_intents(catalogue_dir, tmp_path_factory.mktemp("fresh_nlu"))


@pytest.fixture(scope="module")
def bot(catalogue_dir, intents, tmp_path_factory):
    with FakeLLM(default=unhelpful) as llm:
        yield Bot(catalogue_dir, str(intents[0]), llm.base_url, llm.model, tmp_path_factory.mktemp("fresh_media"))


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=lambda c: c.id)
def test_fresh_conversation(conversation, bot, tmp_path):
    result = asyncio.run(replay(conversation, bot, tmp_path))
    assert not result.failures, f"{conversation.id}: {conversation.about}\n{result.report()}"


# --- the same conversations with the trained model -----------------------------------------------
@pytest.fixture(scope="module")
def trained_bot(request, catalogue_dir, tmp_path_factory):
    """The trained model behind vLLM, with the pipeline's models/nlu when the checkout has one."""
    model = Path(os.environ.get("ZAPVENDAS_MODEL_DIR") or REPO_ROOT / "models/export")
    if not vllm_available() or not (model / "config.json").is_file():
        pytest.skip(f"needs vLLM and a trained model in {model} (`make run`, or ZAPVENDAS_MODEL_DIR)")
    nlu = REPO_ROOT / "models/nlu"
    nlu_dir = str(nlu) if (nlu / "model.joblib").is_file() else str(request.getfixturevalue("intents")[0])
    work = tmp_path_factory.mktemp("fresh_vllm")
    port = free_port()
    proc = start_vllm(model, port, "zapvendas", log_path=work / "vllm.log", max_model_len=4096)
    try:
        wait_http(f"http://127.0.0.1:{port}/v1/models", 600, proc, "vLLM")
        yield Bot(catalogue_dir, nlu_dir, f"http://127.0.0.1:{port}/v1", "zapvendas", work / "media", 30.0)
    finally:
        stop(proc)


@pytest.mark.slow
@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=lambda c: c.id)
def test_fresh_conversation_with_the_trained_model(conversation, trained_bot, tmp_path):
    result = asyncio.run(replay(conversation, trained_bot, tmp_path))
    assert not result.failures, f"{conversation.id}: {conversation.about}\n{result.report()}"


# --- the conversations themselves --------------------------------------------------------------
def test_there_are_enough_conversations_and_each_one_judges_something():
    assert len(CONVERSATIONS) >= 20 and len({c.id for c in CONVERSATIONS}) == len(CONVERSATIONS)
    for c in CONVERSATIONS:
        assert c.end and any(t.expect for t in c.turns), c.id
    assert {c.lang for c in CONVERSATIONS} == {"pt", "en"}
    assert {t.action for c in CONVERSATIONS for t in c.turns} == {"say", "tap", "send", "pay"}


# Lines of fewer words are what everybody types ("oi", "pix", "blz valeu"): finding them in the
# synthesizer's text says nothing about a leak.
MIN_WORDS = 4


def training_texts(synthesized: list[str]) -> dict[str, str]:
    """Everything that feeds training or the classifier, normalised: the synthesizer's code and
    phrase banks, the customer turns synthesized for this test's classifier, and the pipeline's
    data (data/interim, data/processed) when this checkout has run it."""
    sources = {
        str(p.relative_to(REPO_ROOT)): p.read_text(encoding="utf-8") for p in REPO_ROOT.glob("pipelines/synth_*.py")
    }
    sources |= {
        str(p.relative_to(REPO_ROOT)): p.read_text(encoding="utf-8") for p in REPO_ROOT.glob("pipelines/phrases_*.py")
    }
    sources["synthesized for this test"] = "\n".join(synthesized)
    for path in sorted((REPO_ROOT / "data").glob("*/**/*.jsonl")):
        with open(path, encoding="utf-8") as f:
            sources[str(path.relative_to(REPO_ROOT))] = "\n".join(
                json.dumps(json.loads(line), ensure_ascii=False) for line in f if line.strip()
            )
    return {name: f" {normalize(text)} " for name, text in sources.items()}


def test_no_customer_line_feeds_training_or_the_classifier(intents):
    texts = training_texts(intents[1])
    lines = {normalize(t) for c in CONVERSATIONS for t in c.customer_lines()}
    checked = [line for line in lines if len(line.split()) >= MIN_WORDS]
    assert len(checked) >= 40
    leaks = [(line, name) for line in checked for name, text in texts.items() if f" {line} " in text]
    assert not leaks, f"fresh conversation lines found in training inputs: {leaks}"
    for folder in ("pipelines", "serve", "simulator", "configs"):
        for path in (REPO_ROOT / folder).rglob("*"):
            if path.suffix in (".py", ".yaml", ".yml", ".json") and path.is_file():
                assert FIXTURES.name not in path.read_text(encoding="utf-8", errors="ignore"), path
