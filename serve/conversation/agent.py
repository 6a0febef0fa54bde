"""The sales agent: one customer turn = a bounded tool loop over vLLM's OpenAI-compatible API.

    respond(session_factory, customer_id, inbound) -> list[Reply]

1. Context from the database (so a restart loses nothing): customer profile → CustomerContext →
   the contract's system prompt; the last AGENT_HISTORY_TURNS `chat_turns` (cut to start at a user
   message); the open cart, shown as a `view_cart` exchange when the window no longer holds one.
2. Button/list choices whose id is a command ("add_to_cart:<ref>", "checkout:pix", ...) run
   server-side without the model (serve/conversation/routing.py): the commerce path is deterministic and
   costs no model time, and the exchange is logged as the same tool call the model would make.
   Free text that points at what the bot showed ("o segundo", "esse", "2 unidades", "tira o lençol",
   "quero o primeiro, 3 unidades, pode fechar") becomes a command too, before anything else
   (serve/conversation/references.py; "quanto deu com o frete?" with items in the cart: the cart).
   A text that is only a store question, chit-chat or off-topic, and media without words, get the
   server's answer from the store's config next (serve/conversation/knowledge.py). A request for
   products of a category this catalogue has ("vcs tem ferramenta de jardim?", "presente pra minha
   afilhada de 7 anos") is then searched by the server (routing.shopping_command,
   AGENT_SERVER_SEARCH), before a classifier can read it as a greeting or a person's request.
3. Other free text is first classified (the nlu stage's intent model, `intents`): a confident greeting,
   thanks, "no, thanks", cart, order status, checkout or human/complaint request becomes such a
   command too (serve/conversation/routing.py: INTENT_COMMANDS), and so is a follow-up about the product in
   focus ("e o frete?": focus_command); less sure guesses are kept as the answer of last resort
   (step 4). A confident intent that needs a tool with arguments (INTENT_TOOLS, with
   AGENT_TOOL_FROM_INTENT) starts the model's answer with that tool's call: the model writes only
   the arguments.
   Other free text goes to the model: chat.completions.create(tools=TOOLS, tool_choice="auto",
   max_tokens=AGENT_MAX_TOKENS) at most AGENT_MAX_STEPS times within one turn deadline
   (LLM_TIMEOUT_S). Each proposed call is validated (contract pydantic models + catalogue ids) and
   executed for the verified customer only; a refused call is answered with an error tool result
   and never executed; arguments the customer's words do not support are replaced (`_grounded`).
   With AGENT_STRUCTURED_OUTPUTS every call carries a grammar (vLLM structured outputs,
   serve/conversation/structured_outputs.py): the arguments the model writes, and any call in a
   free answer, follow the contract's schema with the catalogue's categories and the products
   the conversation has shown, so a call always parses (how often it is right: bench/RESULTS.md).
   At most LLM_MAX_CONCURRENCY calls are in flight across customers. `<tool_call>` text that
   slipped past vLLM's hermes parser is parsed here with the same rules (`extract_tool_calls`).
   Once a call has worked, AGENT_REPLY_AFTER_TOOLS decides who words the answer: "server"
   (default) writes it from the tool result (serve/conversation/present.py: server_text, the
   product list, card and buttons), so a text turn costs ONE model call that only has to pick the
   tool; "model" asks the model again (it phrases results more freely, at the price of a second
   call).
4. The final text is price-grounded (serve/conversation/grounding.py): regenerated once on an unknown amount,
   then rewritten from the catalogue. Model errors, timeouts, empty or garbage text → the
   classifier's guess if there is one, else a fallback with buttons (and a `fallback_reply`
   event), in the customer's language; never an exception.
5. After the turn, vLLM is asked to read the customer's updated context (AGENT_PREFILL_BETWEEN_TURNS)
   so the next model call only prefills the new message.
6. New turns go to `chat_turns`; KPI events (product_viewed, cart_add, checkout_started, handoff,
   turn_latency_ms, ...) to `events`. Logs carry ids and counts, never phone numbers or text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import timedelta

import openai
from openai import AsyncOpenAI
from sqlalchemy import func, select

from serve.commerce import customers
from serve.contract import TOOLS, ToolCallError, extract_tool_calls, system_prompt
from serve.conversation.executor import ToolOutcome, Tools
from serve.conversation.grounding import PriceFacts, amounts_in, rewrite, ungrounded
from serve.conversation.knowledge import StoreKnowledge
from serve.conversation.messages import Inbound, Reply, TextReply
from serve.conversation.model_text import STOP, customer_language, looks_like_garbage, tidy
from serve.conversation.objections import objection_command
from serve.conversation.present import Presenter, fallback_replies, outcomes_text, server_text
from serve.conversation.references import resolve_reference
from serve.conversation.routing import (
    INTENT_TOOLS,
    Command,
    asks_about_orders,
    cart_total_command,
    fallback_command,
    focus_command,
    focus_product,
    intent_command,
    order_code_command,
    parse_command,
    search_command,
    shopping_command,
)
from serve.conversation.shopping import with_customer_constraints
from serve.conversation.shown import last_search_arguments, read_shown
from serve.conversation.structured_outputs import (
    ARGUMENTS_END,
    arguments_format,
    category_spellings,
    close_arguments,
    free_turn_format,
    products_in,
    response_format,
    shown_products,
    tool_call_prefix,
)
from serve.core.catalog import Catalogue, tokens
from serve.core.history import OlistHistory
from serve.core.intents import IntentClassifier
from serve.core.tool_results import dumps, error
from serve.settings import Settings
from serve.storage.db import session_scope
from serve.storage.events import EventName
from serve.storage.tables import ChatTurn, Customer, Event, utcnow

log = logging.getLogger(__name__)

SESSION_GAP = timedelta(hours=12)  # a message after this much silence starts a new conversation (greeting offer)
REGENERATE_TEMPERATURE = 0.7  # the second draft after an ungrounded price must differ from the first


@dataclass
class Turn:
    """State of one customer turn (what the model saw, what ran, what to persist)."""

    customer_id: int
    messages: list[dict]  # system + history + new (sent to the model)
    name: str | None = None  # the customer's name (WhatsApp profile), for server-worded greetings
    lang: str = "pt"  # the customer's language ("pt" | "en") for server-worded replies
    has_cart: bool = False  # the open cart has items (a payment question then gets the payment buttons)
    handoff_open: bool = False  # a person was called and the ticket is open ("ok, aguardo": they will answer)
    cart: dict | None = None  # the cart when the turn started (a view_cart result)
    guess: Command | None = None  # the classifier's answer, used if the model gives none (_run_model)
    tool: str | None = None  # the tool the classifier is sure of: the model writes only its arguments
    new: list[dict] = field(default_factory=list)  # messages to persist in chat_turns
    outcomes: list[ToolOutcome] = field(default_factory=list)
    events: list[tuple[str, dict]] = field(default_factory=list)
    facts: PriceFacts = field(default_factory=PriceFacts)
    llm_calls: int = 0
    completion_tokens: int = 0
    llm_ms: float = 0.0

    def add(self, message: dict) -> None:
        self.messages.append(message)
        self.new.append(message)


def _bot_asked(messages: list[dict]) -> bool:
    """The bot's last message ended with a question ("...: quer levar?"): an "ok" may answer it."""
    last = next((m for m in reversed(messages) if m.get("role") in ("assistant", "user") and m.get("content")), {})
    return last.get("role") == "assistant" and str(last["content"]).rstrip().endswith("?")


