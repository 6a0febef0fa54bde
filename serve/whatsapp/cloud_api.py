"""WhatsApp Cloud API edge: the ONLY module that knows the Graph API wire format.

Inbound: `verify_signature` checks `X-Hub-Signature-256` on the raw body, `parse_webhook` turns a
(possibly batched: several `entry[]`, `changes[]`, messages and customers) webhook payload into
platform-neutral `Inbound` messages and `StatusUpdate`s. Outbound: `reply_payload` builds the
`/{phone_number_id}/messages` JSON for every `Reply` kind, `GraphClient` sends it with httpx.

Why httpx and not pywa: pywa 4.5 hard-codes `https://graph.facebook.com/v{version}` as the
session base URL inside `GraphAPI.__init__`; pointing it at a local fake server would mean
patching a private attribute after construction. The Graph API surface we need (send, media
upload, mark-as-read) is four small JSON calls, so we speak it directly against
`WHATSAPP_API_BASE_URL` + version, which tests and `make chat` aim at `serve/devtools/fake_graph.py`.
The error codes and their meaning follow Meta's error-code reference (also mirrored in
`pywa.errors`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mimetypes
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from serve.conversation.messages import (
    ButtonsReply,
    ImageReply,
    Inbound,
    ListReply,
    NoticeReply,
    Reply,
    TemplateReply,
    TextReply,
)

log = logging.getLogger(__name__)

# --- error codes (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes) ---
# Throughput / rate limits: back off and retry the same message.
THROTTLING_CODES = frozenset({4, 80007, 130429, 131048, 131056})
PAIR_RATE_CODE = 131056  # too many messages to ONE recipient: only that recipient backs off
REENGAGEMENT_CODE = 131047  # more than 24 h since the customer's last message: template only
# Temporary server-side trouble: retry with backoff as well.
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016, 133004})


# ------------------------------------------------------------------------------- signature
def sign(raw_body: bytes, app_secret: str) -> str:
    """The `X-Hub-Signature-256` header value Meta sends for `raw_body`."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def verify_signature(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """True if `header` is `sha256=<hex HMAC-SHA256 of the raw body keyed by the app secret>`.

    Computed on the exact bytes received (re-serialising the JSON would change them);
    `hmac.compare_digest` keeps the comparison constant-time."""
    if not header or not app_secret or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(raw_body, app_secret).encode(), header.strip().encode())


# ------------------------------------------------------------------------------- inbound
StatusName = Literal["sent", "delivered", "read", "failed"]


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery status callback for one of OUR outbound messages."""

    wa_message_id: str
    status: StatusName
    recipient: str
    timestamp: int
    errors: tuple[dict, ...] = ()

    @property
    def error_text(self) -> str | None:
        if not self.errors:
            return None
        return "; ".join(
            f"{e.get('code')}: {e.get('title') or e.get('message')}"
            + (f" ({e['error_data']['details']})" if (e.get("error_data") or {}).get("details") else "")
            for e in self.errors
        )


@dataclass
class ParsedWebhook:
    messages: list[Inbound] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    # wa_id -> profile name, from `value.contacts[]` (the sender's WhatsApp profile)
    profile_names: dict[str, str] = field(default_factory=dict)
    # phone_number_id each message/status was addressed to (our business number), by wa id
    phone_number_ids: dict[str, str] = field(default_factory=dict)
    skipped: int = 0  # malformed items logged and dropped


def _media_text(msg: dict, kind: str) -> tuple[str | None, str | None]:
    media = msg.get(kind) or {}
    return media.get("id"), media.get("caption")


MAX_UNIX_S = 253402300799  # 9999-12-31: beyond it no datetime holds the time


def _unix_seconds(value) -> int:
    """Meta's "timestamp" (a string of unix seconds); 0, meaning unknown (the store uses its own
    clock), when it is missing or outside what a datetime can hold."""
    seconds = int(value or 0)
    return seconds if 0 <= seconds <= MAX_UNIX_S else 0


