"""What a simulated customer does next: say something (a burst of texts), tap a choice, pay, or stop."""

from __future__ import annotations

from dataclasses import dataclass

from serve.core.catalog import Product


def spoken_name(product: Product, words: int) -> str:
    """A product as a person names it in a message: its first few words, no sizes or codes."""
    kept = [w.lower() for w in product.name.split() if w.isalpha() and len(w) > 2]
    return " ".join(kept[:words]) or product.name.lower()


@dataclass(frozen=True)
class Say:
    texts: tuple[str, ...]  # one burst of messages
    act: str


@dataclass(frozen=True)
class Tap:
    choice_id: str
    title: str


@dataclass(frozen=True)
class Pay:
    charge_id: str


@dataclass(frozen=True)
class Done:
    reason: str  # paid | answered | handed_off | looked | gave_up | asked_human | objection_unanswered


Action = Say | Tap | Pay | Done
