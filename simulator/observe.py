"""What a customer sees of one bot turn: the texts, the products on screen, the choices and a payment link.

The simulated customer reads only the bot's outbound messages (serve/conversation/messages.py),
as a person reads WhatsApp: text bodies, card captions, reply buttons and list rows. Products
are recognised by the ids behind list rows ("product:<ref>") and card buttons
("add_to_cart:<ref>"), which is what a tap would send; a name in plain text is matched against
the catalogue only when the customer answers by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from serve.conversation.messages import ButtonsReply, ImageReply, ListReply, Reply, TextReply
from serve.core.catalog import Catalogue, Product

PAY_LINK = re.compile(r"/pay/(sbx_[A-Za-z0-9_-]{8,36})")


@dataclass
class Screen:
    texts: list[str] = field(default_factory=list)  # text bodies, captions, interactive bodies
    listed: list[Product] = field(default_factory=list)  # list rows, in order
    carded: list[Product] = field(default_factory=list)  # products shown as a card (add button or image)
    choices: dict[str, str] = field(default_factory=dict)  # choice id → title (buttons and rows)
    charge_id: str | None = None  # sandbox payment link in a text

    @property
    def text(self) -> str:
        return "\n".join(self.texts)

    def choice(self, prefix: str) -> str | None:
        """The first choice id starting with `prefix` (e.g. "checkout:pix", "reorder:")."""
        return next((cid for cid in self.choices if cid == prefix or cid.startswith(prefix)), None)

    @property
    def products(self) -> list[Product]:
        seen, out = set(), []
        for p in self.carded + self.listed:
            if p.product_id not in seen:
                seen.add(p.product_id)
                out.append(p)
        return out


def _product(catalogue: Catalogue, choice_id: str, head: str) -> Product | None:
    if not choice_id.startswith(head + ":"):
        return None
    return catalogue.get(choice_id.partition(":")[2])


def read_screen(replies: list[Reply], catalogue: Catalogue) -> Screen:
    screen = Screen()
    for reply in replies:
        if isinstance(reply, TextReply):
            screen.texts.append(reply.body)
        elif isinstance(reply, ImageReply):
            screen.texts.append(reply.caption)
            product = catalogue.get(reply.product_id) if reply.product_id else None
            if product is not None:
                screen.carded.append(product)
        elif isinstance(reply, ButtonsReply):
            screen.texts.append(reply.body)
            for cid, title in reply.buttons:
                screen.choices[cid] = title
                product = _product(catalogue, cid, "add_to_cart")
                if product is not None and product not in screen.carded:
                    screen.carded.append(product)
        elif isinstance(reply, ListReply):
            screen.texts.append(reply.body)
            for cid, title, _ in reply.rows:
                screen.choices[cid] = title
                product = _product(catalogue, cid, "product")
                if product is not None:
                    screen.listed.append(product)
    match = PAY_LINK.search(screen.text)
    screen.charge_id = match.group(1) if match else None
    return screen
