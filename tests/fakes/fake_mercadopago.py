"""A local Mercado Pago API (the REST paths the official SDK calls) for fast, offline tests.

    with FakeMercadoPago(access_token="TEST-123") as mp:       # uvicorn thread, random port
        provider = MercadoPagoProvider(..., api_base_url=mp.url)
        mp.approve(payment_id)                                  # the customer paid the PIX
        query, headers, body = mp.notification(payment_id, secret)   # signed webhook to post

Endpoints (as in https://www.mercadopago.com.br/developers/pt/reference):
  POST /v1/payments            create (PIX: point_of_interaction.transaction_data.qr_code/ticket_url)
  GET  /v1/payments/{id}
  POST /checkout/preferences   create (init_point)
  GET  /checkout/preferences/{id}
Bearer token checked (401 otherwise); `x-idempotency-key` honoured (same key → same payment,
answered again without creating anything). `fail_next(status)` makes the next call fail.
Every request is recorded in `.requests` (method, path, headers, json) for assertions.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.local_server import LocalServer


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class FakeMercadoPago(LocalServer):
    def __init__(self, access_token: str = "TEST-fake-token", collector_id: int = 123456789):
        self.access_token = access_token
        self.collector_id = collector_id
        self.payments: dict[str, dict] = {}
        self.preferences: dict[str, dict] = {}
        self.by_idempotency: dict[str, tuple[int, dict]] = {}
        self.requests: list[dict] = []
        self.failures: list[int] = []
        self._ids = itertools.count(1_310_000_001)
        super().__init__(self._build_app(), "fake-mercadopago")

    # ---- test controls --------------------------------------------------------------------
    def fail_next(self, status: int = 500, times: int = 1) -> None:
        self.failures += [status] * times

    def set_status(self, payment_id: str, status: str, detail: str = "") -> None:
        p = self.payments[str(payment_id)]
        p.update(status=status, status_detail=detail or status, date_last_updated=_now())
        if status == "approved":
            p["date_approved"] = _now()

    def approve(self, payment_id: str) -> None:
        self.set_status(payment_id, "approved", "accredited")

    def pay_preference(self, preference_id: str, status: str = "approved", method: str = "master") -> str:
        """The buyer paid on Checkout Pro: a payment appears with the preference's external_reference."""
        pref = self.preferences[preference_id]
        amount = round(sum(i["unit_price"] * i["quantity"] for i in pref["items"]), 2)
        pid = str(next(self._ids))
        self.payments[pid] = {
            "id": int(pid),
            "status": status,
            "status_detail": "accredited" if status == "approved" else status,
            "transaction_amount": amount,
            "currency_id": pref["items"][0].get("currency_id", "BRL"),
            "external_reference": pref.get("external_reference"),
            "payment_method_id": method,
            "payment_type_id": "credit_card",
            "date_created": _now(),
            "date_approved": _now(),
            "collector_id": self.collector_id,
            "live_mode": False,
        }
        return pid

    def notification(
        self,
        payment_id: str,
        secret: str,
        *,
        ts: int | None = None,
        request_id: str | None = None,
        action: str = "payment.updated",
    ) -> tuple[dict, dict, bytes]:
        """A webhook as Mercado Pago sends it: (query params, headers, raw JSON body). The signature
        is HMAC-SHA256(secret, "id:<data.id>;request-id:<x-request-id>;ts:<ts>;")."""
        ts = int(time.time()) if ts is None else ts
        request_id = request_id or str(uuid.uuid4())
        manifest = f"id:{payment_id};request-id:{request_id};ts:{ts};"
        v1 = hmac.new(secret.encode(), manifest.encode(), hashlib.sha256).hexdigest()
        body = json.dumps(
            {
                "action": action,
                "api_version": "v1",
                "data": {"id": str(payment_id)},
                "date_created": _now(),
                "id": int(time.time() * 1000) % 10**11,
                "live_mode": False,
                "type": "payment",
                "user_id": str(self.collector_id),
            }
        ).encode()
        headers = {"x-signature": f"ts={ts},v1={v1}", "x-request-id": request_id, "content-type": "application/json"}
        return {"data.id": str(payment_id), "type": "payment"}, headers, body

    # ---- the API ----------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI()

        def err(status: int, message: str, error: str) -> JSONResponse:
            return JSONResponse({"message": message, "error": error, "status": status, "cause": []}, status_code=status)

        @app.middleware("http")
        async def guard(request: Request, call_next):
            body = await request.body()
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "headers": dict(request.headers),
                    "json": json.loads(body) if body else None,
                }
            )
            if self.failures:
                return err(self.failures.pop(0), "internal_error", "internal_error")
            if request.headers.get("authorization") != f"Bearer {self.access_token}":
                return err(401, "invalid access token", "unauthorized")
            return await call_next(request)

        def idempotent(request: Request, create) -> JSONResponse:
            key = request.headers.get("x-idempotency-key")
            if key and key in self.by_idempotency:
                status, obj = self.by_idempotency[key]
                return JSONResponse(obj, status_code=status)
            status, obj = create()
            if key and status < 300:
                self.by_idempotency[key] = (status, obj)
            return JSONResponse(obj, status_code=status)

        @app.post("/v1/payments")
        async def create_payment(request: Request):
            data = await request.json()

            def create():
                amount = data.get("transaction_amount")
                if not isinstance(amount, (int, float)) or amount <= 0:
                    return 400, {
                        "message": "transaction_amount must be positive",
                        "error": "bad_request",
                        "status": 400,
                    }
                if not (data.get("payer") or {}).get("email"):
                    return 400, {"message": "payer.email must be a valid email", "error": "bad_request", "status": 400}
                if data.get("payment_method_id") != "pix":
                    return 400, {"message": "only pix in this fake", "error": "bad_request", "status": 400}
                pid = str(next(self._ids))
                qr = f"00020126580014br.gov.bcb.pix0136{uuid.uuid4()}5204000053039865406{amount:.2f}5802BR6304ABCD"
                self.payments[pid] = {
                    "id": int(pid),
                    "status": "pending",
                    "status_detail": "pending_waiting_transfer",
                    "transaction_amount": amount,
                    "currency_id": "BRL",
                    "description": data.get("description"),
                    "external_reference": data.get("external_reference"),
                    "payment_method_id": "pix",
                    "payment_type_id": "bank_transfer",
                    "notification_url": data.get("notification_url"),
                    "date_created": _now(),
                    "date_approved": None,
                    "collector_id": self.collector_id,
                    "live_mode": False,
                    "point_of_interaction": {
                        "type": "PIX",
                        "transaction_data": {
                            "qr_code": qr,
                            "qr_code_base64": "iVBORw0KGgo=",
                            "ticket_url": f"https://www.mercadopago.com.br/payments/{pid}/ticket?caller_id=1&hash={uuid.uuid4()}",
                        },
                    },
                }
                return 201, self.payments[pid]

            return idempotent(request, create)

        @app.get("/v1/payments/{payment_id}")
        async def get_payment(payment_id: str):
            if payment_id not in self.payments:
                return err(404, "Payment not found", "not_found")
            return self.payments[payment_id]

        @app.post("/checkout/preferences")
        async def create_preference(request: Request):
            data = await request.json()

            def create():
                items = data.get("items") or []
                if not items or any(i.get("unit_price", 0) <= 0 or i.get("quantity", 0) <= 0 for i in items):
                    return 400, {"message": "items invalid", "error": "bad_request", "status": 400}
                pref_id = f"{self.collector_id}-{uuid.uuid4()}"
                self.preferences[pref_id] = {
                    **data,
                    "id": pref_id,
                    "collector_id": self.collector_id,
                    "date_created": _now(),
                    "init_point": f"https://www.mercadopago.com.br/checkout/v1/redirect?pref_id={pref_id}",
                    "sandbox_init_point": f"https://sandbox.mercadopago.com.br/checkout/v1/redirect?pref_id={pref_id}",
                }
                return 201, self.preferences[pref_id]

            return idempotent(request, create)

        @app.get("/checkout/preferences/{pref_id}")
        async def get_preference(pref_id: str):
            if pref_id not in self.preferences:
                return err(404, "preference not found", "not_found")
            return self.preferences[pref_id]

        return app
