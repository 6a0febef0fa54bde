"""Alembic: `upgrade head` on an empty database gives exactly serve.storage.tables' schema (SQLite, PostgreSQL)."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import serve.storage.tables  # noqa: F401
from serve.storage.tables import Base
from tests.serve.factories import ALEMBIC_INI


def _run(engine, *args):
    cfg = Config(str(ALEMBIC_INI))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, args[0])(cfg, *args[1:])


def test_upgrade_head_matches_models_and_downgrade_empties(empty_db):
    engine = empty_db.engine()
    _run(engine, "upgrade", "head")
    tables = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert tables == set(Base.metadata.tables)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations differ on {empty_db.kind}: {diff}"
    _run(engine, "downgrade", "base")
    assert set(inspect(engine).get_table_names()) - {"alembic_version"} == set()


def test_single_head():
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(Config(str(ALEMBIC_INI))).get_heads()
    assert len(heads) == 1, f"several alembic heads: {heads}; merge them"
