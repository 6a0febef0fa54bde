"""The simulated customer: answers what the bot shows, by rules, towards its hidden goal.

    customer = Customer(goal, catalogue, rng, noise, order_code)
    action = customer.opening()
    while not isinstance(action, Done):
        ... send action (Say: texts in a burst; Tap: a button/list choice; Pay: the sandbox link) ...
        action = customer.react(screen, cart)

Rules, as a person follows them:
- picks a shown product that fits the goal (category, budget, in stock): by tapping its row or
  card button, or by text ("o segundo", its name);
- states its objection once a fitting product is shown, and buys only when the answer carries
  real data (a cheaper fitting product; the product's rating or a review; its freight amount);
  once answered, it does not ask again, and to "which one?" it taps the product it wants;
- asks for the quantity it wants, checks out, chooses its payment method and pays the link;
- after a reply that does not help, says it again in other words (with its budget, when what was
  shown was the right kind but too dear); after MAX_MISSES such replies
  it asks for a person, and it gives up when its patience (messages sent) runs out.
`cart` is what the bot's cart messages show: {product_id: quantity} of the open cart.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from serve.contract.money import format_brl
from serve.conversation.texts import say
from serve.core.budget import fold
from serve.core.catalog import Catalogue, Product
from simulator.actions import Action, Done, Pay, Say, Tap, spoken_name
from simulator.goals import Goal, fits
from simulator.observe import Screen
from simulator.phrasing import utter

MAX_MISSES = 3  # unhelpful replies in a row before the customer asks for a person
TAP_SHARE = 0.6  # how often a customer taps a shown choice rather than typing
FALLBACK_START = {lang: say(lang, "fallback")[:24] for lang in ("pt", "en")}


@dataclass
class Customer:
    goal: Goal
    catalogue: Catalogue
    rng: random.Random
    noise: float = 0.5
    order_code: str | None = None  # the seeded order the customer asks about
    sent: int = 0
    misses: int = 0
    chosen: Product | None = None  # the fitting product the customer wants
    first_seen: Product | None = None  # the product the objection was about
    objected: int = 0  # times the objection was stated
    objection_answered: bool = False  # once answered with data, it is not asked again
    added: bool = False
    asked_qty: bool = False
    extra: Product | None = None  # cart_edit: the product added then removed
    phase: str = "shop"  # shop → extra → remove → checkout → pay; declined; done
    history: list[str] = field(default_factory=list)
    request: tuple[str, dict] | None = None  # what the customer is asking for, said again after a miss
    query: str = ""  # how it names what it wants: the goal's words, made precise after a wrong kind is shown
    # (index of the customer's message, "<what it did> → <what came back>") for each unhelpful reply
    misunderstood: list[tuple[int, str]] = field(default_factory=list)

    # ------------------------------------------------------------------ speaking
    def say(self, act: str, **slots) -> Say:
        self.sent += 1
        self.history.append(act)
        return Say(tuple(utter(act, self.goal.lang, self.rng, noise=self.noise, **slots)), act)

    def tap(self, screen: Screen, choice_id: str) -> Tap:
        self.sent += 1
        self.history.append(f"tap:{choice_id.partition(':')[0]}")
        return Tap(choice_id, screen.choices[choice_id])

    def budget_words(self) -> str:
        return str(self.goal.budget_cents // 100) if self.goal.budget_cents else ""

    def ask(self, act: str, **slots) -> Say:
        self.request = (act, slots)
        return self.say(act, **slots)

    def opening(self) -> Action:
        g = self.goal
        if g.scenario == "recurring":
            return self.say("reorder")
        if g.scenario == "order_status":
            return self.say("order_status", code=self.order_code)
        if g.scenario == "complaint":
            return self.say("complaint")
        if g.quantity > 1 and self.rng.random() < 0.5:
            self.asked_qty = True
            return self.ask("ask_quantity", qty=str(g.quantity), product=self.query or g.query)
        if g.budget_cents and self.rng.random() < 0.7:
            return self.ask("ask_product_budget", product=self.query or g.query, budget=self.budget_words())
        return self.ask("ask_product", product=self.query or g.query)

    # ------------------------------------------------------------------ reacting
    def react(self, screen: Screen, cart: dict[str, int]) -> Action:
        if self.phase == "declined":
            return Done("looked")
        if screen.charge_id and self.phase in ("checkout", "pay"):
            self.phase = "pay"
            return Pay(screen.charge_id)  # paying the link costs no message: patience does not apply
        if self.sent >= self.goal.patience:
            return Done("gave_up")
        g = self.goal
        if g.scenario == "order_status":
            return Done("answered") if self.order_code and self.order_code in screen.text else self.miss(screen)
        if g.scenario == "complaint":
            return self.complaint(screen)
        return self.shop(screen, cart)

    def miss(self, screen: Screen) -> Action:
        """The reply did not help: say it again in other words, or ask for a person."""
        self.misses += 1
        self.misunderstood.append((len(self.history) - 1, f"{self.history[-1]} → {self.describe(screen)}"))
        if self.misses >= MAX_MISSES:
            if "ask_human" in self.history or "tap:human" in self.history:
                return Done("asked_human")
            human = screen.choice("human")
            return self.tap(screen, human) if human else self.say("ask_human")
        if self.request is not None and self.request[0] == "ask_product" and self.phase == "extra":
            return self.ask(self.request[0], **self.request[1])  # the second product, in other words
        g = self.goal
        if screen.products and not any(p.category == g.category for p in screen.products) and not self.query:
            self.query = self.precise()  # "relógio" showed watches; it wanted a wall clock: "relógio de parede"
        too_dear = [p for p in screen.products if fits(p, g.category, None) and not fits(p, g.category, g.budget_cents)]
        if too_dear and self.phase == "shop" and (self.request or ("",))[0] != "ask_product_budget":
            return self.ask("ask_product_budget", product=self.query or g.query, budget=self.budget_words())
        return self.opening()

    def describe(self, screen: Screen) -> str:
        """What an unhelpful reply was, for the failure-mode report."""
        if any(t.startswith(FALLBACK_START[self.goal.lang]) for t in screen.texts):
            return "fallback reply"
        if screen.listed and not self.fitting(screen.listed):
            return "products outside the goal"
        if screen.carded and not self.fitting(screen.carded):
            return "a card outside the goal"
        if screen.listed or screen.carded:
            return "products, none taken up"
        return "a text without what was asked"

    def complaint(self, screen: Screen) -> Action:
        human = screen.choice("human")
        if self.history[-1] in ("ask_human", "tap:human"):
            return Done("handed_off")  # judged by the handoff row, not by the wording
        if human:
            return self.tap(screen, human)
        if self.misses == 0:
            self.misses += 1
            return self.say("ask_human")
        return self.miss(screen)

    def target(self) -> dict[str, int]:
        if self.goal.scenario == "recurring":
            return dict(self.goal.past_items)
        if self.chosen is None:
            return {}
        return {self.chosen.product_id: self.goal.quantity}

    def fitting(self, products: list[Product]) -> list[Product]:
        budget = self.goal.budget_cents
        if self.goal.objection == "price" and self.first_seen is not None:
            budget = self.first_seen.price_cents - 1  # "tem mais barato?": only a cheaper one will do
        return [p for p in products if fits(p, self.goal.category, budget)]

    def shop(self, screen: Screen, cart: dict[str, int]) -> Action:
        g = self.goal
        target = self.target()
        if g.scenario == "cart_edit" and self.phase != "checkout" and target and cart.get(self.chosen.product_id):
            step = self.edit(screen, cart)
            if step is not None:
                return step
        if target and cart == target:
            return self.checkout(screen)
        if g.scenario == "recurring":
            reorder = screen.choice("reorder:")
            return self.tap(screen, reorder) if reorder else self.miss(screen)
        if self.chosen is not None and cart.get(self.chosen.product_id):
            if cart[self.chosen.product_id] != g.quantity and not self.asked_qty:
                self.asked_qty = True
                return self.say("want_quantity", qty=str(g.quantity))
            if cart[self.chosen.product_id] < g.quantity and screen.choice(f"add_to_cart:{self.chosen.ref}"):
                return self.tap(screen, f"add_to_cart:{self.chosen.ref}")
            return self.say("change_quantity", qty=str(g.quantity), product=self.named(self.chosen))
        return self.choose(screen)

    def choose(self, screen: Screen) -> Action:
        g = self.goal
        carded = self.fitting(screen.carded)
        if g.objection and self.first_seen is None and (carded or self.fitting(screen.listed)):
            # "tá caro" is said about the dearest fitting product in view, so a cheaper one can answer it
            self.first_seen = max(carded or self.fitting(screen.listed), key=lambda p: p.price_cents)
            self.objected += 1
            return self.say(f"object_{g.objection}")
        if g.objection and self.first_seen is not None and not self.objection_answered:
            if not self.answered(screen):
                if self.objected >= 2:
                    return Done("objection_unanswered")
                self.objected += 1
                return self.say(f"object_{g.objection}")
            self.objection_answered = True
        if g.objection in ("quality", "shipping") and self.first_seen is not None and self.chosen is None:
            self.chosen = self.first_seen  # the objection was answered about this product
            carded = carded or [self.first_seen]
        adds = [cid for cid in screen.choices if cid.startswith("add_to_cart:")]
        if self.chosen is not None and g.buy and len(adds) > 1 and f"add_to_cart:{self.chosen.ref}" in adds:
            return self.tap(screen, f"add_to_cart:{self.chosen.ref}")  # "qual deles?": the one it wants
        if carded:
            self.chosen = self.chosen or carded[0]
            if not g.buy:
                self.phase = "declined"
                return self.say("decline")
            add = f"add_to_cart:{self.chosen.ref}"
            if add in screen.choices and self.rng.random() < TAP_SHARE:
                return self.tap(screen, add)
            return self.say("add_this")
        listed = self.fitting(screen.listed)
        if listed:
            pick = listed[0]
            row = f"product:{pick.ref}"
            self.chosen = pick
            if self.rng.random() < TAP_SHARE:
                return self.tap(screen, row)
            position = screen.listed.index(pick) + 1
            if self.rng.random() < 0.5:
                return self.say("pick_ordinal", ordinal=str(position))
            return self.say("pick_name", name=spoken_name(pick, 3))
        return self.miss(screen)

    def precise(self) -> str:
        """The goal's product named the way that tells its kind: the first three words of its name."""
        anchor = self.catalogue.get(self.goal.anchor) if self.goal.anchor else None
        words = [w.lower() for w in anchor.name.split() if w.isalpha()][:3] if anchor else []
        return " ".join(words) or self.goal.query

    def named(self, product: Product) -> str:
        """How it names the product in its cart: its goal's words when they are in the name ("faqueiro
        bege"), else the product's own first words (it took a pink one for a "faqueiro bege" goal)."""
        words = fold(self.goal.query).split()
        return self.goal.query if all(w in fold(product.name) for w in words) else spoken_name(product, 2)

    def answered(self, screen: Screen) -> bool:
        """Was the objection answered with real data about the product? For a quality doubt about a
        product nobody rated: being told so, or shown a rated product that fits (it takes that one)."""
        p, kind = self.first_seen, self.goal.objection
        if kind == "price":
            return bool(self.fitting(screen.products))
        if kind == "quality" and p.review_score is None:
            rated = [q for q in self.fitting(screen.products) if q.review_score is not None and _says_score(screen, q)]
            if rated:
                self.first_seen = rated[0]
                return True
            return any(w in fold(screen.text) for w in UNRATED_WORDS)
        if kind == "quality":
            return _says_score(screen, p)
        return format_brl(p.freight_cents) in screen.text or (p.freight_cents == 0 and "grát" in screen.text)

    def edit(self, screen: Screen, cart: dict[str, int]) -> Action | None:
        """cart_edit: with the wanted product in the cart, add a second one, then take it out."""
        if self.phase == "shop":
            self.phase = "extra"
            return self.ask("ask_product", product=self.goal.extra_query)
        if self.phase == "extra":
            others = [p for p in screen.products if p.product_id != self.chosen.product_id]
            if any(pid != self.chosen.product_id for pid in cart):
                self.phase = "remove"
            elif others:
                self.extra = others[0]
                add = f"add_to_cart:{self.extra.ref}"
                if add in screen.choices:
                    return self.tap(screen, add)
                row = f"product:{self.extra.ref}"
                return self.tap(screen, row) if row in screen.choices else self.say("add_this")
            else:
                return self.miss(screen)
        if self.phase == "remove":
            extra = next((pid for pid in cart if pid != self.chosen.product_id), None)
            if extra is None:
                return None  # removed: go on to the quantity and checkout
            product = self.catalogue.get(extra)
            remove = f"remove_from_cart:{product.ref}"
            if remove in screen.choices and self.rng.random() < TAP_SHARE:
                return self.tap(screen, remove)
            return self.say("remove_item", product=spoken_name(product, 2))
        return None

    def checkout(self, screen: Screen) -> Action:
        """Check out and choose the payment method; a typed step the bot did not take up counts as
        a misunderstanding, and the customer taps the button instead (as people do)."""
        pay = f"pay_{self.goal.payment or 'pix'}"
        method = f"checkout:{self.goal.payment or 'pix'}"
        typed_before = self.history[-1:] in ([pay], ["checkout"])
        self.phase = "checkout"
        if typed_before:
            self.misunderstood.append((len(self.history) - 1, f"{self.history[-1]} → {self.describe(screen)}"))
        if method in screen.choices and (typed_before or self.rng.random() < TAP_SHARE):
            return self.tap(screen, method)
        if any(cid.startswith("checkout:") for cid in screen.choices) or "checkout" in self.history[-1:]:
            return self.say(pay)
        if "checkout" in screen.choices and (typed_before or self.rng.random() < TAP_SHARE):
            return self.tap(screen, "checkout")
        return self.say("checkout")


UNRATED_WORDS = ("sem avaliac", "nao tem avaliac", "no ratings", "no reviews", "not rated", "nobody has rated")


def _says_score(screen: Screen, product: Product) -> bool:
    score = f"{product.review_score:.1f}"
    return score in screen.text or score.replace(".", ",") in screen.text
