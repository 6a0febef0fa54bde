"""One customer turn's state, and its context read from the database.

    turn, greeting = load_turn(session_factory, customer_id, settings=..., tools=..., ...)

The context is read from the database on every turn, so a restart loses nothing: the customer's
profile becomes the contract's system prompt, then the last AGENT_HISTORY_TURNS `chat_turns` (cut
to start at a user message), and the open cart, shown as a `view_cart` exchange when the window no
longer holds one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from serve.commerce import customers
from serve.contract import system_prompt
from serve.conversation.executor import ToolOutcome, Tools
from serve.conversation.grounding import PriceFacts
from serve.conversation.messages import Reply
from serve.conversation.model_text import customer_language
from serve.conversation.routing import Command
from serve.conversation.structured_outputs import products_in
from serve.core.catalog import Catalogue
from serve.core.history import OlistHistory
from serve.core.tool_results import dumps
from serve.settings import Settings
from serve.storage.db import session_scope
from serve.storage.events import EventName
from serve.storage.tables import ChatTurn, Customer, utcnow

SESSION_GAP = timedelta(hours=12)  # a message after this much silence starts a new conversation (greeting offer)


@dataclass
class Turn:
    """State of one customer turn (what the model saw, what ran, what to persist)."""

    customer_id: int
    messages: list[dict]  # system + history + new (sent to the model)
    name: str | None = None  # the customer's name (WhatsApp profile), for server-worded greetings
    lang: str = "pt"  # the customer's language ("pt" | "en") for server-worded replies
    has_cart: bool = False  # the open cart has items (a payment question then gets the payment buttons)
    handoff_open: bool = False  # a person was called and the ticket is open ("ok, aguardo": they will answer)
    awaiting_payment: str | None = None  # the method of an order still unpaid ("manda o link de novo")
    cart: dict | None = None  # the cart when the turn started (a view_cart result)
    guess: Command | None = None  # the classifier's answer, used if the model gives none (agent._run_model)
    tool: str | None = None  # the tool the classifier is sure of: the model writes only its arguments
    new: list[dict] = field(default_factory=list)  # messages to persist in chat_turns
    turn_key: str | None = None  # the inbox batch this turn answers (effects.py); None: effects not keyed
    calls_run: int = 0  # executed tool calls so far: the next call's index under turn_key
    outcomes: list[ToolOutcome] = field(default_factory=list)
    events: list[tuple[str, dict]] = field(default_factory=list)
    facts: PriceFacts = field(default_factory=PriceFacts)
    llm_calls: int = 0
    completion_tokens: int = 0
    llm_ms: float = 0.0

    def add(self, message: dict) -> None:
        self.messages.append(message)
        self.new.append(message)

    def last_customer_text(self) -> str:
        return next((str(m["content"]) for m in reversed(self.messages) if m.get("role") == "user"), "")

    def mentions(self, value: str) -> bool:
        """Whether `value` appears in a customer message or tool result of the conversation."""
        v = value.strip().lower()
        return any(v in str(m.get("content") or "").lower() for m in self.messages if m.get("role") in ("user", "tool"))


def bot_asked(messages: list[dict]) -> bool:
    """The bot's last message ended with a question ("...: quer levar?"): an "ok" may answer it."""
    last = next((m for m in reversed(messages) if m.get("role") in ("assistant", "user") and m.get("content")), {})
    return last.get("role") == "assistant" and str(last["content"]).rstrip().endswith("?")


def exchange(call_id: str, name: str, args: dict, result: dict) -> list[dict]:
    """A tool call and its result, as chat messages."""
    return [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "name": name, "content": dumps(result)},
    ]


def learn_facts(turn: Turn, content: str | dict, catalogue: Catalogue) -> None:
    """Allowed amounts: everything a tool returned, plus catalogue prices of products it named."""
    turn.facts.add_tool_result(content)
    data = json.loads(content) if isinstance(content, str) else content
    for item in products_in(data):
        p = catalogue.get(str(item.get("id", "")))
        if p is not None:
            turn.facts.add_product(p.name, p.price_cents)


def load_turn(
    session_factory,
    customer_id: int,
    *,
    settings: Settings,
    tools: Tools,
    catalogue: Catalogue,
    olist: OlistHistory | None,
    lang: str | None = None,
) -> tuple[Turn, list[Reply]]:
    """The turn's context, and a recurring customer's greeting offer when a conversation starts;
    `lang`: the language of the new messages, if they tell one."""
    with session_scope(session_factory) as s:
        customer = s.get(Customer, customer_id)
        if customer is None:
            raise LookupError(f"customer {customer_id} does not exist")
        orders = customers.past_orders(s, customer, olist)
        context = customers.customer_context(customer, orders, catalogue)
        # The window moves in steps of half its size (it holds N/2..N rows), not one row per turn:
        # the prompt prefix then stays identical for several turns and vLLM's prefix cache
        # reuses its KV instead of re-reading the whole history.
        n = settings.AGENT_HISTORY_TURNS
        half = max(n // 2, 1)
        total = s.scalar(select(func.count()).select_from(ChatTurn).where(ChatTurn.customer_id == customer_id))
        start = max(0, -(-(total - n) // half) * half)
        rows = s.scalars(
            select(ChatTurn).where(ChatTurn.customer_id == customer_id).order_by(ChatTurn.id).offset(start).limit(n)
        ).all()
        history = [r.message for r in rows]
        while history and history[0].get("role") != "user":  # never start mid tool-exchange
            history.pop(0)
        lines = tools.cart_lines(s, customer_id)
        turn = Turn(customer_id, messages=[{"role": "system", "content": system_prompt(context)}], name=context.name)
        turn.has_cart = bool(lines)
        turn.handoff_open = tools.handoff_open(s, customer_id)
        turn.awaiting_payment = tools.awaiting_payment(s, customer_id)
        if lines and not any(m.get("name") in ("view_cart", "add_to_cart", "remove_from_cart") for m in history):
            # the cart outlived the window: show it the way the model saw carts in training
            turn.messages += exchange("ctx_cart", "view_cart", {}, tools.view_cart_result(lines))
        turn.messages += history
        turn.lang = lang or customer_language([m["content"] for m in history if m.get("role") == "user"])
        for m in turn.messages:
            if m.get("role") == "tool":
                learn_facts(turn, m["content"], catalogue)
        turn.cart = tools.view_cart_result(lines)
        turn.facts.add_tool_result(turn.cart)
        greeting = []
        if not rows or utcnow() - rows[-1].created_at > SESSION_GAP:  # a new conversation
            turn.events.append(
                (EventName.CONVERSATION_STARTED, {"recurring": context.recurring, "returning": bool(rows)})
            )
            if context.recurring:
                greeting = tools.greeting_replies(context, orders, turn.lang)
    return turn, greeting
