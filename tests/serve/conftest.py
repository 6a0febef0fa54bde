"""Fixtures for the serve tests; plain helpers and constants are in tests/serve/factories.py.

`db` runs a test twice: on a SQLite file (WAL) and on PostgreSQL (marked `postgres`) in a schema of
its own (CREATE SCHEMA zv_<random> in the shared `test` database, dropped afterwards), so parallel
test runs never collide. `db.engine()` / `db.factory()` open another engine on the SAME database,
which is how tests stand in for a second bot process. `engine`, `factory` and `client` derive from
`db`; `empty_db` is the same database before the schema is created (migrations); `sqlite_db` is
for tests that only run on SQLite.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import text

from serve.core.catalog import Catalogue
from serve.storage.db import create_schema, make_engine, make_session_factory
from tests.serve.factories import fixture_catalogue, payments_app

PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@contextmanager
def pg_schema() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema; dropped with everything in it on exit."""
    name = f"zv_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL, pool_size=1)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


class DB:
    """One test database; every engine opened on it is disposed at the end of the test."""

    def __init__(self, url: str, schema: str | None):
        self.url, self.schema, self._engines = url, schema, []
        self.kind = "postgres" if schema else "sqlite"

    def engine(self):
        eng = make_engine(self.url, schema=self.schema) if self.schema else make_engine(self.url)
        self._engines.append(eng)
        return eng

    def factory(self):
        """A session factory on a NEW engine (a separate connection pool, like another process)."""
        return make_session_factory(self.engine())

    def dispose(self):
        for eng in self._engines:
            eng.dispose()


@contextmanager
def open_db(kind: str, tmp_path) -> Iterator[DB]:
    """An empty database of `kind` ("sqlite" | "postgres")."""
    if kind == "sqlite":
        handle = DB(f"sqlite:///{tmp_path / 'bot.db'}", None)
        try:
            yield handle
        finally:
            handle.dispose()
        return
    with pg_schema() as schema:
        handle = DB(PG_URL, schema)
        try:
            yield handle
        finally:
            handle.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db(request, tmp_path) -> Iterator[DB]:
    """An empty database, on SQLite and on PostgreSQL."""
    with open_db(request.param, tmp_path) as handle:
        yield handle


@pytest.fixture
def db(empty_db) -> DB:
    """A database with the full schema (create_all), on SQLite and on PostgreSQL."""
    create_schema(empty_db.engine())
    return empty_db


@pytest.fixture
def sqlite_db(tmp_path) -> Iterator[DB]:
    """A SQLite file with the full schema, for the tests that only run on SQLite."""
    with open_db("sqlite", tmp_path) as handle:
        create_schema(handle.engine())
        yield handle


@pytest.fixture
def engine(db):
    return db.engine()


@pytest.fixture
def factory(engine):
    return make_session_factory(engine)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return fixture_catalogue()


@pytest.fixture
def client(factory, settings):
    """The payments router under a TestClient; each payment test module defines its `settings`."""
    from fastapi.testclient import TestClient

    with TestClient(payments_app(factory, settings)) as c:
        yield c
