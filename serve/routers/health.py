"""Health, in three questions a monitor asks separately:
  `/healthz`       the process answers (liveness);
  `/readyz`        ingestion is ready: the database answers `SELECT 1`, so the webhook can store a
                   message durably before its 200 (serve/whatsapp/inbox.py). It does NOT ask the
                   model: while vLLM is down or hanging, WhatsApp deliveries must still be accepted
                   (they wait in the inbox and are answered when it is back); a load balancer that
                   took the webhook offline for a model outage would make Meta retry and drop them;
  `/readyz/model`  the model is ready: vLLM answers `GET /v1/models` with the configured model.
Each answers 503 naming the failing part."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serve.deps import SettingsDep
from serve.storage import db

router = APIRouter(tags=["health"])
READY_TIMEOUT_S = 2.0  # a hanging vLLM makes /readyz/model fail in this long, never hang the probe


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


def _answer(checks: dict[str, str]) -> JSONResponse:
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    try:
        await asyncio.to_thread(db.ping, request.app.state.engine)
        return _answer({"db": "ok"})
    except Exception as exc:
        return _answer({"db": f"error: {type(exc).__name__}"})


@router.get("/readyz/model")
async def model_ready(s: SettingsDep) -> JSONResponse:
    try:
        async with httpx.AsyncClient(timeout=READY_TIMEOUT_S) as client:
            r = await client.get(
                s.LLM_BASE_URL.rstrip("/") + "/models", headers={"Authorization": f"Bearer {s.LLM_API_KEY}"}
            )
        if r.status_code != 200:
            return _answer({"llm": f"error: HTTP {r.status_code}"})
        ids = [m.get("id") for m in r.json().get("data", [])]
        return _answer({"llm": "ok" if s.LLM_MODEL in ids else f"error: model {s.LLM_MODEL!r} not served"})
    except Exception as exc:
        return _answer({"llm": f"error: {type(exc).__name__}"})
