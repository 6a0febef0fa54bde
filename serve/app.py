"""The bot's FastAPI application: `create_app()` wires settings, storage, the agent and the routers.

Lifespan (one process, embedded default; more workers: `python -m serve.whatsapp.worker`):
  DB engine (+ `alembic upgrade head`) → catalogue, Olist history and intent classifier in memory →
  Agent (vLLM client) → inbox Worker and outbox Sender loops (serve/whatsapp/), and the sweep that
  cancels unpaid orders past their expiry (releasing their stock) → serve.
Shutdown (SIGTERM/SIGINT under uvicorn) stops claiming, lets the turns in flight finish within
SHUTDOWN_WAIT_S in all (then cancels them: their batches are claimed again and replay their tool
effects, serve/conversation/effects.py), then closes the Graph and LLM clients and the engine.
Routes live in serve/routers/: webhook, payments, health, admin.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from fastapi import FastAPI

from serve.commerce import orders
from serve.conversation.resources import build_agent
from serve.logs import configure_logging
from serve.routers import admin, health, payments, webhook
from serve.settings import Settings, get_settings
from serve.storage import db
from serve.whatsapp import outbox
from serve.whatsapp.cloud_api import GraphClient
from serve.whatsapp.worker import Worker

log = logging.getLogger(__name__)
MIGRATIONS = Path(db.__file__).resolve().parent / "migrations"


def migrate(engine) -> None:
    """`alembic upgrade head` on this engine (idempotent; PostgreSQL runs DDL in a transaction)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


async def expire_orders(stop: asyncio.Event, factory, every_s: float) -> None:
    """Every `every_s` seconds, cancel unpaid orders past `expires_at` and release their stock."""
    while not stop.is_set():
        try:
            expired = await asyncio.to_thread(orders.expire_unpaid, factory)
            if expired:
                log.info("unpaid orders expired", extra={"orders": expired})
        except Exception:  # a database hiccup: try again at the next sweep
            log.exception("order expiry sweep failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_s)


def create_app(settings: Settings | None = None, *, start_workers: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        configure_logging(settings.LOG_LEVEL)
        engine = db.make_engine(settings.DATABASE_URL)
        await asyncio.to_thread(migrate, engine)
        factory = db.make_session_factory(engine)
        agent = await asyncio.to_thread(build_agent, settings)
        app.state.engine, app.state.session_factory = engine, factory
        app.state.catalogue, app.state.agent = agent.catalogue, agent
        app.dependency_overrides[db.get_session_factory] = lambda: factory
        stop, tasks, graph = asyncio.Event(), [], None
        if start_workers:
            graph = GraphClient.from_settings(settings)
            app.state.sender = outbox.Sender.from_settings(settings, factory, graph)
            worker = Worker.from_settings(settings, factory, agent, graph=graph, sender=app.state.sender)
            tasks = [
                asyncio.create_task(worker.run(stop), name="worker"),
                asyncio.create_task(app.state.sender.run(stop), name="sender"),
                asyncio.create_task(agent.warm_up(), name="llm-warm-up"),
                asyncio.create_task(expire_orders(stop, factory, settings.ORDER_EXPIRY_SWEEP_S), name="order-expiry"),
            ]
        log.info("bot ready", extra={"products": len(agent.catalogue), "env": settings.ENV, "workers": bool(tasks)})
        try:
            yield
        finally:
            stop.set()  # no new claims; turns in flight finish within one shared deadline
            if tasks:
                _, late = await asyncio.wait(tasks, timeout=settings.SHUTDOWN_WAIT_S)
                for task in late:
                    task.cancel()
                await asyncio.gather(*late, return_exceptions=True)
            if graph is not None:
                await graph.aclose()
            await agent.model.client.close()
            engine.dispose()

    app = FastAPI(title="zapvendas", lifespan=lifespan)
    app.state.settings = settings
    app.dependency_overrides[get_settings] = lambda: settings
    for router in (webhook.router, payments.router, health.router, admin.router):
        app.include_router(router)
    return app
