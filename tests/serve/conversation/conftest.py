"""Fixtures of the agent tests: a local OpenAI-compatible fake model and an agent on the fixture catalogue."""

from __future__ import annotations

import pytest

from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import agent_env


@pytest.fixture(scope="module")
def llm():
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def env(llm, sqlite_db, tmp_path):
    """The default agent environment; modules testing other settings define their own `env`."""
    return agent_env(llm, sqlite_db, tmp_path)
