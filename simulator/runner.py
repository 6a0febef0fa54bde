"""Simulated conversations through the real bot: the app's agent, tools, cart, orders, sandbox payment
and database, with the model behind LLM_BASE_URL (vLLM), in-process.

    rows = await run_conversations(settings, goals, trials=4, seed=17, concurrency=4, progress=print)

Each (goal, trial) is a new customer (its own phone and profile name) in one SQLite database per
run. Before it speaks, the database gets what the goal presumes (an earlier order for recurring,
order-status and complaint goals). Every customer message goes to `Agent.respond` exactly as the
inbox worker hands over a burst; a payment link is paid on the app's own sandbox page
(`POST /pay/{id}`), which delivers the signed gateway webhook that marks the order paid. The
judge then reads the database (simulator/judge.py). Conversations run concurrently; the agent's
own LLM_MAX_CONCURRENCY caps the model calls in flight.
"""

from __future__ import annotations

import asyncio
import random
import time
import zlib
from collections.abc import Callable

import httpx
from sqlalchemy import delete, insert, select

from serve.app import create_app
from serve.commerce import cart, customers, orders
from serve.conversation.messages import Inbound, reply_to_dict
from serve.core.catalog import Catalogue
from serve.settings import Settings
from serve.storage.db import session_scope
from serve.storage.tables import Order, StockLevel
from simulator.actions import Done, Pay, Say, Tap
from simulator.checks import Checker
from simulator.customer import Customer
from simulator.goals import Goal
from simulator.judge import event_counts, judge, paid_orders
from simulator.observe import read_screen
from simulator.roles import answered_by, new_events

UNLIMITED_UNITS = 10**9


def independent_stock(factory, catalogue: Catalogue) -> None:
    """Every simulated conversation is a world of its own that shares the database with the others
    (trials, models' rollouts, concurrent customers): none may find a product sold out because
    another simulated customer bought it, or a trial's and a candidate's outcome would depend on the
    order the conversations ran in. So the shared shelf (stock_levels, serve/commerce/stock.py) holds
    more than anyone buys; each cart is still held to the catalogue's own stock figure (cart_math)."""
    with session_scope(factory) as s:
        s.execute(delete(StockLevel))
        s.execute(
            insert(StockLevel),
            [
                {"product_id": pid, "on_hand": UNLIMITED_UNITS, "reserved": 0}
                for pid in {p.product_id for p in catalogue.products}
            ],
        )


def seed_order(factory, customer_id: int, goal: Goal, catalogue: Catalogue, settings: Settings) -> str | None:
    """The earlier order a recurring, order-status or complaint customer has (None for the others)."""
    if goal.scenario not in ("recurring", "order_status", "complaint"):
        return None
    items = goal.past_items or ((goal.anchor, 1),)
    status = goal.order_status or "delivered"
    with session_scope(factory) as s:
        for product_id, qty in items:
            cart.add_item(s, customer_id, catalogue, product_id, qty)
        order = orders.create_order(s, customer_id, catalogue, goal.payment or "pix", settings)
        for step in ("paid", "shipped", "delivered"):
            orders.transition(order, step)
            if step == status:
                break
        return order.code


def open_cart(factory, customer_id: int) -> dict[str, int]:
    with session_scope(factory) as s:
        c = cart.get_open_cart(s, customer_id)
        return {i.product_id: i.quantity for i in c.items} if c else {}


def store_amounts(factory, customer_id: int, catalogue: Catalogue) -> set[int]:
    with session_scope(factory) as s:
        t = cart.view_cart(s, customer_id, catalogue).totals
        amounts = {t.subtotal_cents, t.freight_cents, t.total_cents, t.discount_cents}
        for o in s.scalars(select(Order).where(Order.customer_id == customer_id)):
            amounts |= {o.subtotal_cents, o.freight_cents, o.total_cents, o.discount_cents}
            amounts |= {i.unit_price_cents * i.quantity for i in o.items}
        return amounts


