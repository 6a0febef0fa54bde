"""Platform-neutral message types between the WhatsApp edge and the rest of the bot.

`serve/whatsapp/cloud_api.py` is the only module that knows the Cloud API wire format: it turns webhook
payloads into `Inbound` and `Reply` objects into Graph API requests. The agent, the payment
flow and the worker only ever see these types. Replies are persisted (outbox) as `to_dict()`
JSON and rebuilt with `reply_from_dict`, so a restart loses nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

InboundType = Literal[
    "text",
    "button_reply",
    "list_reply",
    "image",
    "audio",
    "video",
    "document",
    "location",
    "contacts",
    "sticker",
    "reaction",
    "order",
    "unsupported",
]


@dataclass(frozen=True)
class Inbound:
    """One customer message, as received (already deduplicated by `wa_message_id`)."""

    wa_message_id: str
    phone: str  # E.164 digits as WhatsApp sends them ("5511987654321"); identity is verified by Meta
    type: InboundType
    timestamp: int  # unix seconds, from the payload
    profile_name: str | None = None
    text: str | None = None  # text body, caption, or the title of a chosen button/list row
    choice_id: str | None = None  # id of the chosen reply button / list row
    media_id: str | None = None
    location: tuple[float, float] | None = None  # (latitude, longitude)
    reaction_to: str | None = None  # wa id of the message a reaction refers to
    emoji: str | None = None

    def as_agent_text(self) -> str:
        """What the agent reads for this message (non-text messages become a short note in pt-BR)."""
        if self.type in ("text", "button_reply", "list_reply") and self.text:
            return self.text
        if self.type == "location" and self.location:
            return f"[localização enviada: {self.location[0]:.4f}, {self.location[1]:.4f}]"
        if self.type == "reaction":
            return f"[reagiu com {self.emoji or 'um emoji'}]"
        notes = {
            "image": "[imagem enviada]",
            "audio": "[áudio enviado: ainda não ouço áudios]",
            "video": "[vídeo enviado]",
            "document": "[documento enviado]",
            "contacts": "[contato enviado]",
            "sticker": "[figurinha enviada]",
            "order": "[pedido do catálogo enviado]",
        }
        note = notes.get(self.type, "[mensagem de um tipo não suportado]")
        return f"{note} {self.text}" if self.text else note


@dataclass(frozen=True)
class TextReply:
    body: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True)
class ImageReply:
    """A product card: `image_path` is a PNG rendered by serve/conversation/cards.py; uploaded as media when sent."""

    image_path: str
    caption: str
    product_id: str | None = None
    kind: Literal["image"] = "image"


@dataclass(frozen=True)
class ButtonsReply:
    """Interactive reply buttons: at most 3, titles at most 20 characters (Cloud API limits)."""

    body: str
    buttons: tuple[tuple[str, str], ...]  # (id, title)
    kind: Literal["buttons"] = "buttons"

    def __post_init__(self):
        if not 1 <= len(self.buttons) <= 3:
            raise ValueError("reply buttons: 1 to 3 buttons")
        if any(len(title) > 20 for _, title in self.buttons):
            raise ValueError("reply buttons: titles are at most 20 characters")


@dataclass(frozen=True)
class ListReply:
    """Interactive list: at most 10 rows; row titles ≤ 24 chars, descriptions ≤ 72 chars."""

    body: str
    button: str  # the button that opens the list, ≤ 20 chars
    rows: tuple[tuple[str, str, str], ...]  # (id, title, description)
    kind: Literal["list"] = "list"

    def __post_init__(self):
        if not 1 <= len(self.rows) <= 10:
            raise ValueError("list: 1 to 10 rows")
        if len(self.button) > 20 or any(len(t) > 24 or len(d) > 72 for _, t, d in self.rows):
            raise ValueError("list: button ≤ 20, row title ≤ 24, description ≤ 72 characters")


@dataclass(frozen=True)
class TemplateReply:
    """A pre-approved template: the only kind allowed outside the 24-hour service window."""

    name: str
    language: str = "pt_BR"
    parameters: tuple[str, ...] = field(default_factory=tuple)
    kind: Literal["template"] = "template"


@dataclass(frozen=True)
class NoticeReply:
    """A transactional notice (order paid, shipped, delivered, payment failed): `body` as free text
    while the 24-hour window is open, else `template`, an approved utility template with its
    parameters. The outbox chooses when it sends, so a notice queued in the window and sent after
    it closed (or a boleto settled days later) still reaches the customer."""

    body: str
    template: TemplateReply
    kind: Literal["notice"] = "notice"


Reply = TextReply | ImageReply | ButtonsReply | ListReply | TemplateReply | NoticeReply
_KINDS = {
    "text": TextReply,
    "image": ImageReply,
    "buttons": ButtonsReply,
    "list": ListReply,
    "template": TemplateReply,
    "notice": NoticeReply,
}


def reply_to_dict(reply: Reply) -> dict:
    return asdict(reply)


def reply_from_dict(data: dict) -> Reply:
    cls = _KINDS[data["kind"]]
    kwargs = {k: v for k, v in data.items() if k != "kind"}
    for key in ("buttons", "rows", "parameters"):
        if key in kwargs:  # JSON turns tuples into lists; rebuild the frozen shapes
            kwargs[key] = tuple(tuple(x) if isinstance(x, list) else x for x in kwargs[key])
    if "template" in kwargs:
        kwargs["template"] = reply_from_dict(kwargs["template"])
    return cls(**kwargs)


def _nothing(*_args) -> None:
    return None


@dataclass
class Answer:
    """One turn as the worker receives it (`agent.answer`): the replies; `record(session)`, which
    writes the turn's conversation log and events in the worker's completion transaction (rows
    done + replies queued), so a turn whose completion is lost leaves no log to repeat; and
    `committed()`, called once that transaction has committed (work that must see the log)."""

    replies: list[Reply]
    record: Callable[[Any], None] = _nothing
    committed: Callable[[], None] = _nothing
