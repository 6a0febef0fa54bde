"""A local fake of the WhatsApp Cloud (Graph) API, for tests and `make chat`.

It speaks the real protocol at the paths the real client uses, so the bot reaches it only by
setting `WHATSAPP_API_BASE_URL`:

- `POST /{version}/{phone_number_id}/messages`: validates the body the way Meta does (shape,
  Cloud API limits such as ≤ 3 reply buttons with titles ≤ 20 chars, ≤ 10 list rows, known media
  ids) and answers `{"messaging_product": "whatsapp", "contacts": [...], "messages": [{"id":
  "wamid..."}]}` or a Meta-format error `{"error": {"message", "type", "code", "error_data",
  "fbtrace_id"}}`. A mark-as-read body (`"status": "read"`) answers `{"success": true}`.
- `POST /{version}/{phone_number_id}/media`: multipart upload (`messaging_product`, `type`,
  `file`) → `{"id": "<media id>"}`; the file is kept in `--media-dir`.

Control endpoints (not part of Meta's API) under `/_fake/`: `GET messages?after=N` (everything
accepted, in order), `GET reads`, `GET calls` (every call with its outcome and time),
`GET media/{id}` (uploaded bytes), `POST errors` `{"code": 130429, "count": 3, "http_status":
400, "to": null}` (the next `count` sends fail with that Meta error), `POST reset`.
Throughput limits can also be enforced: `max_mps` (sliding 1-second window → 130429) and
`pair_interval_s` (same recipient too soon → 131056).

Run: `python -m serve.devtools.fake_graph --port 8081 --media-dir chat_media/graph`.
In tests: `with FakeGraphServer(tmp_path) as fake: fake.base_url, fake.state.messages`.
"""

from __future__ import annotations

import argparse
import itertools
import secrets
import threading
import time
from collections import deque
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse

ERRORS = {  # code -> (title, details) as Meta words them
    100: ("Invalid parameter", "Invalid parameter"),
    131008: ("Required parameter is missing", "Required parameter is missing"),
    131009: ("Parameter value is not valid", "Parameter value is not valid"),
    190: ("Invalid OAuth access token", "Invalid OAuth access token - Cannot parse access token"),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        "Too many messages sent from the sender phone number to the same recipient phone number in a short period of time.",
    ),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
}
SEND_TYPES = {
    "text",
    "image",
    "interactive",
    "template",
    "audio",
    "document",
    "video",
    "sticker",
    "location",
    "contacts",
    "reaction",
}


class FakeGraphState:
    """Everything the fake accepted or refused; guarded by a lock (tests read it from another thread)."""

    def __init__(
        self,
        media_dir: str | Path,
        *,
        phone_number_id: str | None = None,
        access_token: str | None = None,
        max_mps: float | None = None,
        pair_interval_s: float | None = None,
    ):
        self.media_dir = Path(media_dir)
        self.media_dir.mkdir(parents=True, exist_ok=True)
        self.phone_number_id, self.access_token = phone_number_id, access_token
        self.max_mps, self.pair_interval_s = max_mps, pair_interval_s
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "lock", threading.Lock()):
            self.messages: list[dict] = []
            self.reads: list[dict] = []
            self.calls: list[dict] = []
            self.uploads: dict[str, dict] = {}
            self.injected: deque[dict] = deque()
            self._recent: deque[float] = deque()  # accepted send times within the last second
            self._last_to: dict[str, float] = {}
            self._ids = itertools.count(1)
            self._media_ids = itertools.count(int(time.time()) % 10**9)

    def inject(self, code: int, count: int = 1, http_status: int = 400, to: str | None = None) -> None:
        with self.lock:
            self.injected.extend({"code": code, "http_status": http_status, "to": to} for _ in range(count))


def meta_error(code: int, http_status: int = 400, details: str | None = None) -> JSONResponse:
    title, default_details = ERRORS.get(code, ("Error", "Error"))
    return JSONResponse(
        status_code=http_status,
        content={
            "error": {
                "message": f"(#{code}) {title}",
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": details or default_details},
                "fbtrace_id": "A" + secrets.token_urlsafe(16),
            }
        },
    )


def _bad(details: str, code: int = 131009) -> tuple[int, str]:
    return code, details