class Conversation:
    def __init__(self, app, settings: Settings, goal: Goal, trial: int, seed: int, noise: float, variant: str = ""):
        """`variant`: another customer with the same goal, trial and words (a replay, simulator/rollouts.py)."""
        self.app, self.settings, self.goal, self.trial = app, settings, goal, trial
        self.agent, self.factory = app.state.agent, app.state.session_factory
        self.catalogue: Catalogue = self.agent.catalogue
        self.phone = f"55119{zlib.crc32(f'{seed}:{goal.goal_id}:{trial}{variant}'.encode()) % 10**8:08d}"
        self.rng = random.Random(f"{seed}:{goal.goal_id}:{trial}")
        self.noise = noise
        self.sequence = 0
        self.transcript: list[dict] = []
        self.latency_ms: list[float] = []
        self.roles: list[tuple[str, str]] = []  # (turn kind: the customer's act or "tap", who answered)
        self.last_event_id = 0

    def inbound(self, **fields) -> Inbound:
        self.sequence += 1
        return Inbound(
            f"wamid.sim.{self.phone}.{self.sequence}",
            self.phone,
            timestamp=int(time.time()),
            profile_name=self.goal.name,
            **fields,
        )

    async def run(self) -> dict:
        with session_scope(self.factory) as s:
            customer_id = customers.get_or_create_customer(
                s, self.phone, self.settings.PHONE_HASH_KEY, self.goal.name
            ).id
        code = seed_order(self.factory, customer_id, self.goal, self.catalogue, self.settings)
        customer = Customer(self.goal, self.catalogue, self.rng, self.noise, code)
        checker = Checker(self.catalogue, self.goal.lang, self.goal.budget_cents)
        action, texts, ended = customer.opening(), [], "gave_up"
        while True:
            if isinstance(action, Done):
                ended = action.reason
                break
            if isinstance(action, Pay):
                ended = await self.pay(action.charge_id)
                break
            if isinstance(action, Say):
                inbound = [self.inbound(type="text", text=t) for t in action.texts]
                for t in action.texts:
                    checker.customer_said(t, action.act)
            else:
                kind = "list_reply" if action.choice_id.startswith("product:") else "button_reply"
                inbound = [self.inbound(type=kind, text=action.title, choice_id=action.choice_id)]
            start = time.perf_counter()
            replies = await self.agent.respond(self.factory, customer_id, inbound)
            self.latency_ms.append((time.perf_counter() - start) * 1000)
            self.roles.append((action.act if isinstance(action, Say) else "tap", self.answerer(customer_id, action)))
            screen = read_screen(replies, self.catalogue)
            texts += screen.texts
            checker.store_amounts(store_amounts(self.factory, customer_id, self.catalogue))
            checker.bot_said(replies, [p.product_id for p in screen.products])
            self.transcript.append({"customer": _said(action), "bot": [reply_to_dict(r) for r in replies]})
            action = customer.react(screen, open_cart(self.factory, customer_id))
        return self.result(customer_id, code, customer, checker, texts, ended)

    def answerer(self, customer_id: int, action) -> str:
        with session_scope(self.factory) as s:
            events, self.last_event_id = new_events(s, customer_id, self.last_event_id)
        return answered_by(events, tapped=not isinstance(action, Say))

    async def pay(self, charge_id: str) -> str:
        """The customer opens the link and pays on the sandbox page (the gateway's signed webhook follows)."""
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url=self.settings.PUBLIC_BASE_URL) as client:
            r = await client.post(f"/pay/{charge_id}", data={"action": "pay"})
        self.transcript.append({"customer": f"[paid {charge_id}: HTTP {r.status_code}]", "bot": []})
        return "paid" if r.status_code == 200 else f"payment page HTTP {r.status_code}"

    def result(self, customer_id, code, customer, checker, texts, ended) -> dict:
        with session_scope(self.factory) as s:
            verdict = judge(s, self.goal, customer_id, texts, self.catalogue, code)
            paid = paid_orders(s, customer_id, code)
            events = event_counts(s, customer_id)
            total = sum(o.total_cents for o in paid)
            units = sum(i.quantity for o in paid for i in o.items)
        f = checker.flags
        return {
            "goal_id": self.goal.goal_id,
            "scenario": self.goal.scenario,
            "lang": self.goal.lang,
            "trial": self.trial,
            "success": verdict.success,
            "reason": verdict.reason,
            "ended": ended,
            "turns": customer.sent,
            "misunderstood": customer.misunderstood,
            "latency_ms": self.latency_ms,
            "roles": self.roles,
            "events": events,
            "ungrounded": f.ungrounded,
            "wrong_language": f.wrong_language,
            "limit_violations": f.limit_violations,
            "pressure_after_no": f.pressure_after_no,
            "fake_scarcity": f.fake_scarcity,
            "budget_ignored": f.budget_ignored,
            "order_total_cents": total,
            "order_units": units,
            "transcript": self.transcript,
        }


def _said(action: Say | Tap) -> str:
    return " ⏎ ".join(action.texts) if isinstance(action, Say) else f"[tap {action.choice_id}: {action.title}]"


async def run_conversations(
    settings: Settings,
    goals: list[Goal],
    *,
    trials: int,
    seed: int,
    noise: float,
    concurrency: int,
    progress: Callable[[int, int, int], None] | None = None,
) -> list[dict]:
    """Every goal `trials` times (different phrasings: each trial has its own random stream)."""
    app = create_app(settings, start_workers=False)
    rows: list[dict] = []
    slots = asyncio.Semaphore(concurrency)
    async with app.router.lifespan_context(app):
        await app.state.agent.warm_up()
        independent_stock(app.state.session_factory, app.state.agent.catalogue)

        async def one(goal: Goal, trial: int) -> None:
            async with slots:
                rows.append(await Conversation(app, settings, goal, trial, seed, noise).run())
            if progress:
                progress(len(rows), len(goals) * trials, sum(r["success"] for r in rows))

        await asyncio.gather(*(one(g, t) for t in range(trials) for g in goals))
    return sorted(rows, key=lambda r: (r["goal_id"], r["trial"]))
