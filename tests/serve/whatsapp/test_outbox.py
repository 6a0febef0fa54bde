"""serve/whatsapp/outbox.py against the local fake Graph API: order, pacing, throttling backoff, 24-h window."""

import asyncio
import itertools
import time
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from serve.conversation.messages import ButtonsReply, ImageReply, ListReply, NoticeReply, TemplateReply, TextReply
from serve.devtools.fake_graph import FakeGraphServer
from serve.storage.db import session_scope
from serve.storage.tables import Contact, Customer, utcnow
from serve.whatsapp import outbox
from serve.whatsapp.cloud_api import GraphClient
from tests.serve.factories import PHONE_NUMBER_ID, make_settings, message_rows

_phones = itertools.count(5511910000000)
REENGAGE = TemplateReply("retomar_conversa")


def customer(factory, *, last_inbound_hours_ago: float | None = 0.1) -> tuple[int, str]:
    phone = str(next(_phones))
    with session_scope(factory) as s:
        last = None if last_inbound_hours_ago is None else utcnow() - timedelta(hours=last_inbound_hours_ago)
        c = Customer(phone_hash=f"{phone:0>64}", preferred_categories=[], last_inbound_at=last)
        s.add(c)
        s.flush()
        s.add(Contact(customer_id=c.id, phone=phone))
        return c.id, phone


def enqueue(factory, customer_id, replies):
    with session_scope(factory) as s:
        return [m.id for m in outbox.enqueue_replies(s, customer_id, replies)]


def texts(n, prefix="msg"):
    return [TextReply(f"{prefix} {i}") for i in range(n)]


async def drain(senders, factory, timeout=20.0):
    stop = asyncio.Event()
    loops = [asyncio.create_task(s.run(stop)) for s in senders]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await asyncio.to_thread(message_rows, factory, "out")
        if rows and all(r.status != "queued" for r in rows):
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*loops)


def run(fake, factory, *, n_senders=1, factories=None, **kwargs):
    """Drain the outbox with real GraphClients aimed at the fake server."""
    kwargs = {"per_recipient_interval_s": 0.0, "backoff_base_s": 0.05, "poll_s": 0.02} | kwargs

    async def go():
        graphs = [
            GraphClient(base_url=fake.base_url, api_version="23.0", phone_number_id=PHONE_NUMBER_ID, access_token="tok")
            for _ in range(n_senders)
        ]
        senders = [outbox.Sender(f, g, **kwargs) for f, g in zip(factories or [factory] * n_senders, graphs)]
        try:
            await drain(senders, factory)
        finally:
            for g in graphs:
                await g.aclose()

    asyncio.run(go())


@pytest.fixture
def fake(tmp_path):
    with FakeGraphServer(tmp_path / "graph", phone_number_id=PHONE_NUMBER_ID, access_token="tok") as server:
        yield server


def test_every_kind_sent_in_order_with_recipient_spacing(sqlite_db, fake, tmp_path):
    factory = sqlite_db.factory()
    card = tmp_path / "card.png"
    Image.new("RGB", (32, 16), (200, 30, 30)).save(card)
    cid, phone = customer(factory)
    replies = [
        TextReply("Olá!"),
        ImageReply(str(card), "Jogo de cama — R$ 89,90", "p1"),
        ButtonsReply("E agora?", (("add_to_cart:p1", "Adicionar"), ("view_cart", "Ver carrinho"))),
        ListReply("Veja também", "Opções", (("product:p2", "Toalha", "R$ 39,90"),)),
        TemplateReply("pedido_pago", "pt_BR", ("ZV12345",)),
    ]
    enqueue(factory, cid, replies)
    run(fake, factory, per_recipient_interval_s=0.1)
    got = fake.state.messages
    assert [m["type"] for m in got] == ["text", "image", "interactive", "interactive", "template"]
    assert all(m["to"] == phone for m in got)
    assert Path(got[1]["media_path"]).read_bytes() == card.read_bytes()
    assert got[1]["payload"]["image"]["caption"] == "Jogo de cama — R$ 89,90"
    assert all(b["t"] - a["t"] >= 0.09 for a, b in zip(got, got[1:]))  # per-recipient minimum interval
    rows = message_rows(factory, "out")
    assert [r.status for r in rows] == ["sent"] * 5 and [r.wa_message_id for r in rows] == [m["id"] for m in got]


