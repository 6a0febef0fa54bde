"""Who answered each turn of a simulated conversation, read from the agent's own KPI events.

The roles, from the most deterministic to the last resort:
    button            a tapped button or list row (the server runs its command; no model)
    references        "o segundo", "esse", "2 unidades": resolved from what was shown
    objection         "tá caro", "é bom?", "e o frete?" about what was shown, answered with its data
    knowledge         a store question, chit-chat or media, answered from the store's config
    router            a search the customer's words ask for, or a classified intent, run by the server itself
    model             the model's tool call or text
    classifier_guess  the model gave nothing usable: the classifier's guess answered
    fallback          the generic apology with buttons
"""

from __future__ import annotations

from collections import Counter, defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from serve.storage.events import EventName
from serve.storage.tables import Event

ROLES = ("button", "references", "objection", "knowledge", "router", "model", "classifier_guess", "fallback")


def new_events(session: Session, customer_id: int, after_id: int) -> tuple[list[tuple[str, dict]], int]:
    """The customer's events written after event id `after_id`, and the last id seen."""
    rows = session.execute(
        select(Event.id, Event.name, Event.properties)
        .where(Event.customer_id == customer_id, Event.id > after_id)
        .order_by(Event.id)
    ).all()
    return [(name, props or {}) for _, name, props in rows], (rows[-1][0] if rows else after_id)


def answered_by(events: list[tuple[str, dict]], tapped: bool) -> str:
    """The role that answered one turn, given the events the turn wrote."""
    names = {name for name, _ in events}
    if EventName.FALLBACK_REPLY in names:
        return "fallback"
    if EventName.INTENT_FALLBACK in names:
        return "classifier_guess"
    if tapped:
        return "button"
    if EventName.REFERENCE_RESOLVED in names:
        return "references"
    if EventName.OBJECTION_ANSWERED in names:
        return "objection"
    if EventName.KNOWLEDGE_ANSWER in names:
        return "knowledge"
    if EventName.SEARCH_ASKED in names or any(
        name == EventName.INTENT and props.get("routed") for name, props in events
    ):
        return "router"
    llm_calls = sum(props.get("llm_calls", 0) for name, props in events if name == EventName.TURN_LATENCY_MS)
    return "model" if llm_calls else "router"


def role_table(rows: list[dict]) -> dict:
    """Shares of turns by role, overall and per turn kind (the customer's act, or "tap")."""
    overall: Counter = Counter()
    by_kind: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        for kind, role in r.get("roles", []):
            overall[role] += 1
            by_kind[kind][role] += 1
    total = sum(overall.values())
    return {
        "turns": total,
        "share": {role: round(overall[role] / total, 4) for role in ROLES if overall[role]} if total else {},
        "by_kind": {kind: dict(counts) for kind, counts in sorted(by_kind.items())},
    }
