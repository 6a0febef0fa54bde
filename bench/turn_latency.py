"""Turn latency of the running bot: webhook received → last outbound message accepted by the Graph API.

    python -m bench.turn_latency                      # starts fake Graph + vLLM (models/export) + bot
    python -m bench.turn_latency --bot-url http://127.0.0.1:8080 --graph-url http://127.0.0.1:8081 \\
        --database-url sqlite:///zapvendas.db        # against a running `make serve`

Scripted pt-BR conversations (ours, below: quick purchase, exploration with a budget, cart edit,
order status, complaint → human) are posted as signed Meta webhooks, one customer at a time and
one message at a time (the next message goes when the previous turn is fully answered), so each
turn is measured alone. Per turn, from the bot's own database clock:

  total    inbox.received_at (webhook stored, before the 200) → max(updated_at) of the turn's outbound
           messages once `sent` (the Graph API accepted them)
  agent    the agent's `turn_latency_ms` event (llm_ms inside it: time in vLLM calls)
  send     first reply enqueued → last reply accepted (pacing, media upload)
  wait     total − agent − send: burst window (INBOX_BURST_WINDOW_S) + worker claim polling

Writes a Markdown report (p50/p95/max per turn kind, what dominates) and the raw rows as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
from sqlalchemy import select

from serve.catalog import Catalogue
from serve.db import make_engine, make_session_factory, session_scope
from serve.models import Customer, Event, InboxItem, Message
from serve.stack import start_vllm, stop, wait_http
from serve.whatsapp import inbound_message, sign, webhook_payload

REPO = Path(__file__).resolve().parents[1]
# (kind, content): "text" → the model answers; "tap" → a button/list id (server-side command).
# "{ref:<query>}" is replaced by the short id of the first catalogue hit for <query>.
SCENARIOS: dict[str, list[tuple[str, str]]] = {
    "quick_purchase": [("text", "oi! vocês têm fone de ouvido bluetooth?"), ("tap", "product:{ref:fone bluetooth}"),
                       ("tap", "add_to_cart:{ref:fone bluetooth}"), ("tap", "checkout"), ("tap", "checkout:pix")],
    "exploration": [("text", "boa tarde, quero um presente para minha mãe"), ("text", "algo até 150 reais"),
                    ("text", "tem perfume?"), ("text", "obrigada, vou pensar")],
    "cart_edit": [("text", "quero 2 jogos de lençol casal"), ("tap", "add_to_cart:{ref:lençol casal}"),
                  ("text", "na verdade tira um lençol"), ("tap", "view_cart")],
    "order_status": [("text", "oi, cadê meu pedido?"), ("text", "obrigado!")],
    "complaint_handoff": [("text", "meu produto chegou quebrado, quero falar com um atendente"),
                          ("tap", "human")],
}


@dataclass
class TurnRow:
    scenario: str
    step: int
    kind: str  # text (model) | tap (command)
    total_ms: float
    agent_ms: float | None
    llm_ms: float | None
    llm_calls: int | None
    send_ms: float
    wait_ms: float
    replies: int


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) — what "p95 under 3 s" means for a handful of turns."""
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))]


def resolve(content: str, catalogue: Catalogue) -> str:
    while "{ref:" in content:
        start = content.index("{ref:")
        end = content.index("}", start)
        hits = catalogue.search(content[start + 5 : end], limit=1) or catalogue.popular(None, 1)
        content = content[:start] + hits[0].ref + content[end + 1 :]
    return content


