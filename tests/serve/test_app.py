"""create_app: lifespan (migrations, catalogue), /healthz, /readyz (DB: ingestion), /readyz/model (vLLM /v1/models),
/admin/queue, /admin/kpis, JSON logs, bounded shutdown."""

from __future__ import annotations

import json
import logging
import time

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
        assert r.status_code == 200 and r.json() == {"status": "ok", "db": "ok"}
        r = client.get("/readyz/model")
        assert r.status_code == 200 and r.json() == {"status": "ok", "llm": "ok"}


def test_the_webhook_stays_ready_while_the_model_is_down(settings, llm):
    """Ingestion readiness never depends on vLLM: a model outage must not take the webhook offline."""
    with TestClient(create_app(settings, start_workers=False)) as client:
        llm.models_status = 503
        try:
            ingestion, model = client.get("/readyz"), client.get("/readyz/model")
        finally:
            llm.models_status = 200
    assert ingestion.status_code == 200 and ingestion.json() == {"status": "ok", "db": "ok"}
    assert model.status_code == 503 and model.json() == {"status": "unavailable", "llm": "error: HTTP 503"}


def test_model_readiness_fails_when_llm_unreachable_or_model_missing(settings):
    with TestClient(
        create_app(settings.model_copy(update={"LLM_BASE_URL": "http://127.0.0.1:9/v1"}), start_workers=False)
    ) as client:
        r = client.get("/readyz/model")
        assert r.status_code == 503 and r.json()["llm"].startswith("error: Connect")
        assert client.get("/readyz").status_code == 200
    with TestClient(create_app(settings.model_copy(update={"LLM_MODEL": "other"}), start_workers=False)) as client:
        assert "not served" in client.get("/readyz/model").json()["llm"]


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


def stop_with_a_turn_in_flight(settings, llm, model_s: float):
    """The app with its worker and one customer text whose model call takes `model_s`; the app is
    stopped while that turn is in flight. Returns (seconds the shutdown took, the inbox row)."""
    from serve.whatsapp import cloud_api as wa
    from serve.whatsapp import inbox
    from tests.serve.factories import PHONE, inbox_rows

    text = "me ajuda a escolher um presente pra minha mãe"

    def answer(request: dict) -> dict:  # only the customer's turn is slow (not the app's warm-up call)
        turn = any(text in str(m.get("content")) for m in request["messages"])
        return FakeLLM.delay(model_s, FakeLLM.text("Posso te ajudar a escolher!")) if turn else FakeLLM.text("ok")

    llm.script.clear()
    llm.requests.clear()
    default, llm.default = llm.default, answer
    msg = wa.inbound_message(PHONE, "text", {"body": text})
    parsed = wa.parse_webhook(wa.webhook_payload("1", [msg]))
    try:
        with TestClient(create_app(settings)) as client:
            factory = client.app.state.session_factory
            assert inbox.store_webhook(factory, parsed, phone_hash_key="k").stored == 1
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                text in json.dumps(r, ensure_ascii=False) for r in llm.requests
            ):
                time.sleep(0.02)  # until the worker has claimed it and the model is thinking
            started = time.monotonic()
    finally:
        llm.default = default
    (row,) = inbox_rows(factory)
    return time.monotonic() - started, row


@pytest.fixture
def worker_settings(settings):
    """The app's own worker and sender on; replies go to a closed local port (never to Meta)."""
    return settings.model_copy(
        update={"WHATSAPP_API_BASE_URL": "http://127.0.0.1:9", "INBOX_BURST_WINDOW_S": 0, "PHONE_HASH_KEY": "k"}
    )


def test_shutdown_lets_a_turn_in_flight_finish(worker_settings, llm):
    took, row = stop_with_a_turn_in_flight(worker_settings.model_copy(update={"SHUTDOWN_WAIT_S": 10}), llm, 1.0)
    assert row.status == "done" and took < 8, row.error  # answered, not cancelled mid-turn


def test_shutdown_is_bounded_by_one_deadline_for_all_loops(worker_settings, llm):
    """A turn that would take 6 s is cut at SHUTDOWN_WAIT_S (0.5 s), once for every loop together;
    its rows stay claimed and are answered after the restart (the lease expires)."""
    took, row = stop_with_a_turn_in_flight(worker_settings.model_copy(update={"SHUTDOWN_WAIT_S": 0.5}), llm, 6.0)
    assert took < 3 and row.status == "processing"
