"""WhatsApp webhook: GET verification handshake, POST deliveries (messages and status callbacks).

Thin by design: signature → parse (serve/whatsapp/cloud_api.py) → durable store (serve/whatsapp/inbox.py) → 200.
The 200 goes out only after the inbox transaction committed, so Meta retries anything we could
not store; processing happens later in serve/whatsapp/worker.py.
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse

from serve.deps import SessionFactoryDep, SettingsDep
from serve.whatsapp import inbox
from serve.whatsapp.cloud_api import parse_webhook, verify_signature

log = logging.getLogger(__name__)
router = APIRouter(tags=["whatsapp"])
# Meta's deliveries are a few KiB (batches up to ~1000 small updates); anything far larger is not Meta.
MAX_BODY_BYTES = 3 * 1024 * 1024


@router.get("/webhook", response_class=PlainTextResponse)
def verify(
    settings: SettingsDep,
    mode: Annotated[str | None, Query(alias="hub.mode")] = None,
    token: Annotated[str | None, Query(alias="hub.verify_token")] = None,
    challenge: Annotated[str | None, Query(alias="hub.challenge")] = None,
) -> PlainTextResponse:
    """Meta's subscription check: echo `hub.challenge` when mode and verify token match."""
    expected = settings.WHATSAPP_VERIFY_TOKEN
    if mode == "subscribe" and token and expected and hmac.compare_digest(token.encode(), expected.encode()):
        return PlainTextResponse(challenge or "")
    raise HTTPException(status_code=403, detail="verification failed")


@router.post("/webhook")
async def receive(
    request: Request,
    settings: SettingsDep,
    factory: SessionFactoryDep,
    signature: Annotated[str | None, Header(alias="X-Hub-Signature-256")] = None,
) -> dict:
    if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
        raise HTTPException(status_code=413, detail="body too large")
    raw = await request.body()  # the exact bytes Meta signed
    if len(raw) > MAX_BODY_BYTES:
        raise HTTPException(status_code=413, detail="body too large")
    if not signature:
        raise HTTPException(status_code=401, detail="missing X-Hub-Signature-256")
    if not verify_signature(raw, signature, settings.WHATSAPP_APP_SECRET):
        raise HTTPException(status_code=403, detail="invalid X-Hub-Signature-256")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than the parser goes
        raise HTTPException(status_code=400, detail="body is not JSON") from exc
    parsed = parse_webhook(payload)
    result = await run_in_threadpool(
        inbox.store_webhook,
        factory,
        parsed,
        phone_hash_key=settings.PHONE_HASH_KEY,
        phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
        greeting_hold_s=settings.INBOX_GREETING_HOLD_S,
    )
    log.info(
        "webhook stored=%d duplicates=%d ignored=%d statuses=%d skipped=%d",
        result.stored,
        result.duplicates,
        result.ignored,
        result.statuses,
        parsed.skipped,
    )
    return {"stored": result.stored, "duplicates": result.duplicates, "statuses": result.statuses}