class Bench:
    def __init__(self, bot_url: str, factory, app_secret: str, phone_number_id: str, catalogue: Catalogue,
                 turn_timeout_s: float = 60):  # fmt: skip
        self.bot = httpx.Client(base_url=bot_url, timeout=30)
        self.factory, self.secret, self.pnid, self.catalogue = factory, app_secret, phone_number_id, catalogue
        self.turn_timeout_s = turn_timeout_s

    def post(self, phone: str, kind: str, content: str) -> str:
        if kind == "text":
            msg = inbound_message(phone, "text", {"body": content})
        else:
            msg = inbound_message(phone, "interactive", {"type": "button_reply", "button_reply": {"id": content, "title": content[:20]}})
        raw = json.dumps(webhook_payload(self.pnid, [msg], profile_names={phone: "Cliente Bench"})).encode()
        r = self.bot.post("/webhook", content=raw, headers={"X-Hub-Signature-256": sign(raw, self.secret),
                                                            "Content-Type": "application/json"})  # fmt: skip
        r.raise_for_status()
        return msg["id"]

    def measure(self, wamid: str, after_message_id: int) -> dict | None:
        """The turn's figures once its inbox row is done and its replies are all sent; None while in flight."""
        with session_scope(self.factory) as s:
            item = s.scalars(select(InboxItem).where(InboxItem.wa_message_id == wamid)).first()
            if item is None or item.status not in ("done", "failed"):
                return None
            out = s.scalars(select(Message).where(Message.customer_id == item.customer_id, Message.direction == "out",
                                                  Message.id > after_message_id).order_by(Message.id)).all()  # fmt: skip
            if not out or any(m.status == "queued" for m in out):
                return None
            ev = s.scalars(select(Event).where(Event.customer_id == item.customer_id, Event.name == "turn_latency_ms")
                           .order_by(Event.id.desc())).first()  # fmt: skip
            sent = [m.updated_at for m in out if m.status in ("sent", "delivered", "read")]
            last = max(sent) if sent else max(m.updated_at for m in out)
            return {"total_ms": (last - item.received_at).total_seconds() * 1000,
                    "send_ms": (last - min(m.created_at for m in out)).total_seconds() * 1000,
                    "event": ev.properties if ev else {}, "replies": len(out), "last_id": out[-1].id}  # fmt: skip

    def last_message_id(self) -> int:
        with session_scope(self.factory) as s:
            return s.scalar(select(Message.id).order_by(Message.id.desc()).limit(1)) or 0

    def run_scenario(self, name: str, steps: list[tuple[str, str]], phone: str) -> list[TurnRow]:
        rows = []
        for i, (kind, content) in enumerate(steps):
            after = self.last_message_id()
            wamid = self.post(phone, kind, resolve(content, self.catalogue))
            deadline = time.monotonic() + self.turn_timeout_s
            while (m := self.measure(wamid, after)) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} step {i}: no complete answer within {self.turn_timeout_s:.0f} s")
                time.sleep(0.05)
            ev = m["event"]
            agent_ms = ev.get("ms")
            rows.append(TurnRow(name, i, kind, round(m["total_ms"], 1), agent_ms, ev.get("llm_ms"), ev.get("llm_calls"),
                                round(m["send_ms"], 1), round(m["total_ms"] - (agent_ms or 0) - m["send_ms"], 1),
                                m["replies"]))  # fmt: skip
            print(f"  {name:<18} step {i} {kind:<4} {m['total_ms']:7.0f} ms  (agent {agent_ms or 0:6.0f}, llm "
                  f"{ev.get('llm_ms', 0) or 0:6.0f} in {ev.get('llm_calls', 0)} calls, send {m['send_ms']:5.0f})", flush=True)
        return rows


def summarise(rows: list[TurnRow]) -> dict:
    out = {}
    for label, sel in (("all turns", rows), ("model turns (text)", [r for r in rows if r.kind == "text"]),
                       ("command turns (buttons)", [r for r in rows if r.kind == "tap"])):  # fmt: skip
        if not sel:
            continue
        tot = [r.total_ms for r in sel]
        out[label] = {
            "n": len(sel), "p50_ms": percentile(tot, 50), "p95_ms": percentile(tot, 95), "max_ms": max(tot),
            "mean_agent_ms": statistics.mean(r.agent_ms or 0 for r in sel),
            "mean_llm_ms": statistics.mean(r.llm_ms or 0 for r in sel),
            "mean_send_ms": statistics.mean(r.send_ms for r in sel),
            "mean_wait_ms": statistics.mean(r.wait_ms for r in sel),
        }  # fmt: skip
    return out


