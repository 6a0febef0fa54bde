"""References to what the bot showed, resolved by the server before the model is asked.

    command = resolve_reference("quero o segundo, 3 unidades, pode fechar", turn.messages, cart=turn.cart)
    # Command(calls=(("add_to_cart", {"product_id": "<ref of the 2nd listed>", "quantity": 3}),),
    #         navigation="checkout")

The customer's words (serve/conversation/reference_words.py: positions, prices, "o mais barato",
"esse", "o outro", quantities, the action, checkout and payment method) are matched against what
the conversation showed (serve/conversation/shown.py: the last list, the product in focus, the
cart). The result is a `Command`: tool calls the agent runs in one turn, with no model call; a
small model often cannot find "the second one" in its context, the server always can.

None whenever the words do not point at one thing unambiguously (a position past the list, two
products at the price said, "esse" with a list on screen, a name that matches nothing shown):
the turn then goes on as before (intent classifier, model), which can ask.

Quantities: "mais um" / "adiciona 2" add on top of the cart; "3 unidades" / "quero 3" ask for that
many in total, so with one already in the cart the server adds two (or removes the surplus).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace

from serve.contract import format_brl
from serve.conversation.routing import Command
from serve.conversation.said import Ref, Said, read_said
from serve.conversation.shown import Item, Shown, read_shown
from serve.core.budget import budget_cents
from serve.core.catalog import normalize, stem

MAX_TARGETS = 5  # "todos" on a long list: a handful of tool calls at most
GENERAL = ("cheapest", "dearest", "best_rated", "all")  # refs also said of things not shown ("o mais barato de todos")


def resolve_reference(
    text: str, messages: list[dict], cart: dict | None = None, shown: Shown | None = None
) -> Command | None:
    """The command the customer's `text` asks for, given the conversation's `messages` (oldest
    first) and the cart (a view_cart result), or what they showed when the caller has read it
    (`shown`); None when it points at nothing for sure."""
    said = read_said(text)
    if not (
        said.refs
        or said.quantity
        or said.bare_number
        or said.accept
        or said.method
        or said.checkout
        or said.name_words
        or said.action in ("add", "remove")
    ):
        return None
    shown = shown if shown is not None else read_shown(messages, cart)
    command = _plan(said, shown)
    if command is not None and command.navigation == "which" and said.name_words:
        command = _numbered(text, command)
    cap = budget_cents(text)
    if command is not None and cap is not None and _above(command, shown, cap):
        return None  # "the cheapest one? max 50" under a list dearer than that: a new search, not that one
    return command


def _numbered(text: str, which: Command) -> Command:
    """Of the products a name fits ("barraca camping 4 pessoas" under three barracas), the one whose
        name also holds the number with the word after it ("4 pessoas"): its card; the question narrowed
    to those names when several hold it, else as it was."""
    pairs = set(re.findall(r"\b(\d+ ?[a-z]+)", normalize(text)))
    hits = [cid for cid, name, _ in which.options if any(p in normalize(name) for p in pairs)]
    if len(hits) == 1:
        return Command(calls=(("get_product", {"product_id": hits[0].partition(":")[2]}),))
    return replace(which, options=tuple(o for o in which.options if o[0] in hits)) if hits else which


def _above(command: Command, shown: Shown, cap: int) -> bool:
    """Whether a product the command adds or opens costs more than the customer's budget `cap`."""
    prices = {i.id: i.price_cents for i in [*shown.listed, *shown.cart, shown.focus] if i is not None}
    picked = [args.get("product_id") for tool, args in command.calls if tool in ("add_to_cart", "get_product")]
    return any((prices.get(pid) or 0) > cap for pid in picked)


