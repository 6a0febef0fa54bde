"""Store knowledge, chit-chat and media: answers the server writes from ONE configurable source.

    knowledge = StoreKnowledge.load(settings, catalogue)
    knowledge.answer("vcs aceitam pix?", "pt")    # Command(navigation="answer", topic="payment", answer="Aceitamos ...")
    knowledge.media([audio_message], "pt")        # Command(navigation="answer", topic="audio", answer="Ainda não ...")

The source is STORE_CONFIG (configs/store.yaml): the store's policies and texts, in pt-BR and
English. Numbers the code already owns are never written there twice: the texts name them as
placeholders filled here from where the rest of the bot reads them (the cart's FREIGHT_RULE, the
ORDER_DELIVERY_DAYS of every order, the checkout tool's payment methods, the catalogue's
categories best sellers first). So an answer can only state what the store configured or what the
cart, the checkout and the orders actually do; nothing is left for a model to make up.

Which question a text is: serve/conversation/store_questions.py (`asked`), only when the text is
nothing but that question; a text that also asks for something else goes to the normal flow
whole. Answers are navigation commands (no tool; serve/conversation/present.py words them with
buttons that lead back to shopping); a data-deletion request is a handoff to a person. Media
without words get an honest note of what the bot can do with them; a reaction or a sticker gets
no answer at all (navigation "silent": the turn is recorded, nothing is sent).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import get_args

import yaml

from serve.contract import format_brl
from serve.contract.tools import Checkout
from serve.conversation.messages import Inbound
from serve.conversation.routing import INTENT_COMMANDS, Command
from serve.conversation.store_questions import asked
from serve.conversation.texts import LANGUAGES, word
from serve.core.cart_math import FREIGHT_RULE, FreightRule
from serve.core.catalog import Catalogue
from serve.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
MEDIA_KINDS = ("audio", "image", "video", "document", "location", "contacts", "unsupported")
SILENT_KINDS = frozenset({"reaction", "sticker"})  # a thumbs-up or a sticker asks nothing
WORDED_KINDS = frozenset({"text", "button_reply", "list_reply", "image", "video"})  # text = their words
# Answers that tell the customer to tap "Falar com atendente" (present.py shows that button with them).
HUMAN_TOPICS = frozenset({"returns", "privacy", "contact", "bot", "document"})
LGPD_REASON = "pedido de exclusão de dados pessoais (LGPD)"
SECTIONS = {"answers": "categories payment shipping delivery returns privacy hours contact",
            "chitchat": "how_are_you bot joke off_topic ack ack_handoff", "media": " ".join(MEDIA_KINDS)}  # fmt: skip


class StoreConfigError(ValueError):
    """A store config that cannot answer: a missing text or language, an unknown placeholder."""


@dataclass(frozen=True)
class StoreKnowledge:
    texts: dict[str, dict[str, str]]  # topic or media kind → lang → text, placeholders filled

    @classmethod
    def load(
        cls,
        settings: Settings,
        catalogue: Catalogue,
        path: str | Path | None = None,
        rule: FreightRule = FREIGHT_RULE,
    ) -> StoreKnowledge:
        """The answers of STORE_CONFIG (relative paths: from the working directory, else the repo)."""
        path = Path(path or settings.STORE_CONFIG)
        if not path.is_absolute() and not path.exists():
            path = REPO_ROOT / path
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
        store = config.get("store") or {}
        facts = {lang: _facts(lang, store, settings, catalogue, rule) for lang in LANGUAGES}
        texts: dict[str, dict[str, str]] = {}
        for section, names in SECTIONS.items():
            for name in names.split():
                entry = (config.get(section) or {}).get(name) or {}
                texts[name] = {}
                for lang in LANGUAGES:
                    if not isinstance(entry.get(lang), str):
                        raise StoreConfigError(f"{path}: {section}.{name}.{lang} is missing")
                    try:
                        texts[name][lang] = entry[lang].format(**facts[lang]).strip()
                    except (KeyError, IndexError, ValueError) as exc:
                        raise StoreConfigError(f"{path}: {section}.{name}.{lang}: bad placeholder {exc}") from exc
        return cls(texts)

    def text(self, topic: str, lang: str) -> str:
        return self.texts[topic].get(lang) or self.texts[topic]["pt"]

    def answer(
        self, text: str, lang: str = "pt", focus: str | None = None, cart: bool = False, handoff: bool = False
    ) -> Command | None:
        """The server's answer when `text` is only a store question, chit-chat or off-topic; else None.

        `focus`: the product the conversation is about (routing.focus_product): a freight or delivery
        question is then about it, and gets its freight (get_product, topic "shipping") plus the
        delivery estimate. `cart`: the open cart has items, so a payment question ("consigo pagar
        no pix?") also gets the payment buttons: at that point it is how people choose. `handoff`: a
        person of the team was called and has not closed the ticket: an acknowledgement ("ok, aguardo")
        is then told that a person will answer here."""
        topics = asked(text)
        if not topics:
            return None
        if focus and set(topics) <= {"shipping", "delivery"}:
            delivery = self.text("delivery", lang) if "delivery" in topics else None
            return Command(calls=(("get_product", {"product_id": focus}),), topic="shipping", answer=delivery)
        if cart and topics == ["payment"]:
            return Command(navigation="checkout", topic="payment", answer=self.text("payment", lang))
        if "person" in topics:  # "chama o responsável", "real human please": a person is called
            return replace(INTENT_COMMANDS["human_request"], topic="person")
        if topics == ["privacy_delete"]:
            return Command(calls=(("handoff_to_human", {"reason": LGPD_REASON}),), topic="privacy_delete")
        if topics == ["ack"]:  # a short note, no menu: the customer only said they understood
            return Command(navigation="note", topic="ack", answer=self.text("ack_handoff" if handoff else "ack", lang))
        if topics == ["how_are_you"]:  # a greeting that asks how we are: the greeting, with an answer
            return Command(navigation="greeting", topic="how_are_you", answer=self.text("how_are_you", lang))
        body = "\n\n".join(self.text(t, lang) for t in topics)
        return Command(navigation="answer", topic="+".join(topics), answer=body)

    def media(self, inbound: list[Inbound], lang: str = "pt") -> Command | None:
        """What to say to messages without words (audio, image, location, ...); None when the
        customer also wrote something (their words lead: the normal flow reads them and the notes)."""
        if not inbound or any(m.type in WORDED_KINDS and (m.text or "").strip() for m in inbound):
            return None
        kinds = list(dict.fromkeys(m.type for m in inbound if m.type not in SILENT_KINDS))
        if not kinds:
            return Command(navigation="silent", topic=inbound[0].type)
        if any(k not in self.texts for k in kinds):
            return None  # a kind without a configured answer (a catalogue order): the normal flow
        return Command(
            navigation="answer", topic="+".join(kinds), answer="\n\n".join(self.text(k, lang) for k in kinds)
        )


def _facts(lang: str, store: dict, settings: Settings, catalogue: Catalogue, rule: FreightRule) -> dict[str, str]:
    """The placeholder values of the config's texts in `lang`, read from where the bot keeps them."""
    methods = [word(lang, "pay", m) for m in get_args(Checkout.model_fields["payment_method"].annotation)]
    joined = ", ".join(methods[:-1]) + (" e " if lang == "pt" else " and ") + methods[-1]
    shown = catalogue.categories()[: int(store.get("categories_shown", 6))]
    names = [c.name_pt if lang == "pt" else c.name_en.replace("_", " ") for c in shown]

    def store_text(key: str) -> str:
        value = store.get(key) or {}
        return str(value.get(lang) or value.get("pt") or "")

    return {
        "free_above": format_brl(rule.free_above_cents),
        "extra_pct": str(rule.extra_unit_bp // 100),
        "days": str(settings.ORDER_DELIVERY_DAYS),
        "methods": joined if len(methods) > 1 else methods[0],
        "categories": "\n".join(f"• {n}" for n in names),
        "hours": store_text("hours"),
        "contact": store_text("contact"),
    }


__all__ = ["HUMAN_TOPICS", "SILENT_KINDS", "StoreConfigError", "StoreKnowledge"]
