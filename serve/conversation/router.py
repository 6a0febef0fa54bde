"""Free text the server answers without the model, in this order:

0. with an order awaiting payment and an empty cart, a request for its link again or for another
   way to pay ("manda o link de novo", "quero pagar no cartão": serve/conversation/payment_requests.py);
1. a reference to what was shown ("o segundo", "esse", "quero o primeiro, 3 unidades, pode fechar":
   serve/conversation/references.py), or, with items in the cart, "quanto deu?";
2. an objection about what was just shown ("tá caro", "é bom?": serve/conversation/objections.py);
3. a store question, chit-chat or off-topic (serve/conversation/knowledge.py);
4. a request for products of a category this catalogue has ("vcs tem ferramenta de jardim?":
   routing.shopping_command, AGENT_SERVER_SEARCH), before a classifier can read it as a greeting
   or a person's request;
5. an intent the classifier is sure of (routing.INTENT_COMMANDS, focus_command), a quoted order
   code, or a category with a budget. A less sure guess is kept on the turn (`turn.guess`) as the
   answer of last resort; a sure intent that needs a tool with arguments (INTENT_TOOLS, with
   AGENT_TOOL_FROM_INTENT) becomes `turn.tool`: the model then writes only its arguments.

None: the model answers.
"""

from __future__ import annotations

import logging

from serve.conversation.knowledge import StoreKnowledge
from serve.conversation.objections import objection_command
from serve.conversation.payment_requests import payment_request_command
from serve.conversation.references import resolve_reference
from serve.conversation.routing import (
    INTENT_TOOLS,
    Command,
    cart_total_command,
    fallback_command,
    focus_command,
    focus_product,
    intent_command,
    order_code_command,
    search_command,
    shopping_command,
)
from serve.conversation.shown import last_search_arguments, read_shown
from serve.conversation.turn import Turn, bot_asked
from serve.core.catalog import Catalogue
from serve.core.intents import IntentClassifier
from serve.settings import Settings
from serve.storage.events import EventName

log = logging.getLogger(__name__)


def route_text(
    turn: Turn,
    text: str,
    *,
    settings: Settings,
    catalogue: Catalogue,
    knowledge: StoreKnowledge,
    intents: IntentClassifier | None,
) -> Command | None:
    """The server's command for a customer's free text, or None (the model answers)."""
    if (command := payment_request_command(text, turn.awaiting_payment, turn.has_cart)) is not None:
        return command  # counted by the checkout tool's event (payment_link_resent)
    shown = read_shown(turn.messages, turn.cart)  # read once: references and objections point into it
    if (command := resolve_reference(text, turn.messages, turn.cart, shown)) is not None:
        calls = [name for name, _ in command.calls]
        turn.events.append((EventName.REFERENCE_RESOLVED, {"tools": calls, "navigation": command.navigation}))
        return command
    if (command := cart_total_command(text, turn.has_cart)) is not None:  # "quanto deu?": the cart shown
        turn.events.append((EventName.REFERENCE_RESOLVED, {"tools": ["view_cart"], "navigation": None}))
        return command
    command = objection_command(text, shown, catalogue, turn.lang, last_search_arguments(turn.messages))
    if command is not None:
        turn.events.append((EventName.OBJECTION_ANSWERED, {"topic": command.topic}))
        return command
    focus = focus_product(turn.messages)
    known = knowledge.answer(text, turn.lang, focus=focus, cart=turn.has_cart, handoff=turn.handoff_open)
    if known is not None and known.topic == "ack" and not turn.handoff_open and bot_asked(turn.messages):
        turn.guess = known  # "ok" under "quer levar?" may be a yes: the model reads it, the note if it gives none
    elif known is not None:
        return counted_knowledge(turn, known)
    # A request for products of this catalogue is a search before any classifier can read it as
    # a greeting or a person's request; other requests' words keep a text out (shopping.py).
    if settings.AGENT_SERVER_SEARCH and (command := shopping_command(text, catalogue)) is not None:
        turn.events.append((EventName.SEARCH_ASKED, {"args": sorted(command.calls[0][1])}))
        return command
    if intents is None or not text.strip():
        return order_code_command("", text)
    try:
        ((intent, confidence),) = intents.predict_with_confidence([text])
    except Exception:  # a broken classifier must not cost the customer an answer
        log.exception("intent classifier failed")
        return None
    command = None
    if confidence >= settings.NLU_MIN_CONFIDENCE:
        command = intent_command(intent, text) or focus_command(intent, text, turn.messages)
        if command is None and settings.AGENT_TOOL_FROM_INTENT:
            turn.tool = INTENT_TOOLS.get(intent)
    command = command or order_code_command(intent, text)
    command = command or search_command(intent, text, catalogue)  # category + budget: no model
    turn.events.append((EventName.INTENT, {"intent": intent, "p": round(confidence, 3), "routed": command is not None}))
    if command is None:
        turn.guess = turn.guess or fallback_command(intent, text)  # the answer if the model gives none
    return command


def counted_knowledge(turn: Turn, command: Command | None) -> Command | None:
    """A knowledge/chit-chat/media answer (serve/conversation/knowledge.py), counted for the KPIs."""
    if command is not None:
        turn.events.append((EventName.KNOWLEDGE_ANSWER, {"topic": command.topic}))
    return command
