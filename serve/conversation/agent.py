"""The sales agent: one customer turn = a bounded tool loop over vLLM's OpenAI-compatible API.

    respond(session_factory, customer_id, inbound) -> list[Reply]

1. Context from the database, so a restart loses nothing (serve/conversation/turn.py).
2. Button/list choices whose id is a command ("add_to_cart:<ref>", "checkout:pix", ...) run
   server-side without the model (serve/conversation/routing.py): the commerce path is
   deterministic and costs no model time, and the exchange is logged as the same tool call the
   model would make. Free text the server can answer itself (a reference to what was shown, an
   objection, a store question, a request for a category, an intent the classifier is sure of)
   becomes a command too (serve/conversation/router.py); media without words get the store's
   answer (serve/conversation/knowledge.py).
3. Other free text goes to the model (serve/conversation/llm_client.py): at most AGENT_MAX_STEPS
   calls within one turn deadline (LLM_TIMEOUT_S); when the classifier is sure of a tool that needs
   arguments, the server starts the call and the model writes only its arguments. Each proposed
   call is validated (contract pydantic models + catalogue ids) and executed for the verified
   customer only; a refused call is answered with an error tool result and never executed;
   arguments the customer's words do not support are replaced (serve/conversation/call_arguments.py).
   Once a call has worked, AGENT_REPLY_AFTER_TOOLS decides who words the answer: "server"
   (default) writes it from the tool result (serve/conversation/present.py: server_text, the
   product list, card and buttons), so a text turn costs ONE model call that only has to pick the
   tool; "model" asks the model again (freer phrasing, at the price of a second call).
4. The final text is price-grounded (serve/conversation/grounding.py): regenerated once on an
   unknown amount, then rewritten from the catalogue. Model errors, timeouts, empty or garbage
   text → the classifier's guess if there is one, else a fallback with buttons (and a
   `fallback_reply` event), in the customer's language. Only a database failure
   (storage.db.is_infrastructure_error) is raised: the worker then retries the whole message.
5. After the turn, vLLM is asked to read the customer's updated context (AGENT_PREFILL_BETWEEN_TURNS)
   so the next model call only prefills the new message.
6. New turns go to `chat_turns`; KPI events (product_viewed, cart_add, checkout_started, handoff,
   turn_latency_ms, ...) to `events`, written by `Answer.record` in the worker's completion
   transaction (`respond` writes them itself for the simulator and the terminal). A tool's effect
   commits earlier, with its outcome under the turn's key (serve/conversation/effects.py), so a turn
   replayed after a lost lease or a crash repeats no effect and is logged once.
   Logs carry ids and counts, never phone numbers or text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import replace

from openai import AsyncOpenAI

from serve.contract import ToolCallError
from serve.conversation.call_arguments import grounded_arguments
from serve.conversation.effects import EffectKey
from serve.conversation.executor import ToolOutcome, Tools
from serve.conversation.grounding import amounts_in, rewrite, ungrounded
from serve.conversation.knowledge import StoreKnowledge
from serve.conversation.llm_client import ModelClient, tool_calls
from serve.conversation.messages import Answer, Inbound, Reply, TextReply
from serve.conversation.model_text import customer_language, looks_like_garbage, tidy
from serve.conversation.present import Presenter, fallback_replies, outcomes_text, server_text
from serve.conversation.router import counted_knowledge, route_text
from serve.conversation.routing import Command, asks_about_orders, parse_command
from serve.conversation.structured_outputs import tool_call_prefix
from serve.conversation.turn import Turn, learn_facts, load_turn
from serve.core.catalog import Catalogue
from serve.core.history import OlistHistory
from serve.core.intents import IntentClassifier
from serve.core.tool_results import dumps, error
from serve.settings import Settings
from serve.storage.db import is_infrastructure_error, session_scope
from serve.storage.events import EventName
from serve.storage.tables import ChatTurn, Event

log = logging.getLogger(__name__)

REGENERATE_TEMPERATURE = 0.7  # the second draft after an ungrounded price must differ from the first


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
        self.catalogue = catalogue
        self.olist = olist
        self.tools = tools or Tools(catalogue, settings, olist=olist)
        self.presenter = Presenter(catalogue, card=self.tools.card)
        self.knowledge = knowledge or StoreKnowledge.load(settings, catalogue)
        self.model = ModelClient(settings, catalogue, client)

    async def warm_up(self) -> bool:
        return await self.model.warm_up()

    # ------------------------------------------------------------------------------ entry
    async def respond(self, session_factory, customer_id: int, inbound: list[Inbound]) -> list[Reply]:
        """A turn that logs itself in its own transaction (simulator, terminal, tests); the worker
        calls `answer` and logs the turn with its completion instead."""
        answer = await self.answer(session_factory, customer_id, inbound)
        await asyncio.to_thread(self._persist, session_factory, customer_id, answer.record)
        answer.committed()
        return answer.replies

    async def answer(
        self, session_factory, customer_id: int, inbound: list[Inbound], turn_key: str | None = None
    ) -> Answer:
        """One turn, not yet logged; `turn_key` names the inbox batch, so that a replay of it (lost
        lease, crash) returns the stored outcome of each effect instead of applying it twice."""
        started = time.monotonic()
        try:
            said = customer_language([m.text for m in inbound if m.type == "text" and m.text], default=None)
            turn, greeting = await asyncio.to_thread(self._load, session_factory, customer_id, said)
            turn.turn_key = turn_key
            replies = await self._respond(session_factory, turn, inbound, greeting)
        except Exception as exc:
            if is_infrastructure_error(exc):
                raise  # the database failed, not the turn: the worker retries the message (serve/whatsapp/worker.py)
            # a model, tool or wording error stays inside the turn: the customer gets an answer
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
        return Answer(
            replies,
            record=lambda session: self._record(session, turn),
            committed=lambda: self._after_turn(session_factory, customer_id),
        )

    def _after_turn(self, session_factory, customer_id: int) -> None:
        """Once the turn is logged: have vLLM read the context the next turn starts with."""
        if self.settings.AGENT_PREFILL_BETWEEN_TURNS:
            task = asyncio.create_task(self.prefill(session_factory, customer_id))
            self._background.add(task)  # a reference, or the task may be collected mid-flight
            task.add_done_callback(self._background.discard)

    async def prefill(self, session_factory, customer_id: int) -> bool:
        """Have vLLM read the customer's context now, while the customer reads and types.

        Button turns and server-worded answers add tool results and texts the model has not read
        yet (~200-600 tokens after a product card and a cart update); the next model call then
        spent up to 2 s on their prefill on 2 CPU cores. This builds exactly the prompt the next
        turn starts with (the same `_load`) and asks for one token, so vLLM's prefix cache holds it.
        """
        if self.model.slots.locked():  # every slot is answering a customer: no time for optimisations
            return False
        try:
            turn, _ = await asyncio.to_thread(self._load, session_factory, customer_id)
            async with self.model.slots:
                await self.model.chat(turn.messages, 1)
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
            routed = (
                self._route(turn, text) if plain else counted_knowledge(turn, self.knowledge.media(others, turn.lang))
            )
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

    def _load(self, session_factory, customer_id: int, lang: str | None = None) -> tuple[Turn, list[Reply]]:
        return load_turn(
            session_factory,
            customer_id,
            settings=self.settings,
            tools=self.tools,
            catalogue=self.catalogue,
            olist=self.olist,
            lang=lang,
        )

    def _route(self, turn: Turn, text: str) -> Command | None:
        return route_text(
            turn, text, settings=self.settings, catalogue=self.catalogue, knowledge=self.knowledge, intents=self.intents
        )

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
            choice = await self.model.complete(turn, deadline, prefix=prefix)
            if choice is None:
                break
            content, calls = tool_calls(choice.message, prefix)
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

    async def _ground(self, turn: Turn, text: str, deadline: float) -> str | None:
        if not ungrounded(text, turn.facts):
            return text
        turn.events.append((EventName.PRICE_UNGROUNDED, {"amounts": len(ungrounded(text, turn.facts))}))
        choice = await self.model.complete(turn, deadline, temperature=REGENERATE_TEMPERATURE)
        if choice is not None:
            content, calls = tool_calls(choice.message)
            content = tidy(content, truncated=choice.finish_reason == "length")
            if not calls and content and not looks_like_garbage(content) and not ungrounded(content, turn.facts):
                return content
        fixed = rewrite(text, turn.facts)
        turn.events.append((EventName.PRICE_REWRITTEN, {"replaced": fixed.replaced, "dropped": fixed.dropped}))
        return fixed.text or None

    async def _execute(self, session_factory, turn: Turn, call_id: str, name: str, arguments) -> ToolOutcome:
        """Validate then run one call for turn.customer_id; refused calls are answered, never executed."""
        by_server = call_id.startswith("cmd_")  # the server's own command: its arguments came from the words
        if by_server:
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
            if not by_server:  # only the model's arguments are held to what the customer said
                args = grounded_arguments(turn, name, args, self.catalogue)
            key = EffectKey(turn.turn_key, turn.calls_run) if turn.turn_key else None
            turn.calls_run += 1
            outcome = await asyncio.to_thread(self.tools.run, session_factory, turn.customer_id, name, args, key)
            turn.events += outcome.events
        turn.outcomes.append(outcome)
        content = dumps(outcome.result)
        turn.add({"role": "tool", "tool_call_id": call_id, "name": name, "content": content})
        learn_facts(turn, outcome.result, self.catalogue)
        return outcome

    # ------------------------------------------------------------------------------ persistence
    def _record(self, session, turn: Turn) -> None:
        """The turn's conversation log and events, in the caller's transaction."""
        for m in turn.new:
            session.add(ChatTurn(customer_id=turn.customer_id, message=m))
        for name, props in turn.events:
            session.add(Event(customer_id=turn.customer_id, name=name, properties=props))

    def _persist(self, session_factory, customer_id: int, record) -> None:
        try:
            with session_scope(session_factory) as s:
                record(s)
        except Exception:  # losing a log row must not lose the customer's answer
            log.exception("could not persist turn", extra={"customer_id": customer_id})


__all__ = ["Agent", "TextReply", "looks_like_garbage"]