def _plan(said: Said, shown: Shown) -> Command | None:
    action, quantity = said.action, said.quantity
    refs = [r for r in said.refs if r.kind != "this"] or said.refs  # "quanto esse segundo": the position
    pointed = [r for r in refs if r.kind != "this"]
    if said.bare_number is not None and not pointed and quantity is None and (shown.fresh or action == "change"):
        if action == "change" or shown.single_last:  # "2" after a card: how many
            quantity = said.bare_number
        elif len(shown.listed) > 1:  # "2" under a list: which one
            refs = [Ref("position", said.bare_number)]
    if said.refused:  # "não quero o lençol": out of the cart if it is there; a list's item is just declined
        if refs and not shown.listed_is_cart or not (refs or said.name_words):
            return None
        action = "remove"
    if action is None:
        if refs and (refs[0].kind == "other" or said.negated) and shown.focus_added:
            action = "swap"  # "não, o outro" / "não, o segundo" right after an add: that one instead
        elif refs and refs[0].kind == "other":
            action = "details"
        elif quantity or pointed and (said.checkout or shown.asked_which):
            action = "add"  # "3 unidades", "a terceira, já fecha" (not "that's all, checkout")
        elif said.accept and shown.single_last and shown.fresh and not shown.focus_added:
            action = "add"  # "sim", "esse mesmo" under a card ("...: quer levar?")
        elif refs and (refs[0].kind != "this" or said.shipping or said.name_words):  # "esse travesseiro"
            action = "details"
        elif said.name_words and not said.question and not refs and not said.negative:
            action = "name"  # a shown product's name said back: its card ("no more X" is no pick)
    if action == "add" and not (pointed or said.name_words or quantity) and _a_list_was_shown(shown):
        return _which(shown.listed)  # "põe no carrinho", "vou querer esse" under a list of several: ask which
    if said.method and not refs and not quantity and action in ("add", "name"):
        if shown.asked_payment or shown.cart and action == "add":
            action = None  # "pode ser no boleto" to "como prefere pagar?"; "quero boleto" with a cart
            said = replace(said, checkout=said.checkout or not shown.asked_payment)
    calls: list[tuple[str, dict]] = []
    if action is not None:
        targets = _targets(said, refs, action, shown, quantity)
        if targets is None and action in ("name", "add") and said.name_words and not refs and not said.question:
            tied = [i for i in shown.listed if _matched(said.name_words, i) == len(said.name_words)]
            if len(tied) > 1 and not shown.listed_is_cart:  # "escolhi barraca camping" under three barracas
                return _which(tied)
        if targets is None and action == "remove" and said.name_words and not refs:
            best = max((_matched(said.name_words, i) for i in shown.cart), default=0)
            tied = [i for i in shown.cart if best and _matched(said.name_words, i) == best]
            if len(tied) > 1:  # "tira o tapete de yoga" with two tapetes de yoga in the cart
                return _which(tied, "remove")
        if targets is None and (action == "name" or action == "add" and said.checkout and not quantity):
            targets = []  # no product named after all; maybe "prefiro pagar com boleto", "manda o link pra pagar"
        if targets is None:
            return None
        calls = _calls(action, targets, quantity, said, shown) if targets else []
        if calls is None:
            return None
    return _with_checkout(calls, said, shown)


def _a_list_is_on_screen(shown: Shown) -> bool:
    return shown.fresh and shown.focus is None and len(shown.listed) > 1 and not shown.listed_is_cart


def _a_list_was_shown(shown: Shown) -> bool:
    """The latest products shown are a list of several, none in focus (talk about them may have
    followed: "é bom?", "e o frete?")."""
    return shown.focus is None and len(shown.listed) > 1 and not shown.listed_is_cart


def _which(items: list[Item], action: str = "add") -> Command:
    tool = "remove_from_cart" if action == "remove" else "add_to_cart"
    options = tuple((f"{tool}:{i.id}", i.name, format_brl(i.price_cents) if i.price_cents else "") for i in items)
    return Command(navigation="which", options=options, topic="remove" if action == "remove" else None)