def _dicts(items) -> list[dict]:
    """The dict items of a list from the payload (anything else is not an item Meta sends)."""
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def parse_message(msg: dict, profile_name: str | None = None) -> Inbound:
    """One `value.messages[]` item -> `Inbound`. Unknown types become `unsupported`, never an error."""
    kind = msg.get("type", "unsupported")
    base: dict[str, Any] = dict(
        wa_message_id=msg["id"],
        phone=str(msg["from"]),
        timestamp=_unix_seconds(msg.get("timestamp")),
        profile_name=profile_name,
    )
    if kind == "text":
        return Inbound(type="text", text=(msg.get("text") or {}).get("body", ""), **base)
    if kind == "interactive":
        inter = msg.get("interactive") or {}
        sub = inter.get("type")
        if sub in ("button_reply", "list_reply"):
            choice = inter.get(sub) or {}
            return Inbound(type=sub, text=choice.get("title"), choice_id=choice.get("id"), **base)
        return Inbound(type="unsupported", text=None, **base)  # e.g. nfm_reply (Flows)
    if kind == "button":  # quick-reply button of a TEMPLATE message: payload is the id we set
        button = msg.get("button") or {}
        return Inbound(type="button_reply", text=button.get("text"), choice_id=button.get("payload"), **base)
    if kind in ("image", "video", "document", "audio", "sticker"):
        media_id, caption = _media_text(msg, kind)
        if kind == "document" and not caption:
            caption = (msg.get("document") or {}).get("filename")
        return Inbound(type=kind, media_id=media_id, text=caption, **base)
    if kind == "location":
        loc = msg.get("location") or {}
        label = ", ".join(x for x in (loc.get("name"), loc.get("address")) if x) or None
        return Inbound(type="location", location=(float(loc["latitude"]), float(loc["longitude"])), text=label, **base)
    if kind == "contacts":
        names = [((c.get("name") or {}).get("formatted_name") or "") for c in msg.get("contacts") or []]
        return Inbound(type="contacts", text=", ".join(n for n in names if n) or None, **base)
    if kind == "reaction":
        reaction = msg.get("reaction") or {}
        # an empty/missing emoji means the customer REMOVED their reaction
        return Inbound(
            type="reaction", reaction_to=reaction.get("message_id"), emoji=reaction.get("emoji") or None, **base
        )
    if kind == "order":
        order = msg.get("order") or {}
        items = [f"{i.get('quantity')}x {i.get('product_retailer_id')}" for i in order.get("product_items") or []]
        text = "pedido do catálogo: " + ", ".join(items) + (f" — {order['text']}" if order.get("text") else "")
        return Inbound(type="order", text=text, **base)
    return Inbound(type="unsupported", **base)  # "unsupported", "system", "request_welcome", future types


def parse_webhook(payload: dict) -> ParsedWebhook:
    """A whole webhook POST body -> every message, status and profile name it carries.

    Malformed items are logged (without PII) and skipped so one bad item never makes Meta
    retry the whole batch forever."""
    out = ParsedWebhook()
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return out
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field") != "messages" or not isinstance(value, dict):
                continue  # account_update, message_template_status_update, ...: not ours
            metadata = value.get("metadata")
            number_id = str((metadata if isinstance(metadata, dict) else {}).get("phone_number_id") or "")
            for contact in _dicts(value.get("contacts")):
                profile = contact.get("profile")
                name = profile.get("name") if isinstance(profile, dict) else None
                if contact.get("wa_id") and isinstance(name, str) and name:
                    out.profile_names[str(contact["wa_id"])] = name
            for err in _dicts(value.get("errors")):
                log.warning("webhook-level error code=%s title=%s", err.get("code"), err.get("title"))
            messages = value.get("messages") if isinstance(value.get("messages"), list) else []
            out.skipped += sum(not isinstance(m, dict) for m in messages)
            for msg in _dicts(messages):
                try:
                    inbound = parse_message(msg, out.profile_names.get(str(msg.get("from"))))
                except (AttributeError, KeyError, TypeError, ValueError) as exc:  # a field of the wrong shape
                    out.skipped += 1
                    log.warning("skipping malformed message type=%s: %r", msg.get("type"), exc)
                    continue
                out.messages.append(inbound)
                out.phone_number_ids[inbound.wa_message_id] = number_id
            for st in _dicts(value.get("statuses")):
                if st.get("status") not in ("sent", "delivered", "read", "failed") or not st.get("id"):
                    out.skipped += 1
                    continue
                try:
                    status = StatusUpdate(
                        wa_message_id=str(st["id"]),
                        status=st["status"],
                        recipient=str(st.get("recipient_id", "")),
                        timestamp=_unix_seconds(st.get("timestamp")),
                        errors=tuple(_dicts(st.get("errors"))),
                    )
                except (TypeError, ValueError) as exc:
                    out.skipped += 1
                    log.warning("skipping malformed status: %r", exc)
                    continue
                out.statuses.append(status)
                out.phone_number_ids[status.wa_message_id] = number_id
    return out


