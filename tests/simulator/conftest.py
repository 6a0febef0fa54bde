"""Fixtures of the simulator tests: the serving tests' SQLite database and fixture catalogue."""

from __future__ import annotations

import pytest

from serve.settings import Settings
from serve.storage.db import make_session_factory
from tests.serve.conftest import catalogue, sqlite_db  # noqa: F401  (fixtures, re-used as they are)
from tests.serve.factories import write_catalogue_dir


@pytest.fixture
def factory(sqlite_db):  # noqa: F811
    return make_session_factory(sqlite_db.engine())


def simulated_bot_settings(tmp_path, llm, **over) -> Settings:
    """The bot as the simulator runs it, on the fixture catalogue, with `llm` (tests/fakes) as its model."""
    return Settings(
        _env_file=None,
        ENV="test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'sim.db'}",
        LLM_BASE_URL=llm.base_url,
        LLM_MODEL=llm.model,
        CATALOGUE_DIR=str(write_catalogue_dir(tmp_path / "catalogue")),
        NLU_DIR="",
        MEDIA_DIR=str(tmp_path / "media"),
        PUBLIC_BASE_URL="http://simulator.invalid",
        AGENT_PREFILL_BETWEEN_TURNS=False,
        LOG_LEVEL="WARNING",
        **over,
    )
