"""serve/whatsapp/cloud_api.py: parsing recorded Meta webhooks, signatures, outbound payloads, the client."""

import asyncio
import json
from pathlib import Path

import pytest
from PIL import Image

from serve.conversation.messages import ButtonsReply, ImageReply, ListReply, TemplateReply, TextReply
from serve.devtools.fake_graph import FakeGraphServer, validate_message
from serve.whatsapp import cloud_api as wa
from tests.serve.factories import WHATSAPP_ASSETS, load_asset

ANA = "5511987654321"


def one(name: str):
    parsed = wa.parse_webhook(load_asset(name))
    assert len(parsed.messages) == 1 and parsed.skipped == 0
    msg = parsed.messages[0]
    assert msg.phone == ANA and msg.profile_name == "Ana Paula 🌸" and msg.timestamp == 1750263773
    assert msg.wa_message_id.startswith("wamid.")
    assert parsed.phone_number_ids[msg.wa_message_id] == "106540352242922"
    return msg


def test_parse_text():
    msg = one("text")
    assert (msg.type, msg.text) == ("text", "Oi! Vocês têm jogo de cama queen?")
    assert msg.as_agent_text() == "Oi! Vocês têm jogo de cama queen?"


@pytest.mark.parametrize(
    ("name", "kind", "choice", "title"),
    [
        ("button_reply", "button_reply", "add:4244733e06e7ecb4970a6e2683c13e61", "Adicionar"),
        ("list_reply", "list_reply", "cat:cama_mesa_banho", "Cama, mesa e banho"),
        ("template_button", "button_reply", "reorder:yes", "Quero repetir"),  # template quick reply
    ],
)
def test_parse_choices(name, kind, choice, title):
    msg = one(name)
    assert (msg.type, msg.choice_id, msg.text) == (kind, choice, title)


@pytest.mark.parametrize(
    ("name", "media_id", "text"),
    [
        ("image", "1479537139650973", "Tem esse modelo?"),
        ("audio", "1003383421387256", None),
        ("video", "2189617061472311", "chegou assim"),
        ("document", "1271648920825011", "comprovante_pix.pdf"),
        ("sticker", "1192447985357451", None),
    ],
)
def test_parse_media(name, media_id, text):
    msg = one(name)
    assert (msg.type, msg.media_id, msg.text) == (name, media_id, text)
    assert msg.as_agent_text().startswith("[")  # the agent gets a pt-BR note, never raw JSON


def test_parse_location_contacts_reaction_order_unsupported():
    loc = one("location")
    assert loc.location == (-23.561414, -46.655881) and "MASP" in loc.text
    assert "localização" in loc.as_agent_text()
    assert one("contacts").text == "Carlos Souza"
    reaction = one("reaction")
    assert reaction.emoji == "\u2764\ufe0f" and reaction.reaction_to.startswith("wamid.")
    assert one("reaction_removed").emoji is None
    order = one("order")
    assert order.type == "order" and "2x 4244733e06e7ecb4970a6e2683c13e61" in order.text
    assert one("unsupported").type == "unsupported"


def test_parse_unknown_and_malformed_items_do_not_raise():
    payload = load_asset("text")
    messages = payload["entry"][0]["changes"][0]["value"]["messages"]
    messages.append({"from": ANA, "id": "wamid.NEW", "timestamp": "1750263774", "type": "hologram", "hologram": {}})
    messages.append({"type": "text", "text": {"body": "no id, no sender"}})
    parsed = wa.parse_webhook(payload)
    assert [m.type for m in parsed.messages] == ["text", "unsupported"] and parsed.skipped == 1
    assert wa.parse_webhook({"object": "page", "entry": []}).messages == []


@pytest.mark.parametrize("name", ["status_sent", "status_delivered", "status_read", "status_failed"])
def test_parse_statuses(name):
    parsed = wa.parse_webhook(load_asset(name))
    assert parsed.messages == [] and len(parsed.statuses) == 1
    st = parsed.statuses[0]
    assert st.status == name.removeprefix("status_") and st.recipient == ANA
    if st.status == "failed":
        assert st.errors[0]["code"] == wa.REENGAGEMENT_CODE and "131047" in st.error_text
    else:
        assert st.error_text is None


def test_parse_batch_all_entries_and_customers():
    parsed = wa.parse_webhook(load_asset("batch"))
    assert [(m.phone, m.text) for m in parsed.messages] == [
        (ANA, "oi"),
        ("5521912345678", "quero uma luminária"),
        (ANA, "tem toalha de banho?"),
        ("5531998877665", "Pagar com PIX"),
    ]
    assert parsed.messages[3].choice_id == "pay:pix" and parsed.messages[3].profile_name == "Maria Clara"
    assert parsed.messages[1].profile_name == "João"
    assert [s.status for s in parsed.statuses] == ["delivered"]  # the template-status change is ignored


def test_signature():
    body = (WHATSAPP_ASSETS / "text.json").read_bytes()
    header = wa.sign(body, "s3cret")
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert wa.verify_signature(body, header, "s3cret")
    assert not wa.verify_signature(body, header, "other-secret")
    assert not wa.verify_signature(body + b" ", header, "s3cret")  # raw bytes, not re-serialised JSON
    assert not wa.verify_signature(body, header.removeprefix("sha256="), "s3cret")
    assert not wa.verify_signature(body, None, "s3cret")
    assert not wa.verify_signature(body, "", "s3cret")
    assert not wa.verify_signature(body, header, "")  # an empty secret never verifies