def test_global_rate_limit(sqlite_db, fake):
    factory = sqlite_db.factory()
    for _ in range(10):
        enqueue(factory, customer(factory)[0], texts(1))
    run(fake, factory, rate_per_s=20, burst=1)
    times = [m["t"] for m in fake.state.messages]
    assert len(times) == 10 and not [c for c in fake.state.calls if c["status"] != 200]
    # 10 sends at 20/s with no saved-up burst: grants 50 ms apart. What is observed is arrival at the
    # fake server, and the first send's lease renewal (a DB write) can delay it by up to one interval
    # on a loaded machine, so the span is checked over 8 intervals, not 9; unthrottled sends take ms.
    assert times[-1] - times[0] >= 8 / 20 * 0.9


def test_backoff_on_injected_throttling_keeps_order(sqlite_db, fake):
    factory = sqlite_db.factory()
    (a, pa), (b, pb) = customer(factory), customer(factory)
    enqueue(factory, a, texts(3, "a"))
    enqueue(factory, b, texts(3, "b"))
    fake.state.inject(130429, count=3, to=pa)  # "Cloud API throughput reached", seen on a's sends
    run(fake, factory, backoff_base_s=0.1)
    sent = fake.state.messages
    assert [m["payload"]["text"]["body"] for m in sent if m["to"] == pa] == ["a 0", "a 1", "a 2"]
    assert [m["payload"]["text"]["body"] for m in sent if m["to"] == pb] == ["b 0", "b 1", "b 2"]
    calls = [c for c in fake.state.calls if c["path"] == "messages"]
    errors = [c for c in calls if c["code"] == 130429]
    assert len(errors) == 3
    for err in errors:  # the whole NUMBER pauses (≥ half the 0.1 s base): b waits too, bar one send in flight
        burst = [c for c in calls if c["status"] == 200 and err["t"] < c["t"] < err["t"] + 0.045]
        assert len(burst) <= 1
    rows = message_rows(factory, "out")
    assert all(r.status == "sent" for r in rows) and max(r.attempts for r in rows) >= 2


def test_fake_server_throughput_limit(sqlite_db, fake):
    """The sender is configured too fast for the number (100/s vs 10/s): it backs off, loses nothing."""
    fake.state.max_mps = 10
    factory = sqlite_db.factory()
    for _ in range(15):
        enqueue(factory, customer(factory)[0], texts(1))
    run(fake, factory, rate_per_s=100, backoff_base_s=0.2)
    times = sorted(m["t"] for m in fake.state.messages)
    assert len(times) == 15 and all(r.status == "sent" for r in message_rows(factory, "out"))
    assert any(c["code"] == 130429 for c in fake.state.calls)
    assert all(sum(1 for t in times if t0 <= t < t0 + 1.0) <= 10 for t0 in times)


def test_pair_rate_limit_delays_only_that_recipient(sqlite_db, fake):
    factory = sqlite_db.factory()
    (a, pa), (b, pb) = customer(factory), customer(factory)
    enqueue(factory, a, texts(2, "a"))
    enqueue(factory, b, texts(2, "b"))
    fake.state.inject(131056, count=2, to=pa)
    run(fake, factory, backoff_base_s=0.4)  # a's first success comes ≥ 0.2 + 0.4 s later
    sent = fake.state.messages
    a_times = [m["t"] for m in sent if m["to"] == pa]
    b_times = [m["t"] for m in sent if m["to"] == pb]
    assert len(a_times) == len(b_times) == 2
    assert max(b_times) < min(a_times)  # b was not held back by a's pair limit


def test_gives_up_after_max_attempts_and_queue_moves_on(sqlite_db, fake):
    factory = sqlite_db.factory()
    cid, _ = customer(factory)
    enqueue(factory, cid, texts(2))
    fake.state.inject(130429, count=5)
    run(fake, factory, max_attempts=3, backoff_base_s=0.02)
    first, second = message_rows(factory, "out")
    assert (first.status, first.attempts) == ("failed", 3) and "130429" in first.error
    assert (second.status, second.attempts) == ("sent", 3)


def test_fatal_errors_fail_at_once(sqlite_db, fake, tmp_path):
    factory = sqlite_db.factory()
    cid, _ = customer(factory)
    enqueue(factory, cid, [TextReply(""), ImageReply(str(tmp_path / "missing.png"), "x"), TextReply("ok")])
    run(fake, factory)
    empty, image, ok = message_rows(factory, "out")
    assert (empty.status, empty.attempts) == ("failed", 1) and "131008" in empty.error
    assert image.status == "failed" and "FileNotFoundError" in image.error
    assert ok.status == "sent"


