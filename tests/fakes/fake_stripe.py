"""A local Stripe API (the REST paths the official SDK calls) for fast, offline tests.

    with FakeStripe(api_key="sk_test_123") as fake:             # uvicorn thread, random port
        provider = StripeProvider(..., api_base_url=fake.url)
        fake.complete(session_id)                                # the customer paid on Checkout
        body, headers = fake.event(session_id, "checkout.session.completed", whsec)

Endpoints (https://docs.stripe.com/api): POST /v1/checkout/sessions (form-encoded, as the SDK
sends), GET /v1/checkout/sessions/{id}, GET /v1/checkout/sessions?payment_intent=, GET
/v1/payment_intents/{id}, GET /v1/charges/{id}, GET /v1/disputes/{id}. `refund` and `dispute` make
the charge / dispute objects Stripe's `charge.refunded` / `charge.dispute.created` events carry. Bearer key checked;
`Idempotency-Key` honoured like Stripe does (same key + same params → the first answer again,
with `Idempotent-Replayed: true`; same key + other params → 400 idempotency_error).
Events are signed like Stripe: `Stripe-Signature: t=<ts>,v1=<HMAC-SHA256(secret, "<ts>.<body>")>`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import threading
import time
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.fakes.local_server import LocalServer


def _error(status: int, message: str, type_: str = "invalid_request_error", code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"type": type_, "message": message, "code": code}}, status_code=status)


class FakeStripe(LocalServer):
    def __init__(self, api_key: str = "sk_test_fake"):
        self.api_key = api_key
        self.sessions: dict[str, dict] = {}
        self.intents: dict[str, dict] = {}
        self.charges: dict[str, dict] = {}
        self.disputes: dict[str, dict] = {}
        self.by_idempotency: dict[str, tuple[str, dict]] = {}
        self.requests: list[dict] = []
        self.failures: list[int] = []
        self.create_delay_s = 0.0  # a slow gateway: each session creation answers this late
        self.creating = threading.Event()  # set when a session creation arrives
        super().__init__(self._build_app(), "fake-stripe")

    # ---- test controls --------------------------------------------------------------------
    def fail_next(self, status: int = 500, times: int = 1) -> None:
        self.failures += [status] * times

    def _intent(self, s: dict, status: str) -> dict:
        pi = {
            "id": f"pi_{secrets.token_hex(12)}",
            "object": "payment_intent",
            "amount": s["amount_total"],
            "currency": s["currency"],
            "status": status,
            "last_payment_error": None,
            "livemode": False,
        }
        self.intents[pi["id"]] = pi
        s["payment_intent"] = pi["id"]
        return pi

    def complete(self, session_id: str, paid: bool = True) -> None:
        """Checkout finished: card → paid now; async method (boleto/PIX) → paid=False, still processing."""
        s = self.sessions[session_id]
        s["status"] = "complete"
        s["payment_status"] = "paid" if paid else "unpaid"
        self._intent(s, "succeeded" if paid else "processing")

    def settle_async(self, session_id: str, succeeded: bool) -> None:
        s = self.sessions[session_id]
        pi = self.intents[s["payment_intent"]]
        if succeeded:
            pi["status"], s["payment_status"] = "succeeded", "paid"
        else:
            pi["status"] = "requires_payment_method"
            pi["last_payment_error"] = {"code": "payment_method_provider_decline", "message": "boleto expirou"}

    def charge(self, session_id: str) -> dict:
        """The paid session's charge (made on first use, like the PaymentIntent's latest_charge)."""
        s = self.sessions[session_id]
        pi = self.intents[s["payment_intent"]]
        if not pi.get("latest_charge"):
            ch = {
                "id": f"ch_{secrets.token_hex(12)}",
                "object": "charge",
                "amount": s["amount_total"],
                "amount_refunded": 0,
                "currency": s["currency"],
                "paid": True,
                "refunded": False,
                "payment_intent": pi["id"],
                "livemode": False,
            }
            self.charges[ch["id"]] = ch
            pi["latest_charge"] = ch["id"]
        return self.charges[pi["latest_charge"]]

    def refund(self, session_id: str, amount: int | None = None) -> dict:
        """Refund the session's charge (all of it by default): the `charge.refunded` object."""
        ch = self.charge(session_id)
        ch["amount_refunded"] = ch["amount"] if amount is None else amount
        ch["refunded"] = ch["amount_refunded"] >= ch["amount"]
        return ch

    def dispute(self, session_id: str, status: str = "needs_response") -> dict:
        """A chargeback on the session's charge: the `charge.dispute.created` object."""
        ch = self.charge(session_id)
        dp = {
            "id": f"dp_{secrets.token_hex(12)}",
            "object": "dispute",
            "amount": ch["amount"],
            "charge": ch["id"],
            "payment_intent": ch["payment_intent"],
            "currency": ch["currency"],
            "reason": "fraudulent",
            "status": status,
            "livemode": False,
        }
        self.disputes[dp["id"]] = dp
        ch["disputed"] = True
        return dp

    def object_event(self, obj: dict, type_: str, secret: str) -> tuple[bytes, dict]:
        """A signed event about any API object (a charge, a dispute)."""
        ts = int(time.time())
        body = json.dumps(
            {
                "id": f"evt_{secrets.token_hex(12)}",
                "object": "event",
                "api_version": "2025-01-27.acacia",
                "created": ts,
                "data": {"object": obj},
                "livemode": False,
                "type": type_,
            }
        ).encode()
        return body, self.sign(body, secret, ts)

    def expire(self, session_id: str) -> None:
        self.sessions[session_id]["status"] = "expired"

    def event(
        self, session_id: str, type_: str, secret: str, *, ts: int | None = None, session_override: dict | None = None
    ) -> tuple[bytes, dict]:
        """A webhook as Stripe sends it: (raw body, headers with Stripe-Signature)."""
        ts = int(time.time()) if ts is None else ts
        obj = {**self.sessions[session_id], **(session_override or {})}
        body = json.dumps(
            {
                "id": f"evt_{secrets.token_hex(12)}",
                "object": "event",
                "api_version": "2025-01-27.acacia",
                "created": ts,
                "data": {"object": obj},
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "type": type_,
            }
        ).encode()
        return body, self.sign(body, secret, ts)

    @staticmethod
    def sign(body: bytes, secret: str, ts: int) -> dict:
        v1 = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
        return {"stripe-signature": f"t={ts},v1={v1}", "content-type": "application/json"}

    # ---- the API ----------------------------------------------------------------------------
    def _build_app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def guard(request: Request, call_next):
            body = (await request.body()).decode()
            self.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "headers": dict(request.headers),
                    "form": dict(parse_qsl(body)),
                }
            )
            if self.failures:
                return _error(self.failures.pop(0), "An unknown error occurred", "api_error")
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error(401, "Invalid API Key provided", code="api_key_invalid")
            return await call_next(request)

        @app.post("/v1/checkout/sessions")
        async def create_session(request: Request):
            self.creating.set()
            if self.create_delay_s:
                await asyncio.sleep(self.create_delay_s)
            raw = (await request.body()).decode()
            form = dict(parse_qsl(raw, keep_blank_values=True))
            key = request.headers.get("idempotency-key")
            if key and key in self.by_idempotency:
                first_raw, obj = self.by_idempotency[key]
                if first_raw != raw:
                    return _error(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters",
                        "idempotency_error",
                    )
                return JSONResponse(obj, headers={"Idempotent-Replayed": "true"})
            for required in ("mode", "line_items[0][price_data][currency]", "line_items[0][price_data][unit_amount]"):
                if required not in form:
                    return _error(400, f"Missing required param: {required}.", code="parameter_missing")
            amount, n = 0, 0
            while f"line_items[{n}][quantity]" in form:
                amount += int(form[f"line_items[{n}][price_data][unit_amount]"]) * int(
                    form[f"line_items[{n}][quantity]"]
                )
                n += 1
            sid = f"cs_test_{secrets.token_hex(16)}"
            obj = {
                "id": sid,
                "object": "checkout.session",
                "mode": form["mode"],
                "status": "open",
                "payment_status": "unpaid",
                "amount_total": amount,
                "amount_subtotal": amount,
                "currency": form["line_items[0][price_data][currency]"],
                "client_reference_id": form.get("client_reference_id"),
                "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
                "payment_method_types": [v for k, v in sorted(form.items()) if k.startswith("payment_method_types[")],
                "payment_intent": None,
                "success_url": form.get("success_url"),
                "cancel_url": form.get("cancel_url"),
                "url": f"https://checkout.stripe.com/c/pay/{sid}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
                "created": int(time.time()),
                "expires_at": int(time.time()) + 86_400,
                "livemode": False,
            }
            self.sessions[sid] = obj
            if key:
                self.by_idempotency[key] = (raw, obj)
            return obj

        @app.get("/v1/checkout/sessions")
        async def list_sessions(payment_intent: str | None = None):
            data = [
                s for s in self.sessions.values() if payment_intent is None or s["payment_intent"] == payment_intent
            ]
            return {"object": "list", "url": "/v1/checkout/sessions", "has_more": False, "data": data}

        @app.get("/v1/charges/{cid}")
        async def get_charge(cid: str):
            if cid not in self.charges:
                return _error(404, f"No such charge: '{cid}'", code="resource_missing")
            return self.charges[cid]

        @app.get("/v1/disputes/{did}")
        async def get_dispute(did: str):
            if did not in self.disputes:
                return _error(404, f"No such dispute: '{did}'", code="resource_missing")
            return self.disputes[did]

        @app.get("/v1/checkout/sessions/{sid}")
        async def get_session(sid: str):
            if sid not in self.sessions:
                return _error(404, f"No such checkout.session: '{sid}'", code="resource_missing")
            return self.sessions[sid]

        @app.get("/v1/payment_intents/{pid}")
        async def get_intent(pid: str):
            if pid not in self.intents:
                return _error(404, f"No such payment_intent: '{pid}'", code="resource_missing")
            return self.intents[pid]

        return app
