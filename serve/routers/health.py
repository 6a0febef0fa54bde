"""Health: `/healthz` = the process answers (liveness); `/readyz` = the database answers `SELECT 1`
and vLLM answers `GET /v1/models` with the configured model (readiness: 503 naming the failing part)."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from serve.deps import SettingsDep
from serve.storage import db

router = APIRouter(tags=["health"])
READY_TIMEOUT_S = 2.0


@router.get("/healthz")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request, s: SettingsDep) -> JSONResponse:
    checks = {}
    try:
        await asyncio.to_thread(db.ping, request.app.state.engine)
        checks["db"] = "ok"
    except Exception as exc:
        checks["db"] = f"error: {type(exc).__name__}"
    try:
        async with httpx.AsyncClient(timeout=READY_TIMEOUT_S) as client:
            r = await client.get(
                s.LLM_BASE_URL.rstrip("/") + "/models", headers={"Authorization": f"Bearer {s.LLM_API_KEY}"}
            )
        ids = [m.get("id") for m in r.json().get("data", [])] if r.status_code == 200 else []
        if r.status_code != 200:
            checks["llm"] = f"error: HTTP {r.status_code}"
        else:
            checks["llm"] = "ok" if s.LLM_MODEL in ids else f"error: model {s.LLM_MODEL!r} not served"
    except Exception as exc:
        checks["llm"] = f"error: {type(exc).__name__}"
    ok = all(v == "ok" for v in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)