def _targets(said: Said, refs: list[Ref], action: str, shown: Shown, quantity: int | None) -> list[Item] | None:
    in_cart = action in ("remove", "change")
    pool = shown.cart if in_cart else shown.listed
    if refs and said.name_words and any(r.kind in GENERAL for r in refs):
        if not any(_matched(said.name_words, item) for item in pool):
            return None  # "o mais barato de todos os relógios" with no relógio on screen
    if refs == [Ref("this")] and said.name_words:  # "esse jogo de lençol": the name says which
        named = _named(said, pool + [shown.focus] * (shown.focus is not None and not in_cart), action, shown)
        if named or said.action is None or any(_matched(said.name_words, i) for i in pool + shown.cart):
            return named  # else chit-chat around "it" ("sounds good, I'll take it"): the product in focus
    if refs:
        found = []
        for ref in refs:
            picked = _pick(ref, pool, shown, in_cart)
            if not picked:
                return None
            found += [p for p in picked if p.id not in {f.id for f in found}]
        return found[:MAX_TARGETS]
    if said.name_words:
        return _named(said, pool + [shown.focus] * (shown.focus is not None and not in_cart), action, shown)
    if action in ("remove", "change"):
        return None if said.named_only or said.refused else _this(shown, in_cart=True)
    if action == "add" and (not shown.focus_added or quantity):
        if shown.focus:
            return [shown.focus]  # "põe no carrinho" under its card
        if quantity and len(shown.cart) == 1 and (shown.cart_last or not _a_list_is_on_screen(shown)):
            return list(shown.cart)  # "2 unidades" with one product in the cart and none in view: that one
    return None


