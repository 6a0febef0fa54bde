"""Fixtures of the simulator tests: the serving tests' SQLite database and fixture catalogue."""

from __future__ import annotations

import pytest

from serve.storage.db import make_session_factory
from tests.serve.conftest import catalogue, sqlite_db  # noqa: F401  (fixtures, re-used as they are)


@pytest.fixture
def factory(sqlite_db):  # noqa: F811
    return make_session_factory(sqlite_db.engine())
