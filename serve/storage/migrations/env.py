"""Alembic environment: target metadata is serve.storage.tables; the URL is DATABASE_URL from settings.

Override order: a connection handed in by code (`config.attributes["connection"]`, used by tests),
`-x url=...` on the command line, `sqlalchemy.url` in alembic.ini, then settings.DATABASE_URL.
Engines come from serve.storage.db.make_engine, so migrations run with the same pragmas/driver as the bot.
"""

from alembic import context

import serve.storage.tables  # noqa: F401  (registers every table on Base.metadata)
from serve.settings import get_settings
from serve.storage.db import make_engine
from serve.storage.tables import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    return get_settings().DATABASE_URL


def _render_item(type_, obj, autogen_context):
    # Migrations must not import our TypeDecorators (they may change); UTCDateTime is stored as
    # a plain timezone-aware DateTime, so render it as that.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        render_as_batch=True,  # SQLite cannot ALTER most things: later migrations copy-and-move tables
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    with engine.connect() as connection:
        _configure(connection=connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
