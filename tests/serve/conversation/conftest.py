"""Fixtures of the agent tests: a local OpenAI-compatible fake model and an agent on the fixture catalogue."""

from __future__ import annotations

import pytest

from serve.commerce.customers import get_or_create_customer
from serve.conversation.agent import Agent
from serve.settings import Settings
from serve.storage.db import session_scope
from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import HASH_KEY, PHONE, fixture_catalogue


@pytest.fixture(scope="module")
def llm():
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def env(llm, sqlite_db, tmp_path):
    """(Agent with default settings on the fixture catalogue, session factory, customer id);
    modules testing other settings define their own `env`."""
    llm.script.clear()
    llm.requests.clear()
    settings = Settings(
        ENV="test",
        LLM_BASE_URL=llm.base_url,
        LLM_MODEL=llm.model,
        LLM_TIMEOUT_S=2.0,
        PHONE_HASH_KEY=HASH_KEY,
        MEDIA_DIR=str(tmp_path / "media"),
        AGENT_PREFILL_BETWEEN_TURNS=False,
    )
    factory = sqlite_db.factory()
    with session_scope(factory) as s:
        cid = get_or_create_customer(s, PHONE, HASH_KEY, "Ana").id
    return Agent(settings, fixture_catalogue()), factory, cid