def test_window_rule_only_templates_outside_24h(sqlite_db, fake):
    factory = sqlite_db.factory()
    (late, p_late), (late2, p_late2) = (
        customer(factory, last_inbound_hours_ago=25),
        customer(factory, last_inbound_hours_ago=30),
    )
    (fresh, p_fresh), (never, p_never) = (
        customer(factory, last_inbound_hours_ago=23),
        customer(factory, last_inbound_hours_ago=None),
    )
    enqueue(factory, late, [TextReply("seu pedido saiu"), TextReply("mais alguma coisa?")])
    enqueue(factory, late2, [TemplateReply("pedido_pago", "pt_BR", ("ZV1",))])
    enqueue(factory, fresh, [TextReply("oi")])
    enqueue(factory, never, [TextReply("promo")])
    run(fake, factory, fallback_template=REENGAGE)
    by_to = {}
    for m in fake.state.messages:
        by_to.setdefault(m["to"], []).append(m)
    # free-form replies outside the window are refused; the re-engagement template goes ONCE
    assert [m["payload"]["template"]["name"] for m in by_to[p_late]] == ["retomar_conversa"]
    assert [m["payload"]["template"]["name"] for m in by_to[p_late2]] == ["pedido_pago"]
    assert [m["type"] for m in by_to[p_fresh]] == ["text"]
    assert [m["type"] for m in by_to[p_never]] == ["template"]
    rows = {(r.customer_id, r.kind, r.payload.get("body")): r for r in message_rows(factory, "out")}
    refused = rows[(late, "text", "seu pedido saiu")]
    assert refused.status == "failed" and "24-hour customer-service window" in refused.error
    assert rows[(late, "text", "mais alguma coisa?")].status == "failed"


def test_window_without_fallback_template_fails_clearly(sqlite_db, fake):
    factory = sqlite_db.factory()
    cid, _ = customer(factory, last_inbound_hours_ago=48)
    enqueue(factory, cid, [TextReply("oi")])
    run(fake, factory)
    (row,) = message_rows(factory, "out")
    assert row.status == "failed" and "only accepts template messages" in row.error
    assert fake.state.messages == []


def test_sync_reengagement_error_is_the_window_rule(sqlite_db, fake):
    """Our clock says the window is open but Meta says 131047: same handling as a closed window."""
    factory = sqlite_db.factory()
    cid, phone = customer(factory, last_inbound_hours_ago=23.99)
    enqueue(factory, cid, [TextReply("oi")])
    fake.state.inject(131047, count=1)
    run(fake, factory, fallback_template=REENGAGE)
    text_row, template_row = message_rows(factory, "out")
    assert text_row.status == "failed" and "131047" in text_row.error
    assert template_row.kind == "template" and template_row.status == "sent"


def test_two_senders_never_double_send(db, fake):
    """Two sender processes on one database: every message exactly once, each recipient in order."""
    factories = [db.factory(), db.factory()]
    expected = {}
    for _ in range(3):
        cid, phone = customer(factories[0])
        enqueue(factories[0], cid, texts(4, phone[-2:]))
        expected[phone] = [f"{phone[-2:]} {i}" for i in range(4)]
    run(fake, factories[0], n_senders=2, factories=factories)
    sent = fake.state.messages
    assert len(sent) == 12
    for phone, bodies in expected.items():
        assert [m["payload"]["text"]["body"] for m in sent if m["to"] == phone] == bodies
    assert all(r.status == "sent" for r in message_rows(factories[0], "out"))


def test_sender_from_settings(sqlite_db):
    settings = make_settings(
        WHATSAPP_REENGAGEMENT_TEMPLATE="retomar_conversa", OUTBOUND_MSGS_PER_SECOND=40, SERVICE_WINDOW_HOURS=24
    )
    graph = GraphClient.from_settings(settings)
    sender = outbox.Sender.from_settings(settings, sqlite_db.factory(), graph)
    assert sender.fallback_template == TemplateReply("retomar_conversa", "pt_BR")
    assert sender.bucket.rate == 40 and sender.window == timedelta(hours=24)
    assert str(graph._http.base_url) == "https://graph.facebook.com/v26.0/"
    assert outbox.Sender.from_settings(make_settings(), sqlite_db.factory(), graph).fallback_template is None
    asyncio.run(graph.aclose())