def validate_message(body: dict, uploads: dict) -> tuple[int, str] | None:
    """The checks Meta applies to a `/messages` body (the subset the bot can get wrong)."""
    if body.get("messaging_product") != "whatsapp":
        return _bad("The parameter messaging_product is required.", 100)
    if not str(body.get("to") or "").strip():
        return _bad("The parameter to is required.", 100)
    kind = body.get("type", "text")
    if kind not in SEND_TYPES:
        return _bad(f"Unsupported message type: {kind}", 100)
    obj = body.get(kind)
    if not isinstance(obj, (dict, list)):
        return _bad(f"The parameter {kind} is required.", 131008)
    if kind == "text":
        text = obj.get("body")
        if not isinstance(text, str) or not text.strip():
            return _bad("text.body is required", 131008)
        if len(text) > 4096:
            return _bad("text.body must be at most 4096 characters")
    elif kind in ("image", "audio", "document", "video", "sticker"):
        if bool(obj.get("id")) == bool(obj.get("link")):
            return _bad(f"{kind}: exactly one of id or link is required", 131008)
        if obj.get("id") and str(obj["id"]) not in uploads:
            return _bad(f"{kind}.id {obj['id']} is not a valid media id")
        if len(obj.get("caption") or "") > 1024:
            return _bad(f"{kind}.caption must be at most 1024 characters")
    elif kind == "interactive":
        return _validate_interactive(obj)
    elif kind == "template":
        if not obj.get("name") or not (obj.get("language") or {}).get("code"):
            return _bad("template.name and template.language.code are required", 131008)
    return None


def _validate_interactive(obj: dict) -> tuple[int, str] | None:
    text = (obj.get("body") or {}).get("text")
    if not text:
        return _bad("interactive.body.text is required", 131008)
    if len(text) > 1024:
        return _bad("interactive.body.text must be at most 1024 characters")
    action = obj.get("action") or {}
    if obj.get("type") == "button":
        buttons = action.get("buttons") or []
        if not 1 <= len(buttons) <= 3:
            return _bad("interactive.action.buttons must have 1 to 3 buttons")
        replies = [b.get("reply") or {} for b in buttons]
        if any(b.get("type") != "reply" for b in buttons) or any(
            not r.get("id") or not r.get("title") for r in replies
        ):
            return _bad("each button needs type=reply, reply.id and reply.title", 131008)
        if any(len(r["title"]) > 20 for r in replies):
            return _bad("button title length must be at most 20 characters")
        if len({r["id"] for r in replies}) != len(replies) or len({r["title"] for r in replies}) != len(replies):
            return _bad("button ids and titles must be unique")
        return None
    if obj.get("type") == "list":
        sections = action.get("sections") or []
        rows = [row for s in sections for row in s.get("rows") or []]
        if not action.get("button") or len(action["button"]) > 20:
            return _bad("interactive.action.button is required, at most 20 characters")
        if not 1 <= len(sections) <= 10 or not 1 <= len(rows) <= 10:
            return _bad("a list has 1 to 10 sections and 1 to 10 rows in total")
        if len(sections) > 1 and any(not s.get("title") for s in sections):
            return _bad("section titles are required when there is more than one section", 131008)
        if any(not r.get("id") or not r.get("title") for r in rows):
            return _bad("each row needs an id and a title", 131008)
        if any(len(r["title"]) > 24 or len(r.get("description") or "") > 72 or len(r["id"]) > 200 for r in rows):
            return _bad("row title ≤ 24, description ≤ 72, id ≤ 200 characters")
        if len({r["id"] for r in rows}) != len(rows):
            return _bad("row ids must be unique")
        return None
    return _bad(f"unsupported interactive type {obj.get('type')}", 100)