def test_outbound_payloads_have_meta_shape():
    to = ANA
    text = wa.reply_payload(to, TextReply("Olá!"))
    assert text == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": "Olá!"},
    }
    image = wa.reply_payload(to, ImageReply("/tmp/card.png", "Jogo de cama — R$ 89,90"), media_id="123")
    assert image["image"] == {"id": "123", "caption": "Jogo de cama — R$ 89,90"}
    assert wa.image_payload(to, "x", link="https://example.com/a.png")["image"]["link"].endswith("a.png")
    with pytest.raises(ValueError):
        wa.image_payload(to, "x")
    buttons = wa.reply_payload(to, ButtonsReply("E agora?", (("cart", "Ver carrinho"), ("pay", "Pagar"))))
    assert buttons["interactive"]["type"] == "button"
    assert buttons["interactive"]["action"]["buttons"][1] == {"type": "reply", "reply": {"id": "pay", "title": "Pagar"}}
    rows = tuple((f"p{i}", f"Produto {i}", f"R$ {i},00") for i in range(10))
    lst = wa.reply_payload(to, ListReply("Escolha", "Ver opções", rows))
    assert len(lst["interactive"]["action"]["sections"][0]["rows"]) == 10
    tpl = wa.reply_payload(to, TemplateReply("pedido_pago", "pt_BR", ("ZV12345", "R$ 10,00")))
    assert tpl["template"]["language"] == {"code": "pt_BR"}
    assert tpl["template"]["components"][0]["parameters"][0] == {"type": "text", "text": "ZV12345"}
    assert "components" not in wa.template_payload(to, TemplateReply("retomar_conversa"))["template"]
    assert wa.mark_read_payload("wamid.X") == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.X",
        "typing_indicator": {"type": "text"},
    }
    for body in (text, buttons, lst, tpl):
        assert validate_message(body, {}) is None  # the fake applies Meta's checks
    assert validate_message(image, {"123": {}}) is None
    assert validate_message(image, {}) is not None  # an unknown media id is refused
    bad = json.loads(json.dumps(buttons))
    bad["interactive"]["action"]["buttons"][0]["reply"]["title"] = "x" * 21
    assert validate_message(bad, {})[0] == 131009


def test_graph_error_classification():
    assert wa.GraphError("x", code=130429).kind == "throttled"
    assert all(wa.GraphError("x", code=c).retryable for c in (4, 80007, 131048, 131056))
    assert wa.GraphError("x", code=131047).kind == "reengagement"
    assert wa.GraphError("x", code=None).kind == "transient"  # network failure
    assert wa.GraphError("x", code=131000, http_status=500).retryable
    assert wa.GraphError("x", code=131009, http_status=400).kind == "fatal"


def test_client_against_fake_graph(tmp_path):
    card = tmp_path / "card.png"
    Image.new("RGB", (8, 8), "red").save(card)

    async def scenario(base_url):
        client = wa.GraphClient(base_url=base_url, api_version="23.0", phone_number_id="PN1", access_token="tok")
        try:
            media_id = await client.upload_media(card)
            wamid = await client.send(wa.reply_payload(ANA, ImageReply(str(card), "Card"), media_id=media_id))
            await client.mark_read("wamid.IN1", typing=True)
            fake.state.inject(130429, count=1)
            with pytest.raises(wa.GraphError) as throttled:
                await client.send(wa.text_payload(ANA, "oi"))
            with pytest.raises(wa.GraphError) as invalid:
                await client.send(wa.text_payload(ANA, ""))
            return media_id, wamid, throttled.value, invalid.value
        finally:
            await client.aclose()

    with FakeGraphServer(tmp_path / "media", phone_number_id="PN1", access_token="tok") as fake:
        media_id, wamid, throttled, invalid = asyncio.run(scenario(fake.base_url))
        assert wamid.startswith("wamid.") and fake.state.messages[0]["id"] == wamid
        assert Path(fake.state.messages[0]["media_path"]).read_bytes() == card.read_bytes()
        assert fake.state.uploads[media_id]["mime_type"] == "image/png"
        assert fake.state.reads == [{"message_id": "wamid.IN1", "typing": True}]
        assert (throttled.code, throttled.kind, throttled.http_status) == (130429, "throttled", 400)
        assert invalid.code == 131008 and invalid.kind == "fatal" and invalid.fbtrace_id

    async def wrong_token(base_url):
        client = wa.GraphClient(base_url=base_url, api_version="v23.0", phone_number_id="PN1", access_token="bad")
        try:
            await client.send(wa.text_payload(ANA, "oi"))
        finally:
            await client.aclose()

    with FakeGraphServer(tmp_path / "media2", access_token="tok") as fake:
        with pytest.raises(wa.GraphError) as denied:
            asyncio.run(wrong_token(fake.base_url))
        assert denied.value.code == 190 and denied.value.http_status == 401

    async def unreachable():
        client = wa.GraphClient(
            base_url="http://127.0.0.1:9", api_version="23.0", phone_number_id="PN1", access_token="t", timeout_s=2
        )
        try:
            await client.send(wa.text_payload(ANA, "oi"))
        finally:
            await client.aclose()

    with pytest.raises(wa.GraphError) as down:
        asyncio.run(unreachable())
    assert down.value.kind == "transient"


def test_over_long_texts_are_cut_to_meta_limits():
    long = "á" * 5000
    assert len(wa.text_payload(ANA, long)["text"]["body"]) == 4096
    buttons = wa.reply_payload(ANA, ButtonsReply(long, (("a", "A"),)))
    assert len(buttons["interactive"]["body"]["text"]) == 1024 and buttons["interactive"]["body"]["text"][-1] == "…"
    assert validate_message(buttons, {}) is None
    assert len(wa.image_payload(ANA, long, media_id="1")["image"]["caption"]) == 1024