def test_refused_template_does_not_queue_another(sqlite_db, fake):
    factory = sqlite_db.factory()
    cid, _ = customer(factory, last_inbound_hours_ago=30)
    enqueue(factory, cid, [TemplateReply("pedido_pago")])
    fake.state.inject(131047, count=5)
    run(fake, factory, fallback_template=REENGAGE)
    (row,) = message_rows(factory, "out")
    assert row.status == "failed" and "131047" in row.error and fake.state.messages == []


def test_a_sender_paused_past_its_lease_never_sends_what_another_sender_took(sqlite_db, fake):
    """Sender A claims a message, then waits out a throughput pause longer than its lease; sender B
    takes the expired lease and sends it. A must not send it a second time when its pause ends."""
    factory = sqlite_db.factory()
    cid, _ = customer(factory)
    enqueue(factory, cid, texts(1))

    async def go():
        graphs = [
            GraphClient(base_url=fake.base_url, api_version="23.0", phone_number_id=PHONE_NUMBER_ID, access_token="tok")
            for _ in range(2)
        ]
        a = outbox.Sender(factory, graphs[0], lease_s=0.2, per_recipient_interval_s=0)
        b = outbox.Sender(sqlite_db.factory(), graphs[1], lease_s=0.2, per_recipient_interval_s=0)
        a.bucket.pause(0.8)  # the number was throttled: A's sends wait longer than its lease
        first = asyncio.create_task(a.run_once())  # claims the message, then waits for the pause
        await asyncio.sleep(0.4)  # A's lease has expired
        assert await b.run_once() == 1  # B takes the message over and sends it
        await first
        for g in graphs:
            await g.aclose()

    asyncio.run(go())
    assert len(fake.state.messages) == 1  # delivered once
    (row,) = message_rows(factory, "out")
    assert row.status == "sent" and row.wa_message_id == fake.state.messages[0]["id"]


def test_order_notice_is_text_inside_the_window_and_its_template_outside(sqlite_db, fake):
    """A boleto settled after 25 h, a parcel shipped a week later: the customer still hears of it."""
    factory = sqlite_db.factory()
    (fresh, p_fresh), (late, p_late) = (
        customer(factory, last_inbound_hours_ago=1),
        customer(factory, last_inbound_hours_ago=25),
    )
    template = TemplateReply("pedido_pago", "pt_BR", ("ZV12345", "R$ 105,80", "08/12/2026"))
    for cid in (fresh, late):
        enqueue(factory, cid, [NoticeReply("Pagamento confirmado! ✅ Seu pedido ZV12345 foi aprovado.", template)])
    run(fake, factory, fallback_template=REENGAGE)
    sent = {m["to"]: m for m in fake.state.messages}
    assert sent[p_fresh]["type"] == "text" and sent[p_fresh]["payload"]["text"]["body"].startswith(
        "Pagamento confirmado"
    )
    late_template = sent[p_late]["payload"]["template"]
    assert (late_template["name"], late_template["language"]["code"]) == ("pedido_pago", "pt_BR")
    params = [p["text"] for p in late_template["components"][0]["parameters"]]
    assert params == ["ZV12345", "R$ 105,80", "08/12/2026"]
    assert len(fake.state.messages) == 2  # no re-engagement template: the notice was its own template
    assert {r.status for r in message_rows(factory, "out")} == {"sent"}


def test_notice_refused_by_meta_for_the_window_goes_again_as_its_template(sqlite_db, fake):
    factory = sqlite_db.factory()
    cid, phone = customer(factory, last_inbound_hours_ago=23.99)
    template = TemplateReply("pedido_enviado", "pt_BR", ("ZV12345", "08/12/2026"))
    enqueue(factory, cid, [NoticeReply("Seu pedido ZV12345 saiu para entrega!", template)])
    fake.state.inject(131047, count=1)
    run(fake, factory, fallback_template=REENGAGE)
    text_row, template_row = message_rows(factory, "out")
    assert text_row.status == "failed" and "131047" in text_row.error
    assert (
        template_row.status == "sent" and template_row.payload["name"] == "pedido_enviado"
    )  # not the re-engagement one
