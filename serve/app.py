"""The bot's FastAPI application: `create_app()`, routers, lifespan, health and the handoff queue.

Lifespan (one process, embedded default; more workers: `python -m serve.worker`):
  DB engine (+ `alembic upgrade head`) → catalogue and Olist histories in memory → Agent (vLLM
  client) → inbox Worker and outbox Sender loops (serve/worker.py, serve/outbox.py) → serve.
Shutdown stops the loops, then closes the Graph and LLM clients and the engine.

Health: `/healthz` = the process answers (liveness); `/readyz` = the database answers `SELECT 1`
and vLLM answers `GET /v1/models` (readiness: 503 with the failing part otherwise).
`/admin/queue`: the handoff queue ranked by priority (serve/queue.py), for the human sellers;
open in development/test, and in production only with `Authorization: Bearer $ADMIN_TOKEN`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from contextlib import asynccontextmanager
from datetime import timedelta, timezone
from pathlib import Path

import httpx
import pandas as pd
from fastapi import Depends, FastAPI, Header, HTTPException, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select

from serve import db as dbmod
from serve import kpis
from serve.agent import Agent
from serve.catalog import Catalogue
from serve.customers import OlistHistory
from serve.deps import SessionDep, SettingsDep
from serve.logs import configure_logging
from serve.models import Handoff
from serve.queue import current_score
from serve.settings import Settings, get_settings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
READY_TIMEOUT_S = 2.0


def migrate(engine) -> None:
    """`alembic upgrade head` on this engine (idempotent; PostgreSQL runs DDL in a transaction)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def load_histories(catalogue_dir: str | Path):
    """(OlistHistory, OlistTracking) from histories.parquet, read once; empty when the file is absent."""
    from serve.orders import OlistTracking

    path = Path(catalogue_dir) / "histories.parquet"
    df = pd.read_parquet(path) if path.exists() else None
    return OlistHistory(df), OlistTracking(df, str(path))


def load_intents(nlu_dir: str | Path | None):
    """The nlu stage's intent classifier, or None (then every free text goes to the model)."""
    if not nlu_dir:
        return None
    from pipelines.nlu import load_intent_classifier

    try:
        return load_intent_classifier(nlu_dir)
    except FileNotFoundError:
        log.warning("no intent classifier in %s (run `make run`); every text goes to the model", nlu_dir)
        return None


def build_agent(settings: Settings) -> Agent:
    """Catalogue, purchase histories and intent classifier from disk: the agent of the app and of
    `python -m serve.worker`."""
    olist, tracking = load_histories(settings.CATALOGUE_DIR)
    return Agent(settings, Catalogue.load(settings.CATALOGUE_DIR), olist=olist, tracking=tracking,
                 intents=load_intents(settings.NLU_DIR))  # fmt: skip


def create_app(settings: Settings | None = None, *, start_workers: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        configure_logging(settings.LOG_LEVEL)
        engine = dbmod.make_engine(settings.DATABASE_URL)
        await asyncio.to_thread(migrate, engine)
        factory = dbmod.make_session_factory(engine)
        agent = await asyncio.to_thread(build_agent, settings)
        catalogue = agent.catalogue
        app.state.engine, app.state.session_factory, app.state.catalogue, app.state.agent = engine, factory, catalogue, agent
        app.dependency_overrides[dbmod.get_session_factory] = lambda: factory
        stop, tasks, graph = asyncio.Event(), [], None
        if start_workers:
            from serve import outbox
            from serve.whatsapp import GraphClient
            from serve.worker import Worker

            graph = GraphClient.from_settings(settings)
            app.state.sender = outbox.Sender.from_settings(settings, factory, graph)
            worker = Worker.from_settings(settings, factory, agent, graph=graph, sender=app.state.sender)
            tasks = [asyncio.create_task(worker.run(stop), name="worker"),
                     asyncio.create_task(app.state.sender.run(stop), name="sender"),
                     asyncio.create_task(agent.warm_up(), name="llm-warm-up")]  # fmt: skip
        log.info("bot ready", extra={"products": len(catalogue), "env": settings.ENV, "workers": bool(tasks)})
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, 10)
            if graph is not None:
                await graph.aclose()
            await agent.client.close()
            engine.dispose()

    app = FastAPI(title="zapvendas", lifespan=lifespan)
    app.state.settings = settings
    app.dependency_overrides[get_settings] = lambda: settings

    from serve.routers import webhook

    app.include_router(webhook.router)
    import importlib.util

    if importlib.util.find_spec("serve.routers.payments") is not None:  # lands with serve/payments (platform)
        from serve.routers import payments

        app.include_router(payments.router)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(s: SettingsDep) -> JSONResponse:
        checks = {}
        try:
            await asyncio.to_thread(dbmod.ping, app.state.engine)
            checks["db"] = "ok"
        except Exception as exc:
            checks["db"] = f"error: {type(exc).__name__}"
        try:
            async with httpx.AsyncClient(timeout=READY_TIMEOUT_S) as client:
                r = await client.get(s.LLM_BASE_URL.rstrip("/") + "/models",
                                     headers={"Authorization": f"Bearer {s.LLM_API_KEY}"})  # fmt: skip
            ids = [m.get("id") for m in r.json().get("data", [])] if r.status_code == 200 else []
            checks["llm"] = "ok" if s.LLM_MODEL in ids else (
                f"error: HTTP {r.status_code}" if r.status_code != 200 else f"error: model {s.LLM_MODEL!r} not served")
        except Exception as exc:
            checks["llm"] = f"error: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)

    def require_admin(s: SettingsDep, authorization: str | None = Header(None)) -> None:
        token = s.ADMIN_TOKEN
        if s.ENV == "production" and not (token and authorization
                                          and hmac.compare_digest(authorization, f"Bearer {token}")):  # fmt: skip
            raise HTTPException(status_code=401, detail="admin token required")

    @app.get("/admin/kpis", dependencies=[Depends(require_admin)])
    def admin_kpis(session: SessionDep, days: int = Query(7, ge=1, le=366)) -> dict:
        """Conversion funnel, sales and agent health over the last `days` days (serve/kpis.py)."""
        return kpis.kpis(session, dbmod.utcnow() - timedelta(days=days))

    @app.get("/admin/queue", dependencies=[Depends(require_admin)])
    def admin_queue(session: SessionDep) -> dict:
        rows = session.scalars(select(Handoff).where(Handoff.status == "waiting")).all()
        items = [
            {"id": h.id, "customer_id": h.customer_id, "reason": h.reason, "priority": current_score(h.priority_score, h.created_at),
             "base_priority": h.priority_score, "value_cents": h.estimated_value_cents,
             "waiting_since": h.created_at.astimezone(timezone.utc).isoformat()}
            for h in rows
        ]  # fmt: skip
        items.sort(key=lambda x: -x["priority"])
        return {"waiting": len(items), "items": items}

    return app
