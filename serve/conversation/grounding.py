"""Price grounding: every R$ amount the bot writes must be one the server knows for this turn.

The model proposes text; the server decides prices. Before a reply leaves, each amount in it is
checked against `PriceFacts` — the catalogue prices of the products in the conversation context,
the numbers the tools returned (line totals, freight, cart totals, discounts) and amounts the
customer stated themselves (a budget "até R$ 100" may be echoed back). The agent regenerates
once on a miss; if the second draft still states an unknown amount, `rewrite` fixes it here:
an amount in a sentence that names a known product becomes that product's catalogue price,
any other unknown amount takes its sentence with it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from serve.contract import format_brl, parse_brl_cents
from serve.core.catalog import normalize

# Wider than the contract's BRL_PATTERN on purpose: it must also catch malformed amounts the
# model writes ("R$ 49.90", "R$49,9", "49,90 reais") so that they are checked and replaced whole.
AMOUNT_RE = re.compile(r"R\$\s?\d[\d.,]*\d|R\$\s?\d|\b\d+(?:[.,]\d{1,2})?\s?reais\b", re.IGNORECASE)
SENTENCE_RE = re.compile(r"(?<=[.!?…\n])\s+")
NAME_WORDS = 3  # a product is "named" in a sentence when the first 3 words of its name appear


def amount_cents(span: str) -> int | None:
    """Cents of one matched amount; pt-BR ('1.234,56') first, then a dot-decimal slip ('49.90')."""
    text = span.strip()
    if text.lower().endswith("reais"):
        text = "R$ " + text[: -len("reais")].strip()
    m = re.fullmatch(r"R\$\s?(\d+)\.(\d{1,2})", text)  # "R$ 49.90": the model's English habit
    if m:
        return int(m.group(1)) * 100 + int(m.group(2).ljust(2, "0"))
    amounts = parse_brl_cents(text)
    return amounts[0] if amounts else None


def amounts_in(text: str) -> list[int]:
    """Every amount stated in `text` (cents), malformed spellings included."""
    return [c for c in (amount_cents(m.group(0)) for m in AMOUNT_RE.finditer(text or "")) if c is not None]


def _normalise(text: str) -> str:
    return normalize(text)


@dataclass
class PriceFacts:
    """What the server knows this turn: allowed amounts (cents) and product name → price."""

    allowed: set[int] = field(default_factory=set)
    products: dict[str, int] = field(default_factory=dict)  # product name → catalogue price (cents)

    def add_product(self, name: str, price_cents: int) -> None:
        self.products[name] = price_cents
        self.allowed.add(price_cents)

    def add_amounts(self, amounts) -> None:
        self.allowed.update(int(a) for a in amounts)

    def add_tool_result(self, content: str | dict) -> None:
        """Every amount a tool returned (strings like 'R$ 89,90' anywhere in the JSON, and *_cents ints)."""
        if isinstance(content, str):
            try:
                content = json.loads(content)
            except json.JSONDecodeError:
                pass  # plain text (an error message): its amounts still count
        self._walk(content)

    def _walk(self, node) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(value, int) and not isinstance(value, bool) and key.endswith("_cents"):
                    self.allowed.add(value)
                elif isinstance(value, str):
                    self.add_amounts(amounts_in(value))
                else:
                    self._walk(value)
        elif isinstance(node, list):
            for value in node:
                self._walk(value)
        elif isinstance(node, str):
            self.add_amounts(amounts_in(node))


def ungrounded(text: str, facts: PriceFacts) -> list[int]:
    """Amounts in `text` the server does not know (empty list = grounded)."""
    return [c for c in amounts_in(text) if c not in facts.allowed]


@dataclass
class Rewrite:
    text: str
    replaced: int = 0  # amounts rewritten from the catalogue
    dropped: int = 0  # sentences removed because their amount could not be tied to a product


def rewrite(text: str, facts: PriceFacts) -> Rewrite:
    """Fix every unknown amount: catalogue price of the product the sentence names, else drop the sentence."""
    keys = {name: _normalise(" ".join(name.split()[:NAME_WORDS])) for name in facts.products}
    out, replaced, dropped = [], 0, 0
    for sentence in SENTENCE_RE.split(text):
        bad = [m for m in AMOUNT_RE.finditer(sentence) if amount_cents(m.group(0)) not in facts.allowed]
        if not bad:
            out.append(sentence)
            continue
        norm = _normalise(sentence)
        named = [name for name, key in keys.items() if key and key in norm]
        if len(named) != 1:  # no product, or several: we cannot tell which price was meant
            dropped += 1
            continue
        price = format_brl(facts.products[named[0]])
        for m in reversed(bad):
            sentence = sentence[: m.start()] + price + sentence[m.end() :]
            replaced += 1
        out.append(sentence)
    return Rewrite(" ".join(s for s in out if s.strip()).strip(), replaced, dropped)
