"""Dead letters: inbox rows the worker gives up on, told to the customer once and shown to an operator.

A row is given up in two ways, both in the transaction that marks it `failed`:
  - the agent raised on its last allowed attempt (serve/whatsapp/worker.py: `_fail`);
  - a claim finds it already claimed `max_attempts` times without an answer (serve/whatsapp/inbox.py:
    `claim_customer`): a message that kills the process (a poison message) is reclaimed after every
    lease expiry and would stall its customer (and a worker slot) forever, so the cap is checked
    when claiming, before the agent sees it again.
Either way the customer gets ONE apology (queued in the outbox with the row's failure, so it is
sent once or the failure is rolled back with it), an `inbox_dead_letter` event counts it on
/admin/kpis, and an ERROR log line (`alert: true`) is what log-based alerting pages on. The row
keeps its payload and error: an operator can read it and requeue it.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from serve.conversation.messages import TextReply
from serve.storage.events import EventName
from serve.storage.tables import Event
from serve.whatsapp import outbox

log = logging.getLogger(__name__)

APOLOGY = TextReply("Desculpe, tive um problema para responder agora. Pode repetir daqui a pouco, por favor?")


def dead_letter(session: Session, customer_id: int, inbox_ids: list[int], *, attempts: int, reason: str) -> None:
    """Apology + event + alert for rows the caller has just marked `failed` in `session`."""
    outbox.enqueue_replies(session, customer_id, [APOLOGY])
    session.add(
        Event(
            customer_id=customer_id,
            name=EventName.INBOX_DEAD_LETTER,
            properties={"inbox_ids": inbox_ids, "attempts": attempts, "reason": reason[:200]},
        )
    )
    log.error(
        "inbox rows dead-lettered",
        extra={"alert": True, "customer_id": customer_id, "inbox_ids": inbox_ids, "attempts": attempts},
    )
