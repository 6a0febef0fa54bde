"""The embedded sandbox gateway: a payment page served by the bot (`/pay/{id}`) whose buttons settle
the charge in the gateway's own ledger (`sandbox_charges`) and deliver a signed webhook to the bot.

It behaves like a real gateway on purpose, so the same code path is exercised with no account:
the bot learns of the payment only from a webhook signed with SANDBOX_WEBHOOK_SECRET
(`Zapvendas-Signature: t=<unix s>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`, Stripe's
scheme: the timestamp is signed, so an old capture cannot be replayed after the tolerance), then
fetches the charge from the ledger before moving the order. Event ids are unique per event, so a
replay inside the tolerance is dropped by payment_events' unique key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from serve.commerce.payments.base import (
    CreatedPayment,
    GatewayEvent,
    GatewayPayment,
    WebhookVerificationError,
)
from serve.storage.tables import Order, SandboxCharge, utcnow

SIGNATURE_HEADER = "zapvendas-signature"
CHARGE_ID = re.compile(r"^sbx_[A-Za-z0-9_-]{8,36}$")


def crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): the checksum field 63 of a PIX BR Code."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _tlv(tag: str, value: str) -> str:
    return f"{tag}{len(value):02d}{value}"


def pix_brcode(key: str, amount_cents: int, txid: str, name: str = "ZAPVENDAS SANDBOX", city: str = "SAO PAULO") -> str:
    """A static PIX "copia e cola" payload (EMV MPM, BR Code) for `amount_cents`; in the sandbox the
    key is not a real PIX key, so no bank will pay it (the page's button does)."""
    txid = re.sub(r"[^A-Za-z0-9]", "", txid)[:25] or "***"
    payload = (
        _tlv("00", "01")
        + _tlv("26", _tlv("00", "br.gov.bcb.pix") + _tlv("01", key))
        + _tlv("52", "0000")
        + _tlv("53", "986")  # BRL
        + _tlv("54", f"{amount_cents // 100}.{amount_cents % 100:02d}")
        + _tlv("58", "BR")
        + _tlv("59", name[:25])
        + _tlv("60", city[:15])
        + _tlv("62", _tlv("05", txid))
        + "6304"
    )
    return payload + f"{crc16_ccitt(payload.encode('ascii')):04X}"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


class SandboxProvider:
    name = "sandbox"

    def __init__(
        self, secret: str, public_base_url: str, tolerance_s: int = 300, clock: Callable[[], float] = time.time
    ):
        if not secret:
            raise ValueError("SANDBOX_WEBHOOK_SECRET is empty")
        self.secret = secret
        self.public_base_url = public_base_url.rstrip("/")
        self.tolerance_s = tolerance_s
        self.clock = clock

    # ---- the bot's side ------------------------------------------------------------------
    def create_payment(self, order: Order, idempotency_key: str, *, session: Session) -> CreatedPayment:
        charge = session.scalars(select(SandboxCharge).where(SandboxCharge.idempotency_key == idempotency_key)).first()
        if charge is None:
            charge = SandboxCharge(
                id=f"sbx_{secrets.token_urlsafe(12)}",
                idempotency_key=idempotency_key,
                amount_cents=order.total_cents,
                description=f"Pedido {order.code}",
                method=order.payment_method,
                status="pending",
            )
            session.add(charge)
            session.flush()
        pix = (
            pix_brcode("sandbox@zapvendas.invalid", charge.amount_cents, order.code) if charge.method == "pix" else None
        )
        return CreatedPayment(charge.id, f"{self.public_base_url}/pay/{charge.id}", pix)

    def fetch_payment(self, provider_payment_id: str, *, session: Session | None = None) -> GatewayPayment:
        if session is None:
            raise ValueError("the sandbox ledger is read through a database session")
        charge = session.get(SandboxCharge, provider_payment_id, populate_existing=True)
        if charge is None:
            raise LookupError(f"sandbox charge {provider_payment_id!r} not found")
        return GatewayPayment(
            charge.id,
            charge.status,
            charge.amount_cents,
            "BRL",
            charge.idempotency_key,
            {"id": charge.id, "status": charge.status},
        )

    def verify_webhook(
        self, headers: Mapping[str, str], body: bytes, query: Mapping[str, str] | None = None
    ) -> GatewayEvent:
        header = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER)
        if not header:
            raise WebhookVerificationError(f"missing {SIGNATURE_HEADER} header")
        parts = [p.split("=", 1) for p in header.split(",") if "=" in p]
        ts = next((v.strip() for k, v in parts if k.strip() == "t"), None)
        candidates = [v.strip() for k, v in parts if k.strip() == "v1"]
        if not ts or not ts.isdigit() or not candidates:
            raise WebhookVerificationError("malformed signature header")
        expected = sign(self.secret, body, int(ts)).split("v1=", 1)[1]
        if not any(hmac.compare_digest(expected, c) for c in candidates):
            raise WebhookVerificationError("signature mismatch")
        if abs(self.clock() - int(ts)) > self.tolerance_s:
            raise WebhookVerificationError("timestamp outside the tolerance (replayed or delayed event)")
        try:
            event = json.loads(body)
            charge_id = event["data"]["charge_id"]
            return GatewayEvent(self.name, str(event["id"]), str(event["type"]), str(charge_id), event)
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookVerificationError(f"malformed event body: {exc}") from exc

    # ---- the gateway's side (the /pay page) ------------------------------------------------
    def settle(self, session: Session, charge_id: str, outcome: str) -> tuple[bytes, dict[str, str]] | None:
        """The customer pressed pay ("paid") or decline ("failed") on the page: record it in the
        ledger and return the signed webhook (body, headers) to deliver. Pressing the same button
        again re-sends a fresh notification (like a gateway's "resend"; the store dedupes by
        payment state); None when the charge was already settled the other way."""
        if outcome not in ("paid", "failed"):
            raise ValueError(f"outcome must be paid or failed, got {outcome!r}")
        # Conditional UPDATE: of two concurrent clicks exactly one moves the charge (both engines).
        moved = session.execute(
            update(SandboxCharge)
            .where(SandboxCharge.id == charge_id, SandboxCharge.status == "pending")
            .values(status=outcome, paid_at=utcnow() if outcome == "paid" else None)
        ).rowcount
        charge = session.get(SandboxCharge, charge_id, populate_existing=True)
        if charge is None:
            raise LookupError(f"sandbox charge {charge_id!r} not found")
        if not moved and charge.status != outcome:
            return None
        now = int(self.clock())
        event = {
            "id": f"evt_{secrets.token_hex(12)}",
            "type": f"charge.{'succeeded' if outcome == 'paid' else 'failed'}",
            "created": now,
            "data": {"charge_id": charge.id, "amount_cents": charge.amount_cents, "reference": charge.idempotency_key},
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        return body, {SIGNATURE_HEADER: sign(self.secret, body, now), "content-type": "application/json"}
