"""Payment webhooks (one per gateway) and the sandbox gateway's payment page.

    POST /payments/{sandbox|mercadopago|stripe}/webhook   → serve.commerce.payments.process_webhook
    GET  /pay/{charge_id}                                 → sandbox page (amount, PIX code, buttons)
    POST /pay/{charge_id}  (form: action=pay|decline)     → sandbox settles, then delivers its signed
                                                            webhook to this app's own endpoint
    GET  /pay/done                                        → where Stripe/MP send the customer back

Answers: 200 processed/duplicate/ignored/rejected (the gateway must not retry those), 401 bad
signature (nothing stored), 404 unknown provider, 503 gateway unreachable while fetching (the
gateway retries later). Logic lives in serve/commerce/payments; this file adapts HTTP and queues
the customer's WhatsApp notice (paid / payment failed: serve/whatsapp/order_notices.py) in the same
transaction as the payment.
"""

from __future__ import annotations

import html
import logging
from functools import partial

import httpx
from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from serve.commerce.payments import (
    PaymentError,
    UnknownProvider,
    WebhookVerificationError,
    get_provider,
    process_webhook,
)
from serve.commerce.payments.sandbox import CHARGE_ID, pix_brcode
from serve.contract import format_brl
from serve.deps import SessionFactoryDep, SettingsDep
from serve.storage.db import session_scope
from serve.storage.tables import SandboxCharge
from serve.whatsapp.order_notices import queue_order_notice

log = logging.getLogger(__name__)
router = APIRouter(tags=["payments"])


@router.post("/payments/{provider}/webhook")
async def payment_webhook(provider: str, request: Request, factory: SessionFactoryDep, settings: SettingsDep) -> dict:
    body = await request.body()  # the raw bytes: signatures are over them, not over re-encoded JSON
    try:
        result = await run_in_threadpool(
            process_webhook,
            factory,
            provider,
            dict(request.headers),
            body,
            dict(request.query_params),
            settings,
            notify=partial(queue_order_notice, settings=settings),
        )
    except UnknownProvider as exc:
        raise HTTPException(404, str(exc)) from exc
    except WebhookVerificationError as exc:
        log.warning("payment webhook refused", extra={"provider": provider, "reason": str(exc)})
        raise HTTPException(401, "invalid signature") from exc
    except PaymentError as exc:
        log.warning("payment webhook: gateway fetch failed", extra={"provider": provider, "error": str(exc)})
        raise HTTPException(503, "gateway unavailable, retry later") from exc
    return {"status": result.status, "order": result.order_code}


PAGE = """<!doctype html><html lang="pt-BR"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}}
.box{{border:1px solid #ddd;border-radius:12px;padding:1.25rem}}.amt{{font-size:2rem;font-weight:700}}
button{{font-size:1.1rem;padding:.7rem 1.2rem;border-radius:8px;border:0;margin:.3rem .3rem 0 0;cursor:pointer}}
.pay{{background:#1a8f3c;color:#fff}}.no{{background:#eee}}code{{word-break:break-all;font-size:.8rem}}
.tag{{background:#fff3cd;padding:.2rem .5rem;border-radius:6px;font-size:.8rem}}</style></head>
<body><div class="box"><span class="tag">SANDBOX · pagamento de teste</span><h1>{title}</h1>{content}</div></body></html>"""


def _page(title: str, content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(PAGE.format(title=html.escape(title), content=content), status_code=status)


@router.get("/pay/done", response_class=HTMLResponse)
def pay_done(order: str = "", canceled: int = 0) -> HTMLResponse:
    msg = "Pagamento não concluído." if canceled else "Recebemos seu pagamento; a confirmação chega pelo WhatsApp."
    return _page(f"Pedido {order}" if order else "Pagamento", f"<p>{html.escape(msg)}</p>")


def _charge(factory, charge_id: str) -> SandboxCharge:
    if not CHARGE_ID.match(charge_id):
        raise HTTPException(404, "pagamento não encontrado")
    with session_scope(factory) as s:
        charge = s.get(SandboxCharge, charge_id)
        if charge is None:
            raise HTTPException(404, "pagamento não encontrado")
        return charge


@router.get("/pay/{charge_id}", response_class=HTMLResponse)
def pay_page(charge_id: str, factory: SessionFactoryDep) -> HTMLResponse:
    c = _charge(factory, charge_id)
    amount = (
        f'<p class="amt">{format_brl(c.amount_cents)}</p><p>{html.escape(c.description)} · {html.escape(c.method)}</p>'
    )
    if c.status != "pending":
        done = "Pagamento aprovado ✅" if c.status == "paid" else "Pagamento recusado"
        return _page(c.description, amount + f"<p><b>{done}</b></p>")
    pix = ""
    if c.method == "pix":
        code = pix_brcode("sandbox@zapvendas.invalid", c.amount_cents, c.description.split()[-1])
        pix = f"<p>PIX copia e cola:</p><code>{html.escape(code)}</code>"
    form = (
        f'<form method="post" action="/pay/{html.escape(c.id)}">'
        '<button class="pay" name="action" value="pay">Pagar</button>'
        '<button class="no" name="action" value="decline">Recusar</button></form>'
    )
    return _page(c.description, amount + pix + form)


@router.post("/pay/{charge_id}", response_class=HTMLResponse)
async def pay_action(
    charge_id: str, request: Request, factory: SessionFactoryDep, settings: SettingsDep, action: str = Form(...)
) -> HTMLResponse:
    """The sandbox gateway settles the charge, then notifies the store like a real gateway would:
    a signed POST to the store's webhook (through this same app's ASGI stack, so no network and
    no PUBLIC_BASE_URL round trip are needed; every check of the webhook path still runs)."""
    if action not in ("pay", "decline"):
        raise HTTPException(422, "action must be pay or decline")
    c = _charge(factory, charge_id)
    sandbox = get_provider("sandbox", settings)
    outcome = "paid" if action == "pay" else "failed"

    def settle():
        with session_scope(factory) as s:
            return sandbox.settle(s, charge_id, outcome)

    signed = await run_in_threadpool(settle)
    if signed is None:  # already settled the other way: show the state, send nothing
        return pay_page(charge_id, factory)
    body, headers = signed
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox-gateway") as client:
        r = await client.post("/payments/sandbox/webhook", content=body, headers=headers)
    if r.status_code != 200:
        log.error("sandbox webhook delivery failed", extra={"charge": charge_id, "status": r.status_code})
        return _page(c.description, "<p>O pagamento foi registrado, mas a loja não confirmou; tente de novo.</p>", 502)
    done = "Pagamento aprovado ✅ A confirmação chega pelo WhatsApp." if outcome == "paid" else "Pagamento recusado."
    return _page(c.description, f'<p class="amt">{format_brl(c.amount_cents)}</p><p><b>{done}</b></p>')
