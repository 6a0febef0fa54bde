"""Candidate turns at the model's decision points, each played out by the same simulated customer,
and the preference pairs their outcomes make (the outcome-rewarded rounds after DPO).

    pairs, stats = await outcome_pairs(settings, goals, seed=5, noise=0.5, candidates=4,
                                       temperature=0.9, decisions=2, weights={}, min_gap=0.5)

For each goal the conversation first runs as served (the policy at temperature 0), and every model
call that decides a turn is recorded (a call for more than one token: the prefill between turns
asks for one and is not a decision). At each of the first `decisions` of them, `candidates`
completions are sampled from the policy at `temperature` (vLLM's `n`), and the conversation is
replayed once per candidate: a new customer with the same goal and the same random stream (so the
same words until the bot's answers differ), the earlier decisions answered as they were recorded,
this one with the candidate, and the later ones by the policy again. The judged database state of
each replay gives the candidate its reward (simulator/outcomes.py); the best and the worst make a
pair where the gap is clear.

The model calls are intercepted in `ModelClient.chat`, the one place every request of the agent
goes through, with a per-conversation script in a context variable: conversations run
concurrently, each in its own task, and never see each other's script.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field

import openai

from serve.app import create_app
from serve.conversation.llm_client import ModelClient, tool_calls
from serve.settings import Settings
from simulator.goals import Goal
from simulator.outcomes import Candidate, outcome_reward, preference_pair
from simulator.runner import Conversation, independent_stock


@dataclass
class Decision:
    """One model call that decided a turn: its request and the served answer."""

    index: int
    messages: list[dict]
    max_tokens: int
    kwargs: dict
    response: object  # openai ChatCompletion


@dataclass
class Script:
    forced: dict[int, object] = field(default_factory=dict)  # decision index → the answer to give instead
    recorded: list[Decision] = field(default_factory=list)
    count: int = 0


SCRIPT: contextvars.ContextVar[Script | None] = contextvars.ContextVar("rollout_script", default=None)


class ModelTap:
    """Wraps `ModelClient.chat`: within a conversation's script, decisions are counted, recorded and
    answered from the script where it says so; outside one, calls pass through."""

    def __init__(self, model: ModelClient):
        self._chat = model.chat
        model.chat = self.chat

    async def chat(self, messages: list[dict], max_tokens: int, temperature: float = 0.0, **kwargs):
        script = SCRIPT.get()
        if script is None or max_tokens <= 1:
            return await self._chat(messages, max_tokens, temperature=temperature, **kwargs)
        index, script.count = script.count, script.count + 1
        if index in script.forced:
            return script.forced[index]
        response = await self._chat(messages, max_tokens, temperature=temperature, **kwargs)
        script.recorded.append(Decision(index, list(messages), max_tokens, dict(kwargs), response))
        return response

    async def sample(self, decision: Decision, n: int, temperature: float) -> list:
        """`n` completions of the decision's request from the policy, each as a one-choice response."""
        kwargs = {k: v for k, v in decision.kwargs.items() if k != "timeout"}
        response = await self._chat(decision.messages, decision.max_tokens, temperature=temperature, n=n, **kwargs)
        return [response.model_copy(update={"choices": [c.model_copy(update={"index": 0})]}) for c in response.choices]


def assistant_message(decision: Decision, response) -> dict:
    """The whole assistant turn a response stands for (a forced call's start included), as a chat message."""
    last = decision.messages[-1]
    prefix = last["content"] if last.get("role") == "assistant" else None  # the server started the call
    content, calls = tool_calls(response.choices[0].message, prefix)
    return {"role": "assistant", "content": content or None, **({"tool_calls": calls} if calls else {})}


def prompt_of(decision: Decision) -> list[dict]:
    messages = decision.messages
    return messages[:-1] if messages and messages[-1].get("role") == "assistant" else list(messages)


def _empty(message: dict) -> bool:
    """A turn with neither words nor a call teaches nothing, whatever the server made of it."""
    return not (message.get("content") or message.get("tool_calls"))


