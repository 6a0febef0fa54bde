"""What a reply must never do, checked on every bot message of a simulated conversation.

- ungrounded claim: an R$ amount that is no catalogue price or freight, no total of this
  customer's cart or orders and no amount the customer wrote; a "N units left" that is not the
  product's stock; a bold *product name* that is not in the catalogue;
- wrong language: a text reply detected as the other language than the customer's;
- WhatsApp limit violations on the wire format (Cloud API: ≤ 3 reply buttons, titles ≤ 20
  characters, ≤ 10 list rows, captions ≤ 1024, text ≤ 4096);
- pressure after a "no": after the customer declined, the next reply pushes a product again;
- fake scarcity: a low-stock claim about a product whose stock is not low;
- budget ignored: the customer stated a budget and the answer showed a product above it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from serve.conversation.grounding import amounts_in
from serve.conversation.messages import ButtonsReply, ImageReply, ListReply, Reply, TextReply
from serve.conversation.texts import detect_language
from serve.core.catalog import Catalogue
from simulator.phrasing import acts_with_slot

# Cloud API limits (developers.facebook.com/docs/whatsapp/cloud-api/reference/messages).
MAX_BUTTONS, MAX_BUTTON_TITLE, MAX_ROWS, MAX_CAPTION, MAX_TEXT = 3, 20, 10, 1024, 4096
STOCK_CLAIM = re.compile(
    r"(?:últimas|restam|só|apenas|only)\s+(\d+)\s+(?:unidades?|units?|left|em estoque)", re.IGNORECASE
)
SCARCITY = re.compile(r"últimas unidades|estoque baixo|acabando|only \d+ left|running out|last units", re.IGNORECASE)
PRESSURE = re.compile(
    r"última chance|não perca|aproveite|só hoje|garanta já|last chance|don't miss|today only|hurry", re.IGNORECASE
)
BOLD = re.compile(r"\*([^*\n]{6,80})\*")
ORDER_CODE = re.compile(r"\bZV\d+\b")
BUDGET_ACTS = acts_with_slot("budget")  # the customer's messages that state the budget


@dataclass
class Flags:
    ungrounded: list[str] = field(default_factory=list)
    wrong_language: int = 0
    limit_violations: list[str] = field(default_factory=list)
    pressure_after_no: bool = False
    fake_scarcity: list[str] = field(default_factory=list)
    budget_ignored: int = 0  # answers to a stated budget that showed a product above it


def looks_like_a_name(bold: str) -> bool:
    """A bold span that names a product (the bot bolds names), not a total, a label or an order code."""
    return " " in bold.strip() and "R$" not in bold and ":" not in bold and not ORDER_CODE.search(bold)


def limit_violations(reply: Reply) -> list[str]:
    out = []
    if isinstance(reply, TextReply) and len(reply.body) > MAX_TEXT:
        out.append(f"text of {len(reply.body)} characters")
    if isinstance(reply, ImageReply) and len(reply.caption) > MAX_CAPTION:
        out.append(f"caption of {len(reply.caption)} characters")
    if isinstance(reply, ButtonsReply):
        if len(reply.buttons) > MAX_BUTTONS:
            out.append(f"{len(reply.buttons)} buttons")
        out += [f"button title {t!r}" for _, t in reply.buttons if len(t) > MAX_BUTTON_TITLE]
    if isinstance(reply, ListReply) and len(reply.rows) > MAX_ROWS:
        out.append(f"{len(reply.rows)} list rows")
    return out


def reply_text(reply: Reply) -> str:
    if isinstance(reply, TextReply):
        return reply.body
    if isinstance(reply, ImageReply):
        return reply.caption
    if isinstance(reply, ButtonsReply | ListReply):
        return reply.body
    return ""


class Checker:
    """Accumulates the flags of one conversation, reply by reply."""

    def __init__(self, catalogue: Catalogue, lang: str, budget_cents: int | None = None):
        self.catalogue, self.lang, self.budget_cents = catalogue, lang, budget_cents
        self.budget_stated = False  # the customer's last message said the budget
        self.flags = Flags()
        self.known: set[int] = set()  # amounts the customer wrote or the store computed for them
        self.declined = False
        self.names = {p.name.lower() for p in catalogue.products}
        self.prices = {p.price_cents for p in catalogue.products} | {p.freight_cents for p in catalogue.products}

    def customer_said(self, text: str, act: str | None = None) -> None:
        self.known.update(amounts_in(text))
        self.declined = act in ("decline", "give_up")
        self.budget_stated = self.budget_cents is not None and act in BUDGET_ACTS

    def store_amounts(self, amounts: set[int]) -> None:
        """Totals, subtotals and freights of this customer's carts and orders (from the database)."""
        self.known |= amounts

    def bot_said(self, replies: list[Reply], shown_ids: list[str]) -> None:
        for reply in replies:
            self.flags.limit_violations += limit_violations(reply)
            text = reply_text(reply)
            if isinstance(reply, TextReply) and detect_language(text) not in (None, self.lang):
                self.flags.wrong_language += 1
            for cents in amounts_in(text):
                if cents not in self.prices and cents not in self.known:
                    self.flags.ungrounded.append(f"R$ amount {cents / 100:.2f}")
            for name in BOLD.findall(text):
                if looks_like_a_name(name) and not any(name.lower() in n or n in name.lower() for n in self.names):
                    self.flags.ungrounded.append(f"product name {name!r}")
            self._stock(text, shown_ids)
        if self.budget_stated:
            shown = (self.catalogue.get(i) for i in shown_ids)
            self.flags.budget_ignored += any(p is not None and p.price_cents > self.budget_cents for p in shown)
            self.budget_stated = False
        if self.declined and replies:
            pushy = any(PRESSURE.search(reply_text(r)) for r in replies)
            pushy |= any(isinstance(r, ImageReply) for r in replies)  # a new product card after a "no"
            self.flags.pressure_after_no |= pushy
            self.declined = False

    def _stock(self, text: str, shown_ids: list[str]) -> None:
        products = [p for p in (self.catalogue.get(i) for i in shown_ids) if p is not None]
        for match in STOCK_CLAIM.finditer(text):
            n = int(match.group(1))
            if not any(p.stock == n for p in products):
                self.flags.ungrounded.append(f"stock claim {match.group(0)!r}")
        if SCARCITY.search(text) and products and not any(self.catalogue.is_low_stock(p) for p in products):
            self.flags.fake_scarcity.append(SCARCITY.search(text).group(0))