# ------------------------------------------------------------------------------- outbound JSON
TEXT_MAX, BODY_MAX, CAPTION_MAX = 4096, 1024, 1024  # Cloud API limits (characters)


def _clip(text: str, limit: int) -> str:
    """Meta refuses the WHOLE message when a text is over its limit; cut it instead (rare, logged)."""
    if len(text) <= limit:
        return text
    log.warning("outbound text of %d chars cut to the Cloud API limit of %d", len(text), limit)
    return text[: limit - 1] + "…"


def _envelope(to: str, kind: str, body: dict) -> dict:
    return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": kind, kind: body}


def text_payload(to: str, body: str) -> dict:
    return _envelope(to, "text", {"preview_url": False, "body": _clip(body, TEXT_MAX)})


def image_payload(to: str, caption: str, *, media_id: str | None = None, link: str | None = None) -> dict:
    if bool(media_id) == bool(link):
        raise ValueError("image: give exactly one of media_id (uploaded) or link")
    image = {"id": media_id} if media_id else {"link": link}
    if caption:
        image["caption"] = _clip(caption, CAPTION_MAX)
    return _envelope(to, "image", image)


def buttons_payload(to: str, reply: ButtonsReply) -> dict:
    buttons = [{"type": "reply", "reply": {"id": bid, "title": title}} for bid, title in reply.buttons]
    return _envelope(
        to,
        "interactive",
        {"type": "button", "body": {"text": _clip(reply.body, BODY_MAX)}, "action": {"buttons": buttons}},
    )


def list_payload(to: str, reply: ListReply) -> dict:
    rows = [{"id": rid, "title": title, **({"description": desc} if desc else {})} for rid, title, desc in reply.rows]
    return _envelope(
        to,
        "interactive",
        {
            "type": "list",
            "body": {"text": _clip(reply.body, BODY_MAX)},
            "action": {"button": reply.button, "sections": [{"rows": rows}]},
        },
    )


def template_payload(to: str, reply: TemplateReply) -> dict:
    template: dict[str, Any] = {"name": reply.name, "language": {"code": reply.language}}
    if reply.parameters:
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in reply.parameters]}
        ]
    return _envelope(to, "template", template)


def reply_payload(to: str, reply: Reply, *, media_id: str | None = None) -> dict:
    """The `/messages` body for any `Reply`; images need the `media_id` of the uploaded card."""
    if isinstance(reply, (TextReply, NoticeReply)):  # a notice is free text inside the window
        return text_payload(to, reply.body)
    if isinstance(reply, ImageReply):
        return image_payload(to, reply.caption, media_id=media_id)
    if isinstance(reply, ButtonsReply):
        return buttons_payload(to, reply)
    if isinstance(reply, ListReply):
        return list_payload(to, reply)
    if isinstance(reply, TemplateReply):
        return template_payload(to, reply)
    raise TypeError(f"unknown reply type {type(reply).__name__}")


def mark_read_payload(message_id: str, *, typing: bool = True) -> dict:
    """Blue ticks on `message_id`; with `typing` the customer also sees "digitando…" (≤ 25 s)."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
    if typing:
        body["typing_indicator"] = {"type": "text"}
    return body


# ------------------------------------------------------------------------------- errors
class GraphError(Exception):
    """A failed Graph API call (Meta's `{"error": {...}}` body, or a transport failure: code None)."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        subcode: int | None = None,
        details: str | None = None,
        fbtrace_id: str | None = None,
    ):
        super().__init__(message)
        self.message, self.http_status, self.code = message, http_status, code
        self.subcode, self.details, self.fbtrace_id = subcode, details, fbtrace_id

    @property
    def kind(self) -> Literal["throttled", "reengagement", "transient", "fatal"]:
        if self.code in THROTTLING_CODES:
            return "throttled"
        if self.code == REENGAGEMENT_CODE:
            return "reengagement"
        if self.code is None or self.code in TRANSIENT_CODES or (self.http_status or 0) >= 500:
            return "transient"  # network error, timeout, 5xx: the same request may well succeed later
        return "fatal"

    @property
    def retryable(self) -> bool:
        return self.kind in ("throttled", "transient")

    def __str__(self) -> str:
        extra = f" ({self.details})" if self.details else ""
        return f"Graph API error code={self.code} http={self.http_status}: {self.message}{extra}"