def _pick(ref: Ref, pool: list[Item], shown: Shown, in_cart: bool) -> list[Item] | None:
    if ref.kind == "position":
        index = ref.value - 1 if ref.value > 0 else len(pool) + ref.value
        return [pool[index]] if 0 <= index < len(pool) else None
    if ref.kind == "price":
        cents = ref.value
        same = [i for i in pool if i.price_cents == cents] if ref.exact else []
        same = same or [i for i in pool if i.price_cents is not None and i.price_cents // 100 == cents // 100]
        same = same or [i for i in pool if i.price_cents is not None and abs(i.price_cents - cents) < 100]
        return same if len(same) == 1 else None
    if ref.kind in ("cheapest", "dearest", "best_rated"):
        key = "score" if ref.kind == "best_rated" else "price_cents"
        rated = [i for i in pool if getattr(i, key) is not None]
        if not rated:
            return None
        pick = (min if ref.kind == "cheapest" else max)(rated, key=lambda i: getattr(i, key))
        return [pick]
    if ref.kind == "all":
        return list(pool) if pool and ref.value in (None, len(pool)) else None
    if ref.kind == "other":  # "não, o outro": two were shown, one is in focus
        ids = [i.id for i in pool]
        if shown.focus is None or len(pool) != 2 or shown.focus.id not in ids:
            return None
        return [pool[1 - ids.index(shown.focus.id)]]
    return _this(shown, in_cart)


def _this(shown: Shown, in_cart: bool) -> list[Item] | None:
    """ "esse", "dele", "it": the product in focus (in the cart, for a removal), or the only one."""
    if in_cart:
        line = shown.in_cart(shown.focus) if shown.focus else None
        if line is None and shown.focus is None and len(shown.cart) == 1:
            line = shown.cart[0]
        return [line] if line else None
    if shown.focus is not None:
        return [shown.focus]
    return shown.listed[:1] if len(shown.listed) == 1 else None


def _same_word(a: str, b: str) -> bool:
    if a == b or len(a) >= 4 and len(b) >= 4 and (a.startswith(b) or b.startswith(a)):
        return True
    return len(a) >= 5 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.85  # "lencol" / "lensol"


def _named(said: Said, pool: list[Item], action: str, shown: Shown) -> list[Item] | None:
    """Products named by words of their names: the whole name said back ("jogo lençol casal") picks
    among everything shown; "o/a <word>" ("o lençol", "a de café") among what was shown too; a bare
    word ("3 toalhas", "quero uma toalha") only the product in hand (in focus, in the cart): else it
    may ask for another one, and the model searches."""
    item = _by_name(said.name_words, pool, strict=True)
    if item is None and (said.named or action != "name" and (said.definite or action in ("remove", "change"))):
        item = _by_name(said.name_words, pool, strict=False)
    if item is None and action != "name":
        in_hand = [shown.focus] * (shown.focus is not None) + shown.cart
        item = _by_name(said.name_words, in_hand, strict=False)
    if item is None and len(said.name_groups) > 1 and action != "name":  # "o lençol e o travesseiro"
        items = [_by_name(group, pool, strict=False) for group in said.name_groups]
        return items if all(items) and len({i.id for i in items}) == len(items) else None
    return [item] if item else None


def _by_name(words: list[str], pool: list[Item], strict: bool) -> Item | None:
    """The one product whose name the words match best; more words must match than not ("pode
    excluir o lençol"), and with `strict` (a name said without a verb) all of them, two at least."""
    ranked = sorted({item.id: (_matched(words, item), item) for item in pool}.values(), key=lambda x: -x[0])
    if not ranked or ranked[0][0] == 0 or len(ranked) > 1 and ranked[1][0] == ranked[0][0]:
        return None
    matched, item = ranked[0]
    if strict:
        return item if matched == len(words) and matched >= 2 else None
    return item if matched > len(words) - matched else None


def _matched(words: list[str], item: Item) -> int:
    """How many of the customer's `words` are in the product's name (stems, typos forgiven)."""
    name = [stem(x) for x in normalize(item.name).split() if len(x) > 2]
    return sum(any(_same_word(stem(normalize(w)), n) for n in name) for w in words)


def _calls(action: str, targets: list[Item], quantity: int | None, said: Said, shown: Shown):
    if action in ("details", "name"):
        return [("get_product", {"product_id": t.id}) for t in targets]
    if action == "remove":
        return [
            ("remove_from_cart", {"product_id": t.id} | ({"quantity": quantity} if quantity else {})) for t in targets
        ]
    if action == "swap":  # the focus was just added; the customer meant the other one
        added = shown.focus
        if targets[0].id == added.id:
            return None
        return [
            ("remove_from_cart", {"product_id": added.id, "quantity": shown.focus_added}),
            ("add_to_cart", {"product_id": targets[0].id, "quantity": quantity or shown.focus_added}),
        ]
    if action == "change" and not quantity:
        return None
    calls = []
    for t in targets:
        line = shown.in_cart(t)
        have = line.qty if line else 0
        if quantity is None or said.more or have == 0:
            calls.append(("add_to_cart", {"product_id": t.id, "quantity": quantity or 1}))
        elif quantity > have:  # "3 unidades" with one in the cart: two more
            calls.append(("add_to_cart", {"product_id": t.id, "quantity": quantity - have}))
        elif quantity < have:
            calls.append(("remove_from_cart", {"product_id": t.id, "quantity": have - quantity}))
    return calls or [("view_cart", {})]


def _with_checkout(calls: list[tuple[str, dict]], said: Said, shown: Shown) -> Command | None:
    """The calls, then the order: checkout with the method named ("no pix"), else the payment choice."""
    topic = "shipping" if said.shipping else "details"
    # "pode ser boleto?" right after "como prefere pagar?" is the choice ("aceita boleto?" asks)
    if (
        said.method
        and (said.checkout or shown.asked_payment)
        and (not said.question or shown.asked_payment and not said.asks)
    ):
        if not calls and not shown.cart:
            return None  # nothing to pay for: the model explains
        return Command(calls=(*calls, ("checkout", {"payment_method": said.method})), topic=topic)
    if not calls:  # "finaliza aí", "pode fechar o pedido" with a cart: the payment choice
        return Command(navigation="checkout") if said.checkout and shown.cart and not said.question else None
    return Command(calls=tuple(calls), navigation="checkout" if said.checkout else None, topic=topic)