def create_app(state: FakeGraphState) -> FastAPI:
    app = FastAPI(title="fake WhatsApp Graph API")

    def log_call(path: str, status: int, code: int | None = None, to: str | None = None) -> None:
        state.calls.append({"t": time.monotonic(), "path": path, "status": status, "code": code, "to": to})

    def check_auth(request: Request, phone_number_id: str) -> JSONResponse | None:
        if state.access_token and request.headers.get("authorization") != f"Bearer {state.access_token}":
            return meta_error(190, 401)
        if state.phone_number_id and phone_number_id != state.phone_number_id:
            return meta_error(100, 400, f"Unsupported post request. Object with ID '{phone_number_id}' does not exist")
        return None

    @app.post("/{version}/{phone_number_id}/messages")
    async def messages(version: str, phone_number_id: str, request: Request):
        try:
            body = await request.json()
        except ValueError:
            return meta_error(100, 400, "request body is not JSON")
        to = str(body.get("to") or "") if isinstance(body, dict) else ""
        with state.lock:
            if (denied := check_auth(request, phone_number_id)) is not None:
                log_call("messages", denied.status_code, None, to)
                return denied
            if not isinstance(body, dict):
                log_call("messages", 400, 100, to)
                return meta_error(100)
            if body.get("status") == "read":  # mark as read (+ typing indicator)
                if not str(body.get("message_id") or "").startswith("wamid."):
                    return meta_error(100, 400, "message_id is not a valid WhatsApp message id")
                state.reads.append({"message_id": body["message_id"], "typing": "typing_indicator" in body})
                log_call("read", 200)
                return {"success": True}
            now = time.monotonic()
            injected = next((e for e in state.injected if e["to"] in (None, to)), None)
            if injected is not None:
                state.injected.remove(injected)
                log_call("messages", injected["http_status"], injected["code"], to)
                return meta_error(injected["code"], injected["http_status"])
            while state._recent and now - state._recent[0] > 1.0:
                state._recent.popleft()
            if state.max_mps is not None and len(state._recent) >= state.max_mps:
                log_call("messages", 400, 130429, to)
                return meta_error(130429)
            if state.pair_interval_s is not None and now - state._last_to.get(to, -1e9) < state.pair_interval_s:
                log_call("messages", 400, 131056, to)
                return meta_error(131056)
            if (problem := validate_message(body, state.uploads)) is not None:
                log_call("messages", 400, problem[0], to)
                return meta_error(problem[0], 400, problem[1])
            wamid = f"wamid.FAKE{next(state._ids):08d}{secrets.token_hex(6).upper()}"
            media_id = (body.get(body.get("type", "")) or {}).get("id") if body.get("type") == "image" else None
            state._recent.append(now)
            state._last_to[to] = now
            state.messages.append(
                {
                    "index": len(state.messages),
                    "id": wamid,
                    "to": to,
                    "type": body.get("type"),
                    "payload": body,
                    "t": now,
                    "media_path": state.uploads[media_id]["path"] if media_id else None,
                }
            )
            log_call("messages", 200, None, to)
        reply = {"input": to, "wa_id": to}
        message = {"id": wamid} | ({"message_status": "accepted"} if body.get("type") == "template" else {})
        return {"messaging_product": "whatsapp", "contacts": [reply], "messages": [message]}

    @app.post("/{version}/{phone_number_id}/media")
    async def media(version: str, phone_number_id: str, request: Request):
        form = await request.form()
        with state.lock:
            if (denied := check_auth(request, phone_number_id)) is not None:
                return denied
        upload = form.get("file")
        if form.get("messaging_product") != "whatsapp" or upload is None or not hasattr(upload, "read"):
            return meta_error(131008, 400, "messaging_product=whatsapp and file are required")
        mime = str(form.get("type") or upload.content_type or "")
        if not mime.startswith(("image/", "audio/", "video/", "application/", "text/")):
            return meta_error(131009, 400, f"unsupported media type {mime!r}")
        data = await upload.read()
        with state.lock:
            media_id = str(10**15 + next(state._media_ids))  # Meta's media ids are long digit strings
        suffix = Path(upload.filename or "").suffix or ".bin"
        path = state.media_dir / f"{media_id}{suffix}"
        path.write_bytes(data)
        with state.lock:
            state.uploads[media_id] = {
                "path": str(path),
                "mime_type": mime,
                "size": len(data),
                "filename": upload.filename,
            }
            log_call("media", 200)
        return {"id": media_id}

    @app.get("/_fake/messages")
    def recorded(after: int = -1):
        with state.lock:
            return [m for m in state.messages if m["index"] > after]

    @app.get("/_fake/reads")
    def reads():
        with state.lock:
            return list(state.reads)

    @app.get("/_fake/calls")
    def calls():
        with state.lock:
            return list(state.calls)

    @app.get("/_fake/media/{media_id}")
    def media_bytes(media_id: str):
        info = state.uploads.get(media_id)
        if info is None:
            return meta_error(100, 404, f"media {media_id} not found")
        return FileResponse(info["path"], media_type=info["mime_type"])

    @app.post("/_fake/errors")
    async def inject(request: Request):
        spec = await request.json()
        state.inject(int(spec["code"]), int(spec.get("count", 1)), int(spec.get("http_status", 400)), spec.get("to"))
        return {"queued": len(state.injected)}

    @app.post("/_fake/reset")
    def reset():
        state.reset()
        return {"ok": True}

    return app


class ServerThread:
    """Any ASGI app on a local port (0 = a free one) in a background thread: `with ServerThread(app) as srv`."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.host = host

    @property
    def base_url(self) -> str:
        port = self._server.servers[0].sockets[0].getsockname()[1]
        return f"http://{self.host}:{port}"

    def __enter__(self):
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("local server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)


class FakeGraphServer(ServerThread):
    """The fake Graph API on a local port, in a background thread (tests, the simulator)."""

    def __init__(self, media_dir: str | Path, host: str = "127.0.0.1", port: int = 0, **state_kwargs):
        self.state = FakeGraphState(media_dir, **state_kwargs)
        super().__init__(create_app(self.state), host, port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--media-dir", default="chat_media/graph", help="where uploaded media are kept")
    parser.add_argument("--phone-number-id", default=None, help="refuse other ids (default: accept any)")
    parser.add_argument("--access-token", default=None, help="require this bearer token (default: any)")
    parser.add_argument("--max-mps", type=float, default=None, help="throughput limit, messages/s (→ 130429)")
    args = parser.parse_args()
    state = FakeGraphState(
        args.media_dir, phone_number_id=args.phone_number_id, access_token=args.access_token, max_mps=args.max_mps
    )
    print(f"fake Graph API on http://{args.host}:{args.port} (media in {state.media_dir})", flush=True)
    uvicorn.run(create_app(state), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