def report(summary: dict, rows: list[TurnRow], meta: dict) -> str:
    lines = ["# Turn latency (bench/turn_latency.py)", "",
             f"Measured {meta['when']} on {meta['machine']}; model `{meta['model']}`; catalogue {meta['catalogue']} "
             f"({meta['products']} products); INBOX_BURST_WINDOW_S={meta['burst_window_s']}; "
             f"AGENT_MAX_TOKENS={meta['max_tokens']}; one customer at a time.", "",
             "Turn = webhook stored (`inbox.received_at`) → last reply accepted by the (fake, local) Graph API.", "",
             "| turns | n | p50 ms | p95 ms | max ms | agent ms (mean) | of which LLM | send ms | wait ms |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for label, s in summary.items():
        lines.append(f"| {label} | {s['n']} | {s['p50_ms']:.0f} | {s['p95_ms']:.0f} | {s['max_ms']:.0f} | "
                     f"{s['mean_agent_ms']:.0f} | {s['mean_llm_ms']:.0f} | {s['mean_send_ms']:.0f} | {s['mean_wait_ms']:.0f} |")  # fmt: skip
    lines += ["", "Per turn:", "", "| scenario | step | kind | total ms | agent | LLM | LLM calls | send | wait | replies |",
              "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r.scenario} | {r.step} | {r.kind} | {r.total_ms:.0f} | {r.agent_ms or 0:.0f} | {r.llm_ms or 0:.0f} | "
                     f"{r.llm_calls or 0} | {r.send_ms:.0f} | {r.wait_ms:.0f} | {r.replies} |")  # fmt: skip
    return "\n".join(lines) + "\n"


def start_stack(args, tmp: Path) -> tuple[list, str, str, str, str]:
    """Fake Graph + vLLM + bot as subprocesses (what `make serve` runs, plus the fake Graph API)."""
    procs = []
    graph_port, vllm_port, bot_port = args.graph_port, args.vllm_port, args.port
    procs.append(subprocess.Popen([sys.executable, "-m", "serve.fake_graph", "--port", str(graph_port),
                                   "--media-dir", str(tmp / "graph")], start_new_session=True))  # fmt: skip
    vllm = start_vllm(args.model, vllm_port, "zapvendas", log_path=tmp / "vllm.log", max_model_len=args.max_model_len)
    procs.append(vllm)
    db_url = f"sqlite:///{tmp / 'bench.db'}"
    env = dict(os.environ, ENV="development", DATABASE_URL=db_url, LLM_BASE_URL=f"http://127.0.0.1:{vllm_port}/v1",
               LLM_MODEL="zapvendas", CATALOGUE_DIR=args.catalogue, MEDIA_DIR=str(tmp / "media"),
               WHATSAPP_API_BASE_URL=f"http://127.0.0.1:{graph_port}", PUBLIC_BASE_URL=f"http://127.0.0.1:{bot_port}",
               INBOX_BURST_WINDOW_S=str(args.burst_window), LOG_LEVEL="WARNING",
               WHATSAPP_APP_SECRET="bench-app-secret-123", PHONE_HASH_KEY="bench-phone-hash-key")  # fmt: skip
    print(f"bench: waiting for vLLM on {args.model} ...", flush=True)
    waited = wait_http(f"http://127.0.0.1:{vllm_port}/v1/models", 600, vllm, "vLLM")
    print(f"bench: vLLM ready after {waited:.0f} s", flush=True)
    procs.append(subprocess.Popen([sys.executable, "-m", "serve", "--port", str(bot_port)], env=env, start_new_session=True))
    wait_http(f"http://127.0.0.1:{bot_port}/readyz", 120, procs[-1], "bot")
    return procs, f"http://127.0.0.1:{bot_port}", db_url, env["WHATSAPP_APP_SECRET"], env.get("WHATSAPP_PHONE_NUMBER_ID", "100000000000001")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="models/export")
    p.add_argument("--catalogue", default=None, help="catalogue dir (default: data/processed/catalogue, else the test fixture)")
    p.add_argument("--bot-url", default=None, help="measure an already running bot instead of starting one")
    p.add_argument("--database-url", default=None, help="the running bot's DATABASE_URL (with --bot-url)")
    p.add_argument("--rounds", type=int, default=1, help="times each scenario is played (new customer each time)")
    p.add_argument("--burst-window", type=float, default=0.5, help="INBOX_BURST_WINDOW_S of the bot we start")
    p.add_argument("--max-model-len", type=int, default=4096)
    p.add_argument("--graph-port", type=int, default=8181)
    p.add_argument("--vllm-port", type=int, default=8100)
    p.add_argument("--port", type=int, default=8180)
    p.add_argument("--out", default="bench/RESULTS.md")
    p.add_argument("--json", default="bench/turn_latency.json")
    args = p.parse_args()
    if args.catalogue is None:
        real = REPO / "data/processed/catalogue"
        if (real / "products.parquet").exists():
            args.catalogue = str(real)
        else:
            from tests.serve.agent_helpers import write_catalogue_dir

            args.catalogue = str(write_catalogue_dir(Path(tempfile.mkdtemp(prefix="zv-cat-"))))
    catalogue = Catalogue.load(args.catalogue)
    procs, tmp = [], Path(tempfile.mkdtemp(prefix="zv-bench-"))
    try:
        if args.bot_url:
            from serve.settings import get_settings

            s = get_settings()
            bot_url, db_url, secret, pnid = args.bot_url, args.database_url or s.DATABASE_URL, s.WHATSAPP_APP_SECRET, s.WHATSAPP_PHONE_NUMBER_ID
        else:
            procs, bot_url, db_url, secret, pnid = start_stack(args, tmp)
        bench = Bench(bot_url, make_session_factory(make_engine(db_url)), secret, pnid, catalogue)
        rows: list[TurnRow] = []
        for rnd in range(args.rounds):
            for k, (name, steps) in enumerate(SCENARIOS.items()):
                rows += bench.run_scenario(name, steps, phone=f"55119{rnd:02d}{k:02d}{int(time.time()) % 10**4:04d}")
    finally:
        for proc in reversed(procs):
            stop(proc)
    summary = summarise(rows)
    meta = {"when": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "model": args.model,
            "machine": f"{platform.machine()} · {os.cpu_count()} CPU cores (shared)", "catalogue": args.catalogue,
            "products": len(catalogue), "burst_window_s": args.burst_window,
            "max_tokens": int(os.environ.get("AGENT_MAX_TOKENS", 256))}  # fmt: skip
    Path(args.out).write_text(report(summary, rows, meta), encoding="utf-8")
    Path(args.json).write_text(json.dumps({"meta": meta, "summary": summary, "rows": [asdict(r) for r in rows]}, indent=1))
    for label, s in summary.items():
        print(f"{label}: n={s['n']} p50={s['p50_ms']:.0f} ms p95={s['p95_ms']:.0f} ms (mean LLM {s['mean_llm_ms']:.0f} ms)")
    print(f"bench: wrote {args.out} and {args.json}")


if __name__ == "__main__":
    main()
