"""serve/devtools/chat_cli.py driving the real webhook, worker and sender through the fake Graph server."""

import asyncio

from PIL import Image
from sqlalchemy import select

from serve.conversation.messages import Answer, ButtonsReply, ImageReply, ListReply, TextReply
from serve.devtools.chat_cli import Phone
from serve.devtools.fake_graph import FakeGraphServer, ServerThread
from serve.storage.tables import InboxItem
from serve.whatsapp import outbox
from serve.whatsapp import worker as worker_mod
from serve.whatsapp.cloud_api import GraphClient
from tests.serve.factories import APP_SECRET, PHONE_NUMBER_ID, message_rows, webhook_app


class MenuAgent:
    """Our Agent.answer/respond interface: answers text with a card and menus, a choice with its id."""

    def __init__(self, card):
        self.seen, self.card = [], card

    async def answer(self, session_factory, customer_id, inbound, turn_key=None):
        return Answer(await self.respond(session_factory, customer_id, inbound))

    async def respond(self, session_factory, customer_id, inbound):
        self.seen += [(m.type, m.choice_id, m.text) for m in inbound]
        last = inbound[-1]
        if last.choice_id:
            return [TextReply(f"escolheu {last.choice_id}")]
        return [
            TextReply("Olá! Veja:"),
            ImageReply(str(self.card), "Jogo de cama — R$ 89,90"),
            ButtonsReply("O que deseja?", (("view_cart", "Ver carrinho"), ("human", "Atendente"))),
            ListReply("Categorias", "Ver categorias", (("cat:a", "Cama", "lençóis"), ("cat:b", "Mesa", ""))),
        ]


def test_chat_round_trip(sqlite_db, tmp_path):
    factory = sqlite_db.factory()
    lines = []
    card = tmp_path / "card.png"
    Image.new("RGB", (20, 10), "blue").save(card)
    agent = MenuAgent(card)
    with FakeGraphServer(tmp_path / "graph") as fake, ServerThread(webhook_app(factory)) as bot:
        phone = Phone(
            bot.base_url,
            fake.base_url,
            app_secret=APP_SECRET,
            phone_number_id=PHONE_NUMBER_ID,
            phone="5511987654321",
            name="Ana",
            media_dir=tmp_path / "chat",
            out=lines.append,
        )

        async def scenario():
            graph = GraphClient(
                base_url=fake.base_url, api_version="23.0", phone_number_id=PHONE_NUMBER_ID, access_token="t"
            )
            sender = outbox.Sender(factory, graph, per_recipient_interval_s=0)
            worker = worker_mod.Worker(factory, agent, burst_window_s=0, max_wait_s=0)

            async def turn(line):
                assert await asyncio.to_thread(phone.handle, line)
                await worker.run_once()
                await sender.run_once()
                await asyncio.to_thread(phone.poll)

            await turn("oi")
            await turn("2")  # the list is the last interactive message: row 2 = "Mesa"
            await graph.aclose()

        asyncio.run(scenario())
    assert lines[0] == "bot: Olá! Veja:" and lines[1].startswith("bot: [imagem: ")
    saved = lines[1].removeprefix("bot: [imagem: ").split("]")[0]
    assert saved.startswith(str(tmp_path / "chat")) and open(saved, "rb").read() == card.read_bytes()
    assert lines[2] == "     Jogo de cama — R$ 89,90" and lines[3] == "bot: O que deseja?"
    assert "   1. Ver carrinho" in lines and "   1. Cama — lençóis" in lines and "   2. Mesa" in lines
    assert "> [Mesa]" in lines and lines[-1] == "bot: escolheu cat:b"
    assert agent.seen == [("text", None, "oi"), ("list_reply", "cat:b", "Mesa")]
    # the simulator acknowledged what it showed: delivered, then read (forward-only)
    assert [m.status for m in message_rows(factory, "out")][:4] == ["read"] * 4
    with factory() as s:
        assert len(s.scalars(select(InboxItem)).all()) == 2