class Agent:
    def __init__(
        self,
        settings: Settings,
        catalogue: Catalogue,
        olist: OlistHistory | None = None,
        tools: Tools | None = None,
        client: AsyncOpenAI | None = None,
        intents: IntentClassifier | None = None,
        knowledge: StoreKnowledge | None = None,
    ):
        """olist: linked customers' Olist purchases (profile, reorder, order status); intents: the
        nlu stage's classifier, or None: then every free text goes to the model; knowledge: the
        store's answers (default: STORE_CONFIG)."""
        self.settings = settings
        self.intents = intents
        self._background: set[asyncio.Task] = set()
        # At most LLM_MAX_CONCURRENCY model calls in flight: vLLM on a few CPU cores slows every
        # call down when it batches many, so beyond that they queue here, while the worker keeps
        # answering button turns (which need no model) for other customers.
        self.llm_slots = asyncio.Semaphore(settings.LLM_MAX_CONCURRENCY)
        self.catalogue = catalogue
        self._categories: list[str] | None = None  # the catalogue's category spellings, read once
        self.olist = olist
        self.tools = tools or Tools(catalogue, settings, olist=olist)
        self.presenter = Presenter(catalogue, card=self.tools.card)
        self.knowledge = knowledge or StoreKnowledge.load(settings, catalogue)
        # max_retries=0: a retried timeout doubles the customer's wait; the fallback is better.
        self.client = client or AsyncOpenAI(
            base_url=settings.LLM_BASE_URL, api_key=settings.LLM_API_KEY, timeout=settings.LLM_TIMEOUT_S, max_retries=0
        )

    async def warm_up(self) -> bool:
        """One 1-token request with the system prompt and tools, so vLLM's prefix cache holds the
        ~700 tokens every conversation starts with before the first customer arrives (the first
        turn after a restart otherwise pays their prefill, ~1 s on 2 CPU cores). False if vLLM is
        not reachable; the bot works without it. With AGENT_STRUCTURED_OUTPUTS it carries a free
        turn's grammar, so vLLM's grammar compiler pays its one-time start-up here, not on a
        customer's turn (bench/RESULTS.md, "Structured outputs")."""
        messages = [{"role": "system", "content": system_prompt()}, {"role": "user", "content": "oi"}]
        extra = {}
        if self.settings.AGENT_STRUCTURED_OUTPUTS:
            extra["response_format"] = self._output_format(Turn(0, messages), None)
        try:
            await self._chat(messages, 1, **extra)
        except (TimeoutError, openai.APIError, openai.APITimeoutError) as exc:
            log.warning("llm warm-up failed", extra={"error": type(exc).__name__})
            return False
        return True

    async def _chat(self, messages: list[dict], max_tokens: int, temperature: float = 0.0, **kwargs):
        """One chat completion with the contract's tools (every request the bot makes to vLLM)."""
        return await self.client.chat.completions.create(
            model=self.settings.LLM_MODEL,
            messages=messages,
            tools=TOOLS,
            tool_choice="auto",
            max_tokens=max_tokens,
            temperature=temperature,
            **kwargs,
        )

    # ------------------------------------------------------------------------------ entry
    async def respond(self, session_factory, customer_id: int, inbound: list[Inbound]) -> list[Reply]:
        started = time.monotonic()
        try:
            said = customer_language([m.text for m in inbound if m.type == "text" and m.text], default=None)
            turn, greeting = await asyncio.to_thread(self._load, session_factory, customer_id, said)
            replies = await self._respond(session_factory, turn, inbound, greeting)
        except Exception as exc:  # never crash the worker: a customer always gets an answer
            log.exception("agent turn failed", extra={"customer_id": customer_id})
            turn = Turn(customer_id, messages=[])
            turn.events.append((EventName.FALLBACK_REPLY, {"reason": type(exc).__name__}))
            replies = fallback_replies()
        ms = round((time.monotonic() - started) * 1000, 1)
        turn.events.append(
            (
                EventName.TURN_LATENCY_MS,
                {
                    "ms": ms,
                    "llm_ms": round(turn.llm_ms, 1),
                    "llm_calls": turn.llm_calls,
                    "completion_tokens": turn.completion_tokens,
                },
            )
        )
        await asyncio.to_thread(self._persist, session_factory, turn)
        log.info(
            "turn done",
            extra={
                "customer_id": customer_id,
                "ms": ms,
                "llm_calls": turn.llm_calls,
                "tools": [o.name for o in turn.outcomes],
                "replies": len(replies),
            },
        )
        if self.settings.AGENT_PREFILL_BETWEEN_TURNS:
            task = asyncio.create_task(self.prefill(session_factory, customer_id))
            self._background.add(task)  # a reference, or the task may be collected mid-flight
            task.add_done_callback(self._background.discard)
        return replies

    async def prefill(self, session_factory, customer_id: int) -> bool:
        """Have vLLM read the customer's context now, while the customer reads and types.

        Button turns and server-worded answers add tool results and texts the model has not read
        yet (~200-600 tokens after a product card and a cart update); the next model call then
        spent up to 2 s on their prefill on 2 CPU cores. This builds exactly the prompt the next
        turn starts with (the same `_load`) and asks for one token, so vLLM's prefix cache holds it.
        """
        if self.llm_slots.locked():  # every slot is answering a customer: no time for optimisations
            return False
        try:
            turn, _ = await asyncio.to_thread(self._load, session_factory, customer_id)
            async with self.llm_slots:
                await self._chat(turn.messages, 1)
        except Exception as exc:  # an optimisation only: never an error for the customer
            log.debug("prefill failed", extra={"customer_id": customer_id, "error": type(exc).__name__})
            return False
        return True

    async def _respond(self, session_factory, turn: Turn, inbound: list[Inbound], greeting: list[Reply]) -> list[Reply]:
        parsed = [(m, parse_command(m.choice_id)) for m in inbound]
        others = [m for m, command in parsed if command is None]
        replies: list[Reply] = []
        for msg, command in parsed:
            if command is not None:
                replies += await self._run_command(session_factory, turn, command, msg.as_agent_text())
        if others:  # turn.lang already follows these messages (respond → _load)
            text = "\n".join(m.as_agent_text() for m in others)
            plain = all(m.type == "text" for m in others)
            routed = self._route(turn, text) if plain else self._known(turn, self.knowledge.media(others, turn.lang))
            if routed is not None and routed.navigation == "greeting" and greeting:
                # a recurring customer's "oi": the reorder/novelties offer (by name) is the answer
                turn.add({"role": "user", "content": text})
                turn.add({"role": "assistant", "content": greeting[0].body})
            elif routed is not None:
                replies += await self._run_command(session_factory, turn, routed, text)
                greeting = greeting if routed.navigation != "silent" else []  # a reaction gets no answer at all
            else:
                replies += await self._run_model(session_factory, turn, text)
        return replies + greeting  # the reorder/novelties offer follows the answer to the greeting

    def _route(self, turn: Turn, text: str) -> Command | None:
        """A reference to what was shown (serve/conversation/references.py; "quanto deu?" with a
        cart), a store question (knowledge), a request for products (routing.shopping_command) or a
        confidently classified intent the server answers itself (INTENT_COMMANDS), else None."""
        if (command := resolve_reference(text, turn.messages, turn.cart)) is not None:
            calls = [name for name, _ in command.calls]
            turn.events.append((EventName.REFERENCE_RESOLVED, {"tools": calls, "navigation": command.navigation}))
            return command
        if (command := cart_total_command(text, turn.has_cart)) is not None:  # "quanto deu?": the cart shown
            turn.events.append((EventName.REFERENCE_RESOLVED, {"tools": ["view_cart"], "navigation": None}))
            return command
        if (command := self._objection(turn, text)) is not None:
            return command
        focus = focus_product(turn.messages)
        known = self.knowledge.answer(text, turn.lang, focus=focus, cart=turn.has_cart, handoff=turn.handoff_open)
        if known is not None and known.topic == "ack" and not turn.handoff_open and _bot_asked(turn.messages):
            turn.guess = known  # "ok" under "quer levar?" may be a yes: the model reads it, the note if it gives none
        elif known is not None:
            return self._known(turn, known)
        # A request for products of this catalogue is a search before any classifier can read it as
        # a greeting or a person's request; other requests' words keep a text out (shopping.py).
        if self.settings.AGENT_SERVER_SEARCH and (command := shopping_command(text, self.catalogue)) is not None:
            turn.events.append((EventName.SEARCH_ASKED, {"args": sorted(command.calls[0][1])}))
            return command
        if self.intents is None or not text.strip():
            return order_code_command("", text)
        try:
            ((intent, confidence),) = self.intents.predict_with_confidence([text])
        except Exception:  # a broken classifier must not cost the customer an answer
            log.exception("intent classifier failed")
            return None
        command = None
        if confidence >= self.settings.NLU_MIN_CONFIDENCE:
            command = intent_command(intent, text) or focus_command(intent, text, turn.messages)
            if command is None and self.settings.AGENT_TOOL_FROM_INTENT:
                turn.tool = INTENT_TOOLS.get(intent)
        command = command or order_code_command(intent, text)
        command = command or search_command(intent, text, self.catalogue)  # category + budget: no model
        turn.events.append(
            (EventName.INTENT, {"intent": intent, "p": round(confidence, 3), "routed": command is not None})
        )
        if command is None:
            turn.guess = turn.guess or fallback_command(intent, text)  # the answer if the model gives none
        return command

    def _objection(self, turn: Turn, text: str) -> Command | None:
        """Too dear, any good, shipping: about what was just shown (serve/conversation/objections.py)."""
        shown = read_shown(turn.messages, turn.cart)
        command = objection_command(text, shown, self.catalogue, turn.lang, last_search_arguments(turn.messages))
        if command is not None:
            turn.events.append((EventName.OBJECTION_ANSWERED, {"topic": command.topic}))
        return command

    @staticmethod
    def _known(turn: Turn, command: Command | None) -> Command | None:
        """A knowledge/chit-chat/media answer (serve/conversation/knowledge.py), counted for the KPIs."""
        if command is not None:
            turn.events.append((EventName.KNOWLEDGE_ANSWER, {"topic": command.topic}))
        return command

    # ------------------------------------------------------------------------------ context
    def _load(self, session_factory, customer_id: int, lang: str | None = None) -> tuple[Turn, list[Reply]]:
        """The turn's context; `lang`: the language of the new messages, if they tell one."""
        with session_scope(session_factory) as s:
            customer = s.get(Customer, customer_id)
            if customer is None:
                raise LookupError(f"customer {customer_id} does not exist")
            orders = customers.past_orders(s, customer, self.olist)
            context = customers.customer_context(customer, orders, self.catalogue)
            # The window moves in steps of half its size (it holds N/2..N rows), not one row per turn:
            # the prompt prefix then stays identical for several turns and vLLM's prefix cache
            # reuses its KV instead of re-reading the whole history.
            n = self.settings.AGENT_HISTORY_TURNS
            half = max(n // 2, 1)
            total = s.scalar(select(func.count()).select_from(ChatTurn).where(ChatTurn.customer_id == customer_id))
            start = max(0, -(-(total - n) // half) * half)
            rows = s.scalars(
                select(ChatTurn).where(ChatTurn.customer_id == customer_id).order_by(ChatTurn.id).offset(start).limit(n)
            ).all()
            history = [r.message for r in rows]
            while history and history[0].get("role") != "user":  # never start mid tool-exchange
                history.pop(0)
            lines = self.tools.cart_lines(s, customer_id)
            turn = Turn(
                customer_id, messages=[{"role": "system", "content": system_prompt(context)}], name=context.name
            )
            turn.has_cart = bool(lines)
            turn.handoff_open = self.tools.handoff_open(s, customer_id)
            if lines and not any(m.get("name") in ("view_cart", "add_to_cart", "remove_from_cart") for m in history):
                # the cart outlived the window: show it the way the model saw carts in training
                cart = self.tools.view_cart_result(lines)
                turn.messages += _exchange("ctx_cart", "view_cart", {}, cart)
            turn.messages += history
            turn.lang = lang or customer_language([m["content"] for m in history if m.get("role") == "user"])
            for m in turn.messages:
                if m.get("role") == "tool":
                    self._learn_facts(turn, m["content"])
            turn.cart = self.tools.view_cart_result(lines)
            turn.facts.add_tool_result(turn.cart)
            greeting = []
            if not rows or utcnow() - rows[-1].created_at > SESSION_GAP:  # a new conversation
                turn.events.append(
                    (EventName.CONVERSATION_STARTED, {"recurring": context.recurring, "returning": bool(rows)})
                )
                if context.recurring:
                    greeting = self.tools.greeting_replies(context, orders, turn.lang)
        return turn, greeting

    def _learn_facts(self, turn: Turn, content: str | dict) -> None:
        """Allowed amounts: everything a tool returned, plus catalogue prices of products it named."""
        turn.facts.add_tool_result(content)
        data = json.loads(content) if isinstance(content, str) else content
        for item in products_in(data):
            p = self.catalogue.get(str(item.get("id", "")))
            if p is not None:
                turn.facts.add_product(p.name, p.price_cents)

    # ------------------------------------------------------------------------------ commands
    async def _run_command(self, session_factory, turn: Turn, command: Command, user_text: str | None) -> list[Reply]:
        """Run a button/intent command; `user_text` is the customer's message (None: already added)."""
        if user_text is not None:
            turn.add({"role": "user", "content": user_text})
        if command.tool is None:  # pure navigation (e.g. "checkout" → choose a payment method)
            replies = self.presenter.replies([], command=command, name=turn.name, lang=turn.lang)
            if replies:  # none for a reaction or a sticker: only the customer's message is recorded
                turn.add({"role": "assistant", "content": replies[0].body})
            return replies
        outcomes = []
        for name, arguments in command.calls:
            if name == "checkout" and not all(o.ok for o in outcomes):
                break  # an order only from a cart the customer saw built as asked
            outcomes.append(await self._execute(session_factory, turn, f"cmd_{len(turn.messages)}", name, arguments))
        if not all(o.ok for o in outcomes):  # no payment choice after a refused step
            command = replace(command, navigation=None)
        text = outcomes_text(outcomes, turn.lang, command.topic)
        text += f"\n{command.answer}" if command.answer else ""  # a store answer to the same question
        replies = self.presenter.replies(outcomes, text=text, command=command, worded_by_server=True, lang=turn.lang)
        turn.add({"role": "assistant", "content": replies[-1].body if command.navigation else text})
        return replies

    # ------------------------------------------------------------------------------ model loop
    async def _run_model(self, session_factory, turn: Turn, text: str) -> list[Reply]:
        turn.add({"role": "user", "content": text})
        turn.facts.add_amounts(amounts_in(text))  # the customer's own budget may be echoed back
        deadline = time.monotonic() + self.settings.LLM_TIMEOUT_S
        first_outcome = len(turn.outcomes)
        final = None
        for step in range(self.settings.AGENT_MAX_STEPS):
            prefix = tool_call_prefix(turn.tool) if step == 0 and turn.tool else None
            choice = await self._complete(turn, deadline, prefix=prefix)
            if choice is None:
                break
            content, calls = _tool_calls(choice.message, prefix)
            if prefix and not calls:  # arguments that do not parse: the classifier's guess answers
                turn.events.append((EventName.TOOL_ARGUMENTS_UNPARSED, {"tool": turn.tool}))
                break
            if not calls:
                final = tidy(content, truncated=choice.finish_reason == "length")
                break
            if any(c["function"]["name"] == "order_status" for c in calls) and not asks_about_orders(text):
                turn.events.append((EventName.TOOL_REFUSED, {"tool": "order_status", "reason": "no order words"}))
                break  # the classifier's guess (a search of the customer's words) or the apology answers
            turn.add({"role": "assistant", "content": content or None, "tool_calls": calls})
            ran = [
                await self._execute(session_factory, turn, c["id"], c["function"]["name"], c["function"]["arguments"])
                for c in calls
            ]
            executed = [o for o in ran if not o.refused]
            if executed and self.settings.AGENT_REPLY_AFTER_TOOLS == "server":
                # The tools ran: word the result ourselves (grounded by construction) instead of a
                # second model call. Refused calls go back to the model, which can
                # fix its arguments.
                final = server_text(([o for o in executed if o.ok] or executed)[-1], turn.lang)
                turn.add({"role": "assistant", "content": final})
                return self.presenter.replies(
                    turn.outcomes[first_outcome:], text=final, worded_by_server=True, lang=turn.lang
                )
        else:
            turn.events.append((EventName.AGENT_STEPS_EXHAUSTED, {"steps": self.settings.AGENT_MAX_STEPS}))
        outcomes = turn.outcomes[first_outcome:]
        if final is not None and not looks_like_garbage(final):
            final = await self._ground(turn, final, deadline)
        if final is None or looks_like_garbage(final):
            if outcomes and outcomes[-1].ok:  # the tools worked; only the wording failed: say it ourselves
                final = server_text(outcomes[-1], turn.lang)
            elif turn.guess is not None and not outcomes:  # the classifier's guess beats an apology
                turn.events.append((EventName.INTENT_FALLBACK, {"reason": "model_text" if final else "model_error"}))
                return await self._run_command(session_factory, turn, turn.guess, None)
            else:
                turn.events.append((EventName.FALLBACK_REPLY, {"reason": "model_text" if final else "model_error"}))
                turn.add({"role": "assistant", "content": fallback_replies(turn.lang)[0].body})
                return fallback_replies(turn.lang)
        turn.add({"role": "assistant", "content": final})
        return self.presenter.replies(outcomes, text=final, lang=turn.lang)

    async def _complete(self, turn: Turn, deadline: float, temperature: float = 0.0, prefix: str | None = None):
        """One model call on the turn's messages; `prefix` starts the assistant's answer (vLLM's
        continue_final_message: the model continues that text instead of starting its own)."""
        messages, extra, stop = turn.messages, {}, STOP
        if prefix:
            messages = turn.messages + [{"role": "assistant", "content": prefix}]
            extra = {"extra_body": {"continue_final_message": True, "add_generation_prompt": False}}
            stop = STOP + [ARGUMENTS_END]
        if self.settings.AGENT_STRUCTURED_OUTPUTS:
            extra["response_format"] = self._output_format(turn, prefix)
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            turn.events.append((EventName.LLM_ERROR, {"error": "turn_deadline"}))
            return None
        started = time.monotonic()
        try:
            async with asyncio.timeout(remaining), self.llm_slots:  # waiting for a slot counts too
                response = await self._chat(
                    messages,
                    self.settings.AGENT_MAX_TOKENS,
                    temperature=temperature,
                    timeout=max(deadline - time.monotonic(), 0.05),
                    stop=stop,
                    **extra,
                )
        except (TimeoutError, openai.APIError, openai.APITimeoutError, ValueError) as exc:
            turn.events.append(
                (EventName.LLM_ERROR, {"error": type(exc).__name__, "status": getattr(exc, "status_code", None)})
            )
            log.warning("llm call failed", extra={"customer_id": turn.customer_id, "error": type(exc).__name__})
            return None
        finally:
            turn.llm_calls += 1
            turn.llm_ms += (time.monotonic() - started) * 1000
        if response.usage:
            turn.completion_tokens += response.usage.completion_tokens or 0
        if not response.choices:
            return None
        return response.choices[0]  # .message, and .finish_reason ("length": cut by max_tokens)

    def _output_format(self, turn: Turn, prefix: str | None) -> dict:
        """What the model may write (serve/conversation/structured_outputs.py): the arguments of
        the call the server started (`prefix`: a call to turn.tool), else text or valid calls."""
        if self._categories is None:
            self._categories = category_spellings(self.catalogue)
        products = shown_products(turn.messages)
        if prefix:
            return response_format(arguments_format(turn.tool, self._categories, products))
        return response_format(free_turn_format(self._categories, products))

    async def _ground(self, turn: Turn, text: str, deadline: float) -> str | None:
        if not ungrounded(text, turn.facts):
            return text
        turn.events.append((EventName.PRICE_UNGROUNDED, {"amounts": len(ungrounded(text, turn.facts))}))
        choice = await self._complete(turn, deadline, temperature=REGENERATE_TEMPERATURE)
        if choice is not None:
            content, calls = _tool_calls(choice.message)
            content = tidy(content, truncated=choice.finish_reason == "length")
            if not calls and content and not looks_like_garbage(content) and not ungrounded(content, turn.facts):
                return content
        fixed = rewrite(text, turn.facts)
        turn.events.append((EventName.PRICE_REWRITTEN, {"replaced": fixed.replaced, "dropped": fixed.dropped}))
        return fixed.text or None

    async def _execute(self, session_factory, turn: Turn, call_id: str, name: str, arguments) -> ToolOutcome:
        """Validate then run one call for turn.customer_id; refused calls are answered, never executed."""
        if call_id.startswith("cmd_"):
            args_text = json.dumps(arguments, ensure_ascii=False)
            turn.add(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": call_id, "type": "function", "function": {"name": name, "arguments": args_text}}
                    ],
                }
            )
        try:
            args = self.tools.validate(name, arguments)
        except ToolCallError as exc:
            outcome = ToolOutcome(name=name, result=error(str(exc)), refused=True)
            turn.events.append((EventName.TOOL_REFUSED, {"tool": name, "reason": str(exc)[:200]}))
        else:
            args = self._grounded(turn, name, args)
            outcome = await asyncio.to_thread(self.tools.run, session_factory, turn.customer_id, name, args)
            turn.events += outcome.events
        turn.outcomes.append(outcome)
        content = dumps(outcome.result)
        turn.add({"role": "tool", "tool_call_id": call_id, "name": name, "content": content})
        self._learn_facts(turn, outcome.result)
        return outcome

    def _grounded(self, turn: Turn, name: str, args):
        """Arguments the customer's words do not support, replaced by what they do support."""
        if name == "order_status" and args.order_id and not self._said(turn, args.order_id):
            # an order code nobody wrote (small models fill "1" or "order_id"): the latest order
            turn.events.append((EventName.ORDER_ID_IGNORED, {"order_id": args.order_id[:64]}))
            return args.model_copy(update={"order_id": None})
        if name == "search_products":
            said = next((str(m["content"]) for m in reversed(turn.messages) if m.get("role") == "user"), "")
            query = set(tokens(args.query))
            if said and (not query or (turn.lang == "pt" and not query & set(tokens(said)))):
                # a query with no word ("2" for "quero 2 jogos de lençol casal") or, for a customer
                # writing Portuguese like the catalogue, none of the customer's words ("carrinho"
                # for "tem outro modelo?"): search what the customer wrote instead. An English
                # customer's query is the model's translation into catalogue words: kept.
                turn.events.append((EventName.SEARCH_QUERY_REPLACED, {"query": args.query[:120]}))
                args = args.model_copy(update={"query": said[:120]})
            return with_customer_constraints(args, said, self.catalogue)  # their budget/category/sort: hard filters
        return args

    @staticmethod
    def _said(turn: Turn, value: str) -> bool:
        """Whether `value` appears in a customer message or tool result of the conversation."""
        v = value.strip().lower()
        return any(v in str(m.get("content") or "").lower() for m in turn.messages if m.get("role") in ("user", "tool"))

    # ------------------------------------------------------------------------------ persistence
    def _persist(self, session_factory, turn: Turn) -> None:
        try:
            with session_scope(session_factory) as s:
                for m in turn.new:
                    s.add(ChatTurn(customer_id=turn.customer_id, message=m))
                for name, props in turn.events:
                    s.add(Event(customer_id=turn.customer_id, name=name, properties=props))
        except Exception:  # losing a log row must not lose the customer's answer
            log.exception("could not persist turn", extra={"customer_id": turn.customer_id})


def _exchange(call_id: str, name: str, args: dict, result: dict) -> list[dict]:
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


def _tool_calls(message, prefix: str | None = None) -> tuple[str | None, list[dict]]:
    """(content, calls) from a response message: vLLM's parsed calls, else our hermes parse of the
    text (after `prefix`, the start of the answer the server wrote: vLLM sees only the continuation)."""
    text = message.content or ""
    if prefix:
        # stopped at ARGUMENTS_END, which vLLM leaves out (close_arguments adds it back)
        text = prefix + (text if "</tool_call>" in text else close_arguments(text))
    elif message.tool_calls:
        calls = [
            {
                "id": c.id,
                "type": "function",
                "function": {"name": c.function.name, "arguments": c.function.arguments or "{}"},
            }
            for c in message.tool_calls
        ]
        return message.content, calls
    content, parsed = extract_tool_calls(text)
    calls = [
        {"id": f"call_{i}_{int(time.time() * 1000) % 10**8}", "type": "function", "function": c}
        for i, c in enumerate(parsed)
    ]
    return (content.strip() if content else None), calls


__all__ = ["Agent", "TextReply", "looks_like_garbage"]
