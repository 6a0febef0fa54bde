"""create_app: lifespan (migrations, catalogue), /healthz, /readyz (DB + vLLM /v1/models), /admin/queue, /admin/kpis, JSON logs."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from serve.app import create_app
from serve.logs import JsonFormatter
from serve.settings import Settings
from serve.storage.db import session_scope
from serve.storage.tables import Customer, Handoff
from tests.fakes.fake_llm import FakeLLM
from tests.serve.factories import write_catalogue_dir


@pytest.fixture(scope="module")
def llm():
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def settings(tmp_path, llm):
    return Settings(
        ENV="test",
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        LLM_BASE_URL=llm.base_url,
        LLM_MODEL=llm.model,
        CATALOGUE_DIR=str(write_catalogue_dir(tmp_path / "catalogue")),
        MEDIA_DIR=str(tmp_path / "media"),
        LOG_LEVEL="WARNING",
    )


def test_healthz_and_readyz(settings, llm):
    with TestClient(create_app(settings, start_workers=False)) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json() == {"status": "ok", "db": "ok", "llm": "ok"}
        llm.models_status = 503
        try:
            r = client.get("/readyz")
        finally:
            llm.models_status = 200
        assert r.status_code == 503 and r.json()["llm"] == "error: HTTP 503" and r.json()["db"] == "ok"


def test_readyz_fails_when_llm_unreachable_or_model_missing(settings):
    with TestClient(
        create_app(settings.model_copy(update={"LLM_BASE_URL": "http://127.0.0.1:9/v1"}), start_workers=False)
    ) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["llm"].startswith("error: Connect")
    with TestClient(create_app(settings.model_copy(update={"LLM_MODEL": "other"}), start_workers=False)) as client:
        assert "not served" in client.get("/readyz").json()["llm"]


def test_readyz_fails_when_db_down(settings):
    app = create_app(settings, start_workers=False)
    with TestClient(app) as client:
        app.state.engine.dispose()
        from sqlalchemy import create_engine

        app.state.engine = create_engine(
            "postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 1}
        )
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["db"].startswith("error")


def test_admin_queue_ranks_waiting_handoffs(settings):
    app = create_app(settings, start_workers=False)
    with TestClient(app) as client:
        with session_scope(app.state.session_factory) as s:
            c = Customer(phone_hash="a" * 64, preferred_categories=[])
            s.add(c)
            s.flush()
            s.add_all(
                [
                    Handoff(customer_id=c.id, reason="dúvida", priority_score=1.0, status="waiting"),
                    Handoff(customer_id=c.id, reason="reclamação", priority_score=4.0, status="waiting"),
                    Handoff(customer_id=c.id, reason="x", priority_score=9.0, status="closed"),
                ]
            )
        body = client.get("/admin/queue").json()
        assert body["waiting"] == 2 and [i["reason"] for i in body["items"]] == ["reclamação", "dúvida"]
    prod = settings.model_copy(update={"ENV": "production"})
    with TestClient(create_app(prod, start_workers=False)) as client:
        assert client.get("/admin/queue").status_code == 401
        assert client.get("/admin/kpis").status_code == 401


def test_admin_kpis_answers_for_a_period(settings):
    with TestClient(create_app(settings, start_workers=False)) as client:
        body = client.get("/admin/kpis", params={"days": 30}).json()
        assert set(body) == {"since", "funnel", "sales", "agent"} and body["sales"]["orders"] == 0
        assert client.get("/admin/kpis", params={"days": 0}).status_code == 422


def test_json_logs_carry_no_phone_numbers():
    record = logging.LogRecord(
        "serve.x", logging.INFO, __file__, 1, "sent to 5511987654321 (+55 11 98765-4321)", (), None
    )
    record.customer_id, record.phone, record.ms = 7, "5511987654321", 12.5
    out = json.loads(JsonFormatter().format(record))
    assert "987654321" not in json.dumps(out) and out["customer_id"] == 7 and out["ms"] == 12.5 and "phone" not in out
