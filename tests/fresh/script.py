"""The hand-written fresh conversations (tests/fixtures/fresh_conversations/*.yaml), loaded and checked.

One file per conversation:

    about: what the conversation is for (the issue's failure it replays)
    lang: pt                  # pt | en: the language every answer must be in
    customer: Joana Souza     # the WhatsApp profile name
    before:                   # optional: what the database holds before the first message
      order: {items: [[<product name>, 1]], status: shipped, method: pix}
    turns:                    # what the customer does, in order, each with what must follow
      - say: queria ver uns relógios       # a text; a list of texts is one burst
        expect: {shown: {as: relogios, min: 3, categories: [relogios_presentes]}}
      - tap: PIX                           # a button or list row, by its visible title
      - tap: {row: 1}                      # the first row of the latest list
      - send: audio                        # audio | image | {location: {...}} | {image: {caption}}
      - pay: true                          # open the payment link and pay on the sandbox page
    end: {orders: [...], cart: [...], handoff: false}

Products are named by their catalogue name, or by a list the customer saw: `relogios#2` (the
second product of the list saved `as: relogios`), `relogios#cheapest`, `#priciest`, `#top_rated`.
`{order}` stands for the code of the `before` order. Expectation keys: tests/fresh/checks.py.
Unknown keys fail the load, so a typo never turns into a check that silently passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "fresh_conversations"
TURN_EXPECT = {
    "says",
    "says_any",
    "not_says",
    "shown",
    "no_products",
    "asks_which",
    "buttons",
    "cart",
    "cart_includes",
    "cart_one_of",
    "cart_total_shown",
    "details_of",
    "says_name_of",
    "mentions_categories",
    "order",
    "handoff",
    "any_of",
}
SHOWN_KEYS = {"as", "min", "categories", "max_price_cents", "names_any", "first", "includes"}
END_EXPECT = {"orders", "cart", "cart_includes", "handoff"}
ACTIONS = {"say", "tap", "send", "pay"}
MEDIA = {"audio", "image", "location"}


class ScriptError(ValueError):
    """A conversation file that does not follow the format above; the message names file and turn."""


@dataclass(frozen=True)
class Turn:
    action: str  # say | tap | send | pay
    value: object  # list[str] for say; str or {"row": n} for tap; {kind: fields} for send; True for pay
    expect: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Conversation:
    id: str  # the file name
    about: str
    lang: str
    customer: str
    turns: tuple[Turn, ...]
    end: dict
    before: dict = field(default_factory=dict)

    def customer_lines(self) -> list[str]:
        """Every text the customer types (the evaluation text that must never feed training)."""
        return [t for turn in self.turns if turn.action == "say" for t in turn.value]


def _check_expect(where: str, expect: dict, allowed: set[str]) -> None:
    unknown = set(expect) - allowed
    if unknown:
        raise ScriptError(f"{where}: unknown expectation(s) {sorted(unknown)}")
    if "shown" in expect and set(expect["shown"]) - SHOWN_KEYS:
        raise ScriptError(f"{where}: unknown shown key(s) {sorted(set(expect['shown']) - SHOWN_KEYS)}")
    for i, alternative in enumerate(expect.get("any_of", [])):
        _check_expect(f"{where} any_of[{i}]", alternative, allowed - {"any_of"})


def _turn(where: str, raw: dict) -> Turn:
    actions = set(raw) & ACTIONS
    if len(actions) != 1 or set(raw) - ACTIONS - {"expect"}:
        raise ScriptError(f"{where}: a turn has exactly one of {sorted(ACTIONS)} (and `expect`), got {sorted(raw)}")
    (action,) = actions
    value = raw[action]
    if action == "say":
        value = [value] if isinstance(value, str) else list(value)
        if not value or not all(isinstance(t, str) and t.strip() for t in value):
            raise ScriptError(f"{where}: say needs text")
    elif action == "send":
        value = {value: {}} if isinstance(value, str) else dict(value)
        if len(value) != 1 or set(value) - MEDIA:
            raise ScriptError(f"{where}: send one of {sorted(MEDIA)}")
    elif action == "tap" and not (isinstance(value, str) or (isinstance(value, dict) and set(value) == {"row"})):
        raise ScriptError(f"{where}: tap a title or {{row: n}}")
    expect = raw.get("expect") or {}
    _check_expect(where, expect, TURN_EXPECT)
    return Turn(action, value, expect)


def load_conversation(path: Path) -> Conversation:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    where = path.name
    missing = {"about", "customer", "turns", "end"} - set(raw)
    if missing:
        raise ScriptError(f"{where}: missing {sorted(missing)}")
    unknown = set(raw) - {"about", "lang", "customer", "before", "turns", "end"}
    if unknown:
        raise ScriptError(f"{where}: unknown key(s) {sorted(unknown)}")
    lang = raw.get("lang", "pt")
    if lang not in ("pt", "en"):
        raise ScriptError(f"{where}: lang is pt or en")
    turns = tuple(_turn(f"{where} turn {i + 1}", t) for i, t in enumerate(raw["turns"]))
    _check_expect(f"{where} end", raw["end"], END_EXPECT)
    before = raw.get("before") or {}
    if set(before) - {"order"}:
        raise ScriptError(f"{where}: before holds only an order")
    return Conversation(path.stem, raw["about"], lang, raw["customer"], turns, raw["end"], before)


def load_conversations(directory: Path = FIXTURES) -> list[Conversation]:
    return [load_conversation(p) for p in sorted(directory.glob("*.yaml"))]