def pair_row(decision: dict, min_gap: float) -> dict | None:
    """build_datasets' preference row (prompt, chosen, rejected, rewards) from a scored decision,
    when its best and worst non-empty candidates are min_gap apart (simulator/outcomes.py)."""
    kept = [c for c in decision["candidates"] if not _empty(c["message"])]
    scored = [Candidate(_text(c["message"]), c["reward"]) for c in kept]
    pair = preference_pair(scored, min_gap)
    if pair is None:
        return None
    chosen, rejected = (kept[scored.index(c)]["message"] for c in pair)
    rest = {k: v for k, v in decision.items() if k != "candidates"}
    return rest | {"chosen": [chosen], "rejected": [rejected], "rewards": [c["reward"] for c in decision["candidates"]]}


def _text(message: dict) -> str:
    calls = [(c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []]
    return f"{message.get('content') or ''}{calls}"


async def outcome_pairs(
    settings: Settings,
    goals: list[Goal],
    *,
    seed: int,
    noise: float,
    candidates: int,
    temperature: float,
    decisions: int,
    weights: Mapping[str, float],
    min_gap: float,
    concurrency: int = 4,
    progress=None,
) -> tuple[list[dict], dict, list[dict]]:
    """(preference rows, counts, scored decisions): a row per decision whose candidates' outcomes
    differ clearly, and every decision with all its candidates and rewards (to choose pairs again
    at another gap without playing anything again: `pair_row`)."""
    app = create_app(settings, start_workers=False)
    slots = asyncio.Semaphore(concurrency)
    pairs: list[dict] = []
    scored_decisions: list[dict] = []
    stats = {
        "conversations": 0,
        "decisions": 0,
        "rollouts": 0,
        "pairs": 0,
        "no_gap": 0,
        "empty": 0,
        "sample_failed": 0,
        "goals_done": 0,
    }
    async with app.router.lifespan_context(app):
        independent_stock(app.state.session_factory, app.state.agent.catalogue)
        tap = ModelTap(app.state.agent.model)

        async def play(goal: Goal, variant: str, forced: dict[int, object]) -> tuple[dict, Script]:
            async def run() -> tuple[dict, Script]:
                script = Script(forced=forced)
                SCRIPT.set(script)
                row = await Conversation(app, settings, goal, 0, seed, noise, variant=variant).run()
                return row, script

            async with slots:
                stats["rollouts" if variant else "conversations"] += 1
                return await asyncio.create_task(run())  # its own context: the script stays with it

        async def one(goal: Goal) -> None:
            await decide(goal)
            stats["goals_done"] += 1
            if progress:
                progress(stats)

        async def decide(goal: Goal) -> None:
            _, served = await play(goal, "", {})
            for decision in served.recorded[:decisions]:
                stats["decisions"] += 1
                earlier = {d.index: d.response for d in served.recorded if d.index < decision.index}
                try:
                    options = await tap.sample(decision, candidates, temperature)
                except openai.APIError:  # a timeout on a loaded machine: this decision gives no pair
                    stats["sample_failed"] += 1
                    continue
                outcomes = await asyncio.gather(
                    *(
                        play(goal, f"/d{decision.index}c{i}", earlier | {decision.index: r})
                        for i, r in enumerate(options)
                    )
                )
                messages = [assistant_message(decision, r) for r in options]
                scored = {
                    "id": f"{goal.goal_id}-d{decision.index}",
                    "kind": "outcome",
                    "scenario": goal.scenario,
                    "language": goal.lang,
                    "prompt": prompt_of(decision),
                    "candidates": [
                        {"message": m, "reward": round(outcome_reward(row, weights, goal.budget_cents), 4)}
                        for m, (row, _) in zip(messages, outcomes, strict=True)
                    ],
                }
                scored_decisions.append(scored)
                stats["empty"] += sum(1 for m in messages if _empty(m))
                pair = pair_row(scored, min_gap)
                if pair is None:
                    stats["no_gap"] += 1
                    continue
                pairs.append(pair)
                stats["pairs"] += 1

        await asyncio.gather(*(one(g) for g in goals))
    return sorted(pairs, key=lambda p: p["id"]), stats, sorted(scored_decisions, key=lambda d: d["id"])
