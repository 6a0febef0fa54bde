"""What the customer saw: the Graph API bodies the bot sent (as the fake Graph API recorded them),
read the way a person reads WhatsApp.

`Screen` is one turn's answer: every visible text (message bodies, captions, button and list-row
titles and descriptions), the buttons and rows offered, and the products shown in the order the
customer sees them (a list's rows; else a product card, known by its "Adicionar" button).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from serve.core.catalog import Catalogue, Product


def plain(text: str) -> str:
    """Lowercase, accents stripped, spaces collapsed: how the checks compare what was said."""
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(text.split())


@dataclass
class Screen:
    payloads: list[dict] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (id, title)
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (id, title, description)
    products: list[Product] = field(default_factory=list)

    @property
    def text(self) -> str:
        """Everything readable: bodies, captions, list rows and button titles."""
        return "\n".join(self.texts + [title for _, title in self.buttons])

    def says(self, fragment: str) -> bool:
        return plain(fragment) in plain(self.text)

    def render(self) -> list[str]:
        """Short lines for a failure message."""
        return self.texts + [f"[button {title}]" for _, title in self.buttons]


def read(payloads: list[dict], catalogue: Catalogue) -> Screen:
    screen = Screen(payloads=list(payloads))
    cards: list[Product] = []
    for body in payloads:
        kind = body.get("type")
        if kind == "text":
            screen.texts.append(body["text"]["body"])
        elif kind == "image":
            screen.texts.append(body["image"].get("caption", ""))
        elif kind == "template":
            screen.texts.append(f"[template {body['template']['name']}]")
        elif kind == "interactive":
            inter = body["interactive"]
            screen.texts.append(inter["body"]["text"])
            if inter["type"] == "button":
                for b in inter["action"]["buttons"]:
                    screen.buttons.append((b["reply"]["id"], b["reply"]["title"]))
                    if b["reply"]["id"].startswith("add_to_cart:"):
                        p = catalogue.get(b["reply"]["id"].split(":", 1)[1])
                        if p is not None and p not in cards:
                            cards.append(p)
            elif inter["type"] == "list":
                for section in inter["action"]["sections"]:
                    for r in section["rows"]:
                        screen.rows.append((r["id"], r["title"], r.get("description", "")))
                        screen.texts.append(f"{r['title']} — {r.get('description', '')}")
    listed = [catalogue.get(rid.split(":", 1)[1]) for rid, _, _ in screen.rows if rid.startswith("product:")]
    screen.products = [p for p in listed if p is not None] or cards
    return screen


PAY_LINK = re.compile(r"https?://\S+/pay/(sbx_[\w-]+)")


def pay_link(screens: list[Screen]) -> str | None:
    """The newest sandbox payment id the customer was sent."""
    for screen in reversed(screens):
        found = PAY_LINK.findall(screen.text)
        if found:
            return found[-1]
    return None


def find_tap(screens: list[Screen], choice) -> tuple[str, str, str] | None:
    """(kind, id, title) of what the customer taps: a button or row with that visible title (the
    newest offer first), or {row: n}, the n-th row of the newest list. None when nothing matches."""
    for screen in reversed(screens):
        if isinstance(choice, dict):
            if screen.rows:
                n = int(choice["row"])
                if 1 <= n <= len(screen.rows):
                    rid, title, _ = screen.rows[n - 1]
                    return "list_reply", rid, title
                return None
            continue
        for bid, title in reversed(screen.buttons):
            if plain(title) == plain(choice):
                return "button_reply", bid, title
        for rid, title, _ in screen.rows:
            shown = plain(title).rstrip(".")  # a title cut to 24 characters ends in "…" (NFKD: "...")
            if shown and plain(choice).startswith(shown):
                return "list_reply", rid, title
    return None
