"""Text checks on both sides of the model: what it wrote (garbage, loops, cut sentences, roles it
must never write) and what language the customer writes in. Pure functions, used by serve/conversation/agent.py,
except `written_language`, which reads the customer's chat turns for messages sent outside a turn.

Not in serve/commerce/customers.py: that module is a dependency of the synthesize stage (dvc.yaml), and
serving-only code there would make DVC retrain for nothing.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from serve.conversation.texts import BUTTON_TITLES, detect_language, words
from serve.storage.tables import ChatTurn

# Roles the model must never write. A small model shown tool results in its prompt sometimes
# starts a made-up "<tool_response>" instead of answering: stopping there cuts the garbage short,
# and the turn falls back at once instead of after AGENT_MAX_TOKENS tokens.
STOP = ["<tool_response>", "<|im_start|>"]
STOPWORDS = frozenset(
    "a o e é de da do que em um uma para pra com não nao no na os as se por mais você voce seu sua "
    "the to and of is you your in it for we i".split()
)


def looks_like_garbage(text: str | None) -> bool:
    """Text no customer should receive: empty, chat-template debris, or word soup.

    A real pt/en sentence of 8+ words virtually always holds a stopword ("de", "o", "você", "the");
    a random-weight model's token soup does not.
    """
    if not text or not text.strip():
        return True
    if any(tag in text for tag in ("<|im_", "<tool_call>", "</tool_call>", "<tool_response>", "<|endoftext|>")):
        return True
    found = words(text)
    if not found or any(len(w) > 40 for w in found):
        return True
    return len(found) >= 8 and sum(w in STOPWORDS for w in found) / len(found) < 0.05


def tidy(text: str | None, truncated: bool = False) -> str | None:
    """Drop repeated lines (small models loop) and, when max_tokens cut the text, the unfinished sentence."""
    if not text:
        return text
    seen, lines = set(), []
    for line in text.strip().splitlines():
        key = line.strip().lower()
        if key and key in seen:
            continue
        seen.add(key)
        lines.append(line.rstrip())
    text = "\n".join(lines).strip()
    if truncated:
        ends = [text.rfind(c) for c in ".!?…\n"]
        cut = max(ends)
        if cut > len(text) // 3:  # keep what was said in full, unless that is almost nothing
            text = text[: cut + 1].strip()
    return text


CHOICE_ID = re.compile(r"^[a-z_]+(:\S*)?$")  # "view_cart", "add_to_cart:6c960ba6": a button id, not words


def customer_language(user_texts: list[str], default: str | None = "pt") -> str | None:
    """The language of the newest of `user_texts` that tells one (see serve/conversation/texts.py). Button
    titles and ids are skipped: they are our words ("Ver carrinho"), not the customer's."""
    for text in reversed(user_texts):
        if not isinstance(text, str) or text in BUTTON_TITLES or CHOICE_ID.match(text.strip()):
            continue
        if lang := detect_language(text):
            return lang
    return default


def written_language(session: Session, customer_id: int, last: int = 10) -> str:
    """The language the customer wrote in lately (their chat turns), for messages sent outside a
    turn (payment confirmations); inside a turn the agent reads it from the history it loads."""
    rows = session.scalars(
        select(ChatTurn.message).where(ChatTurn.customer_id == customer_id).order_by(ChatTurn.id.desc()).limit(4 * last)
    ).all()
    said = [m.get("content") for m in reversed(rows) if isinstance(m, dict) and m.get("role") == "user"]
    return customer_language(said[-last:])