def parse_graph_error(response: httpx.Response) -> GraphError:
    try:
        err = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return GraphError(response.text[:300] or "non-JSON error", http_status=response.status_code)
    return GraphError(
        str(err.get("message", "")),
        http_status=response.status_code,
        code=err.get("code"),
        subcode=err.get("error_subcode"),
        details=(err.get("error_data") or {}).get("details"),
        fbtrace_id=err.get("fbtrace_id"),
    )


# ------------------------------------------------------------------------------- client
class GraphClient:
    """Async Cloud API client for ONE business number: `{base_url}/{version}/{phone_number_id}/...`."""

    def __init__(
        self,
        *,
        base_url: str,
        api_version: str,
        phone_number_id: str,
        access_token: str,
        timeout_s: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        version = api_version if api_version.startswith("v") else f"v{api_version}"
        self.phone_number_id = phone_number_id
        self._http = httpx.AsyncClient(
            base_url=f"{base_url.rstrip('/')}/{version}",
            timeout=timeout_s,
            transport=transport,
            headers={"Authorization": f"Bearer {access_token}"},
        )

    @classmethod
    def from_settings(cls, settings, **kwargs) -> GraphClient:
        """From `serve.settings.Settings` (WHATSAPP_API_BASE_URL, _API_VERSION, _PHONE_NUMBER_ID, _ACCESS_TOKEN)."""
        return cls(
            base_url=settings.WHATSAPP_API_BASE_URL,
            api_version=settings.WHATSAPP_API_VERSION,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
            access_token=settings.WHATSAPP_ACCESS_TOKEN,
            **kwargs,
        )

    async def _post(self, path: str, **kwargs) -> dict:
        try:
            res = await self._http.post(f"/{self.phone_number_id}/{path}", **kwargs)
        except httpx.TransportError as exc:  # connect/read timeouts, resets: retryable
            raise GraphError(f"{type(exc).__name__}: {exc}") from exc
        if res.status_code >= 400:
            raise parse_graph_error(res)
        return res.json()

    async def send(self, payload: dict) -> str:
        """POST a `/messages` body; returns the `wamid` Meta assigned."""
        data = await self._post("messages", json=payload)
        try:
            return data["messages"][0]["id"]
        except (KeyError, IndexError, TypeError) as exc:
            raise GraphError(f"unexpected /messages response: {str(data)[:200]}") from exc

    async def upload_media(self, path: str | Path, mime_type: str | None = None) -> str:
        """Upload a file (e.g. a product card PNG) to `/media`; returns the media id (valid 30 days)."""
        path = Path(path)
        mime = mime_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = await self._post(
            "media",
            data={"messaging_product": "whatsapp", "type": mime},
            files={"file": (path.name, path.read_bytes(), mime)},
        )
        return str(data["id"])

    async def mark_read(self, message_id: str, *, typing: bool = True) -> None:
        await self._post("messages", json=mark_read_payload(message_id, typing=typing))

    async def aclose(self) -> None:
        await self._http.aclose()


# ------------------------------------------------------------------------------- inbound builders
# Meta-format payloads for the terminal simulator and tests (what Meta would POST to us).
def inbound_message(
    phone: str,
    kind: str,
    body: dict,
    *,
    wa_message_id: str | None = None,
    timestamp: int | None = None,
    context_id: str | None = None,
) -> dict:
    msg = {
        "from": phone,
        "id": wa_message_id or f"wamid.sim{time.time_ns():x}",
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "type": kind,
        kind: body,
    }
    if context_id:
        msg["context"] = {"from": "", "id": context_id}
    return msg


def webhook_payload(
    phone_number_id: str,
    messages: list[dict],
    *,
    profile_names: dict[str, str] | None = None,
    statuses: list[dict] | None = None,
    display_phone: str = "15550000000",
) -> dict:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": display_phone, "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = [
            {"profile": {"name": (profile_names or {}).get(m["from"], "")}, "wa_id": m["from"]}
            for m in {m["from"]: m for m in messages}.values()
        ]
        value["messages"] = messages
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "0", "changes": [{"value": value, "field": "messages"}]}],
    }
