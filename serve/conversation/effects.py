"""The tool-effect ledger: a turn replayed after a lost lease or a crash applies each effect once.

The worker completes an inbox batch (rows done + replies queued) only after the agent's turn, and
the tools commit on their own before that. A worker that dies, or loses its lease, between a
tool's commit and the completion leaves the batch to be claimed again, and the replayed turn would
add the same item a second time, or answer "carrinho vazio" to a checkout whose order already
exists, so the payment link is never delivered.

So every call that changes state (EFFECTFUL) writes its outcome to `tool_effects` in the SAME
transaction as its effect, under (turn key, call index): the turn key names the inbox batch (the
worker passes "inbox:<oldest row id>", the same on every reclaim of those rows), the index is the
call's place among the turn's executed calls. When the key is already there, the stored outcome
(result, events, PIX code) is returned and nothing runs again: the replayed turn answers exactly
what the first one would have. Two workers racing on one key: the loser's insert violates the
unique key, its transaction (effect included) rolls back, and its retry reads the winner's row.

A replay that proposes a DIFFERENT call at that place (the model chose otherwise, or new messages
joined the batch) cannot undo the first effect; the new call runs unrecorded, and a warning says so.
Read-only tools are not recorded: running them again changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from serve.storage.tables import ToolEffect

log = logging.getLogger(__name__)

EFFECTFUL = frozenset({"add_to_cart", "remove_from_cart", "checkout", "handoff_to_human"})


@dataclass(frozen=True)
class EffectKey:
    turn: str  # the inbox batch: "inbox:<oldest row id>"
    call: int  # 0, 1, ...: the call's place among the turn's executed calls


def lookup(session: Session, key: EffectKey, name: str, arguments: dict) -> tuple[dict | None, bool]:
    """(stored outcome, record?): the outcome to replay, or None and whether to record this run."""
    row = session.scalar(select(ToolEffect).where(ToolEffect.turn_key == key.turn, ToolEffect.call_index == key.call))
    if row is None:
        return None, True
    if row.name == name and row.arguments == arguments:
        return row.outcome, False
    log.warning(
        "replayed turn diverged from its recorded call; running the new call unrecorded",
        extra={"turn_key": key.turn, "call_index": key.call, "recorded": row.name, "tool": name},
    )
    return None, False


def record(session: Session, key: EffectKey, customer_id: int, name: str, arguments: dict, outcome: dict) -> None:
    """Store the outcome in the effect's transaction; flushed now so a racing twin fails here."""
    session.add(
        ToolEffect(
            turn_key=key.turn,
            call_index=key.call,
            customer_id=customer_id,
            name=name,
            arguments=arguments,
            outcome=outcome,
        )
    )
    session.flush()
