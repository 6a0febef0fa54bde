"""`make chat`: a terminal WhatsApp for people without a Meta account.

    terminal ──signed Meta webhook──► bot (BOT_URL/webhook) ──Graph API──► fake Graph (8081) ──► terminal

It plays both of Meta's roles around the running bot: it POSTs what Meta would POST (webhook
payloads in the Cloud API format, signed `X-Hub-Signature-256` with WHATSAPP_APP_SECRET), and it
starts the local fake Graph API (serve/devtools/fake_graph.py; or connects to one with --graph-url) whose
captured messages it prints: text as is, product cards saved under --media-dir with their path,
reply buttons and list rows as numbered choices (type the number to pick one: it goes back as an
interactive reply, exactly like tapping it on a phone). Messages shown are acknowledged with
`delivered` and `read` status callbacks, as a phone would.

Start the bot with the Graph API pointed at the fake, e.g.
    WHATSAPP_API_BASE_URL=http://127.0.0.1:8081 make serve      # terminal 1
    make chat                                                    # terminal 2 (BOT_URL=... to change)
Both read the same .env / environment (WHATSAPP_APP_SECRET, WHATSAPP_PHONE_NUMBER_ID); with
ENV=development both fall back to the same dev values.

Commands: a number picks a choice; /image [caption], /audio, /sticker, /location, /contact,
/react [emoji] (to the bot's last message) send the other message types; /quit leaves.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import httpx

from serve.devtools.fake_graph import FakeGraphServer
from serve.settings import get_settings
from serve.whatsapp import cloud_api as wa


class Phone:
    """One simulated customer: sends signed webhooks, shows what the bot sent through the fake."""

    def __init__(
        self,
        bot_url: str,
        graph_url: str,
        *,
        app_secret: str,
        phone_number_id: str,
        phone: str,
        name: str,
        media_dir: Path,
        out=print,
    ):
        self.bot, self.graph = httpx.Client(base_url=bot_url, timeout=30), httpx.Client(base_url=graph_url, timeout=10)
        self.secret, self.phone_number_id, self.phone, self.name = app_secret, phone_number_id, phone, name
        self.media_dir, self.out = media_dir, out
        self.seen = -1  # index of the last fake-Graph message already shown
        self.choices: list[tuple[str, str, str]] = []  # (kind, id, title) of the last interactive message
        self.last_bot_id: str | None = None
        self.media_dir.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------------- customer → bot
    def post(self, payload: dict) -> bool:
        body = json.dumps(payload, ensure_ascii=False).encode()
        try:
            res = self.bot.post(
                "/webhook",
                content=body,
                headers={"Content-Type": "application/json", "X-Hub-Signature-256": wa.sign(body, self.secret)},
            )
        except httpx.HTTPError as exc:
            self.out(f"! bot unreachable at {self.bot.base_url} ({type(exc).__name__}); is it running?")
            return False
        if res.status_code != 200:
            self.out(f"! bot answered HTTP {res.status_code}: {res.text[:200]}")
        return res.status_code == 200

    def send(self, kind: str, body: dict | list, context_id: str | None = None) -> None:
        msg = wa.inbound_message(self.phone, kind, body, context_id=context_id)
        self.post(wa.webhook_payload(self.phone_number_id, [msg], profile_names={self.phone: self.name}))

    def handle(self, line: str) -> bool:
        """One line typed by the user; False to quit."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        if line.isdigit() and self.choices and 1 <= int(line) <= len(self.choices):
            kind, cid, title = self.choices[int(line) - 1]
            sub = "button_reply" if kind == "button" else "list_reply"
            self.send("interactive", {"type": sub, sub: {"id": cid, "title": title}}, context_id=self.last_bot_id)
            self.out(f"> [{title}]")
            return True
        cmd, _, arg = line.partition(" ")
        fake_media = {"sha256": "0" * 44, "id": str(int(time.time() * 1000))}
        commands = {
            "/image": ("image", {**fake_media, "mime_type": "image/jpeg", **({"caption": arg} if arg else {})}),
            "/audio": ("audio", {**fake_media, "mime_type": "audio/ogg; codecs=opus", "voice": True}),
            "/sticker": ("sticker", {**fake_media, "mime_type": "image/webp", "animated": False}),
            "/location": (
                "location",
                {
                    "latitude": -23.561414,
                    "longitude": -46.655881,
                    "name": "MASP",
                    "address": "Av. Paulista, 1578 - São Paulo",
                },
            ),
            "/contact": (
                "contacts",
                [
                    {
                        "name": {"formatted_name": "Carlos Souza", "first_name": "Carlos"},
                        "phones": [{"phone": "+55 21 99876-5432", "type": "CELL"}],
                    }
                ],
            ),
            "/react": ("reaction", {"message_id": self.last_bot_id or "", "emoji": arg or "👍"}),
        }
        if cmd in commands:
            self.send(*commands[cmd])
        elif cmd.startswith("/"):
            self.out(f"! unknown command {cmd}; try {', '.join(commands)} or /quit")
        else:
            self.send("text", {"body": line})
        return True

    # ---------------------------------------------------------------------- bot → customer
    def poll(self) -> int:
        """Show every new message the bot sent to this phone; returns how many."""
        new = [m for m in self.graph.get("/_fake/messages", params={"after": self.seen}).json()]
        for m in new:
            self.seen = max(self.seen, m["index"])
            if m["to"] != self.phone:
                continue
            self.show(m)
            self.last_bot_id = m["id"]
            for status in ("delivered", "read"):
                self.post(
                    wa.webhook_payload(
                        self.phone_number_id,
                        [],
                        statuses=[
                            {
                                "id": m["id"],
                                "status": status,
                                "timestamp": str(int(time.time())),
                                "recipient_id": self.phone,
                            }
                        ],
                    )
                )
        return len(new)

    def show(self, m: dict) -> None:
        p, kind = m["payload"], m["type"]
        if kind == "text":
            self.out(f"bot: {p['text']['body']}")
        elif kind == "image":
            image = p["image"]
            path = self.save_media(image.get("id"), m["id"]) if image.get("id") else image.get("link")
            self.out(f"bot: [imagem: {path}]")
            self.out(f"     {image.get('caption', '')}")
        elif kind == "interactive":
            inter, descriptions = p["interactive"], {}
            self.out(f"bot: {inter['body']['text']}")
            if inter["type"] == "button":
                self.choices = [("button", b["reply"]["id"], b["reply"]["title"]) for b in inter["action"]["buttons"]]
            else:
                self.out(f"     ({inter['action']['button']})")
                rows = [r for s in inter["action"]["sections"] for r in s["rows"]]
                self.choices = [("list", r["id"], r["title"]) for r in rows]
                descriptions = {r["id"]: r.get("description") for r in rows}
            for i, (_, cid, title) in enumerate(self.choices, 1):
                extra = descriptions.get(cid)
                self.out(f"   {i}. {title}" + (f" — {extra}" if extra else ""))
        elif kind == "template":
            t = p["template"]
            params = [x["text"] for c in t.get("components", []) for x in c.get("parameters", [])]
            self.out(f"bot: [modelo {t['name']} ({t['language']['code']})] {' · '.join(params)}")
        else:
            self.out(f"bot: [{kind}] {json.dumps(p.get(kind), ensure_ascii=False)[:200]}")

    def save_media(self, media_id: str, wamid: str) -> str:
        res = self.graph.get(f"/_fake/media/{media_id}")
        suffix = {"image/png": ".png", "image/jpeg": ".jpg"}.get(res.headers.get("content-type", ""), ".bin")
        path = self.media_dir / f"{wamid.removeprefix('wamid.')}{suffix}"
        path.write_bytes(res.content)
        return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bot-url", default=None, help="the running bot (default $BOT_URL or http://127.0.0.1:8080)")
    parser.add_argument("--graph-url", default=None, help="a running fake Graph server (default: start one)")
    parser.add_argument("--graph-port", type=int, default=8081, help="port of the fake Graph server we start")
    parser.add_argument("--media-dir", default="chat_media", help="where product cards are saved")
    parser.add_argument("--phone", default="5511987654321", help="the simulated customer's number (E.164 digits)")
    parser.add_argument("--name", default="Cliente Teste", help="WhatsApp profile name")
    args = parser.parse_args()
    import os

    settings = get_settings()
    bot_url = args.bot_url or os.environ.get("BOT_URL", "http://127.0.0.1:8080")
    server = None
    if args.graph_url is None:
        server = FakeGraphServer(Path(args.media_dir) / "graph", port=args.graph_port).__enter__()
    graph_url = args.graph_url or server.base_url
    phone = Phone(
        bot_url,
        graph_url,
        app_secret=settings.WHATSAPP_APP_SECRET,
        phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
        phone=args.phone,
        name=args.name,
        media_dir=Path(args.media_dir),
    )
    print(f"WhatsApp simulator: you are +{args.phone} ({args.name}); bot {bot_url}; fake Graph {graph_url}")
    print("The bot must send to the fake: WHATSAPP_API_BASE_URL=" + graph_url + ". /quit to leave.\n")
    stop = threading.Event()

    def poller():
        while not stop.is_set():
            try:
                phone.poll()
            except httpx.HTTPError as exc:
                print(f"! fake Graph unreachable: {exc}")
                stop.wait(2)
            stop.wait(0.3)

    threading.Thread(target=poller, daemon=True).start()
    try:
        while phone.handle(input()):
            pass
    except (EOFError, KeyboardInterrupt):
        pass
    finally:
        stop.set()
        if server is not None:
            server.__exit__(None, None, None)


if __name__ == "__main__":
    main()
