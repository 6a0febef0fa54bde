"""What a customer's message points at and asks for, read from its words alone (no conversation).

    said = read_said("quero o segundo, 3 unidades, pode fechar no pix")
    said.refs == [Ref("position", 2)]; said.action == "add"; said.quantity == 3
    said.checkout is True; said.method == "pix"

A number is read by what stands around it, so a quantity is never taken for a position or a price:
"o 2" / "2º" is a position, "o de 59" / "59,90" / "R$ 59" / "59 reais" a price, "2 unidades" /
"mais um" / "quero 2" / "2 do segundo" a quantity, "até 60" a budget and "750 ml" / "4 peças" /
"60x40" part of a product. serve/conversation/references.py matches the result against what the
conversation showed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from serve.conversation.reference_words import (
    ACCEPT,
    ADD,
    ARTICLES,
    BUDGET,
    CHANGE,
    CHECKOUT,
    DEMONSTRATIVES,
    DETAILS,
    FOR_WHOM,
    KNOWN,
    LET_GO,
    METHODS,
    NOT_A_POSITION,
    NOT_MORE,
    NUMBERS,
    ONE_COUNTED_AFTER,
    ONE_COUNTED_BEFORE,
    ORDINALS,
    POSITION_NOUNS,
    POSSESSIVES,
    PRICE_AFTER,
    QTY_AFTER,
    QTY_BEFORE,
    QUESTION,
    RECIPIENTS,
    REMOVE,
    SHIPPING,
    SPEC_UNITS,
    SUPERLATIVES,
    words_of,
)

NO_MORE = (  # a product the customer no longer wants ("não quero mais nada": no product)
    r"\b(nao|n) (quero|vou querer|preciso) mais\b(?! nada)|\b(dont|don t) want\b.*\banymore\b"
    r"|\bno longer (want|need)\b|\b(from|out of) (my |the )?cart\b"
)
TO_ADD = ("me ve", "pode ser", "pode por", "d like", "would like")  # "me vê dois", "pode pôr", "I'd like"
SIZE = ("menor", "maior")  # words of "o de menor preço", or of a product wanted ("uma toalha maior")


@dataclass(frozen=True)
class Ref:
    """One thing pointed at: position (1-based; -1 the last) | price (cents) | cheapest | dearest |
    best_rated | this | other | all (value: how many were said, "os dois")."""

    kind: str
    value: int | None = None
    exact: bool = True  # a price with its cents ("59,90"), not whole reais ("59")


@dataclass
class Said:
    refs: list[Ref] = field(default_factory=list)
    name_words: list[str] = field(default_factory=list)  # words left to match against product names
    name_groups: list[list[str]] = field(default_factory=list)  # the same, cut at "e" / ",": "o lençol e a toalha"
    action: str | None = None  # add | remove | details | change
    quantity: int | None = None
    more: bool = False  # the quantity comes on top of the cart's ("mais um", "adiciona 2")
    bare_number: int | None = None  # a number said alone ("2", "duas"): a position or a quantity
    checkout: bool = False
    method: str | None = None  # pix | card | boleto
    shipping: bool = False
    question: bool = False
    asks: bool = False  # a question word ("aceita", "tem", "quanto"), not only a "?"
    named: bool = False  # "a de café", "aquela com tampa": a shown product by a word of its name
    definite: bool = False  # the name words follow "o"/"a"/"esse"/"the": a product already seen
    negated: bool = False  # a "não" that is no refusal of a product: "não, o outro", "no, the first one"
    negative: bool = False  # a "no", "not", "never", "sem" anywhere: a product mentioned is not picked
    refused: bool = False  # "não quero o lençol", "I don't need the towel": out of the cart, if it is there
    named_only: bool = False  # the action holds for a product named, never for the one in focus ("esquece o lençol")
    accept: bool = False  # only yes-words: "sim", "pode ser", "esse mesmo"


def read_said(text: str) -> Said:
    w = words_of(text)
    said, used = Said(), set()
    at = lambda i: w[i] if 0 <= i < len(w) else ""  # noqa: E731
    for i, t in enumerate(w):
        prev, nxt = at(i - 1), at(i + 1)
        if t in ORDINALS or t.startswith("#") and t[1:].isdigit():
            if _is_position(t, prev, nxt, i):
                said.refs.append(Ref("position", ORDINALS.get(t) or int(t[1:])))
            else:
                said.name_words.append(t)  # "segunda (feira)", "um segundo": words that name no product
            used.add(i)
        elif (n := NUMBERS.get(t, int(t) if t.isdigit() else None)) is not None or _price(t):
            _read_number(w, i, n, said, used)
        elif t in ("outro", "outra", "other") and prev in ARTICLES:
            said.refs.append(Ref("other"))
        elif (
            t in ("todos", "todas", "ambos", "ambas", "both")
            and prev not in ("de", "of", "entre")
            or t in ("all", "tudo")
            and (prev in ADD or prev in REMOVE or nxt in ("of", "them"))
        ):
            said.refs.append(Ref("all"))
        elif t in DEMONSTRATIVES and nxt not in ("de", "for", "s") and not (t in ("isso", "it") and said.refs):
            said.refs.append(Ref("this"))
    joined = " ".join(w)
    said.refs += [Ref(kind) for kind, pattern in SUPERLATIVES if re.search(pattern, joined)]
    _read_words(w, said)
    _read_names(w, said, used)
    return said


def _is_position(t: str, prev: str, nxt: str, i: int) -> bool:
    """An ordinal that points into a list, not "um segundo", "primeiro quero...", "na segunda (feira)"."""
    if nxt in POSITION_NOUNS:
        return True
    if prev in ("um", "uma") or nxt in NOT_A_POSITION or t == "second" and prev == "a":
        return False
    if t in ("segunda", "terca", "quarta", "quinta", "sexta") and prev in ("na", "ate", "toda", "proxima"):
        return False  # a weekday
    if t in ("quarto", "quarta"):  # also "bedroom": only right after o/a/e
        return prev in ("o", "a", "e", "the", ",")
    after_list_word = prev in ARTICLES or prev in ADD or prev in DETAILS or prev in ("e", "and", ",")
    return t.startswith("#") or i == 0 or after_list_word


def _price(token: str) -> tuple[int, bool] | None:
    """(cents, with cents written) of a number token: "59,90" → (5990, True), "1.234" → (123400, False)."""
    m = re.fullmatch(r"(\d{1,3}(?:\.\d{3})+|\d+)(?:[.,](\d{1,2}))?", token)
    if not m:
        return None
    whole = m.group(1).replace(".", "") if "," in token or len(m.group(1)) > 4 else m.group(1)
    return int(whole) * 100 + int((m.group(2) or "0").ljust(2, "0")), m.group(2) is not None


def _read_number(w: list[str], i: int, n: int | None, said: Said, used: set[int]) -> None:
    """A number by its neighbours: budget or spec (ignored), price, several ("os dois"), quantity, position."""
    at = lambda k: w[k] if 0 <= k < len(w) else ""  # noqa: E731
    t, prev, nxt, before = w[i], at(i - 1), at(i + 1), at(i - 2)
    cada = nxt == "de" and (at(i + 2) == "cada" or at(i + 2).isalpha() and at(i + 2) not in KNOWN)  # "2 de toalha"
    price = _price(t) if t[0].isdigit() else None
    used.add(i)
    if prev in BUDGET or before in BUDGET and prev in ("de", "r$"):
        return  # "até 60", "menos de R$ 100": a budget, the search's business
    if nxt in SPEC_UNITS or nxt == "x" and at(i + 2)[:1].isdigit() or prev == "x" and before[:1].isdigit():
        return  # "750 ml", "60x40": part of a product
    pointed = prev in ("de", "for", "por") and (before in ARTICLES or before in ("one", "que"))  # "o de 59"
    if price and (price[1] or prev in ("r$", "$", "custa", "costs") or nxt in PRICE_AFTER or pointed):
        said.refs.append(Ref("price", price[0], exact=price[1]))
    elif n is None or n > 99:
        return
    elif prev in ("os", "as", "the") and n > 1:  # "os dois", "as 3": that many, all of them
        said.refs.append(Ref("all", n))
    elif t in ("um", "uma", "one") and prev not in ONE_COUNTED_AFTER and nxt not in ONE_COUNTED_BEFORE:
        used.discard(i)  # an article ("quero um lençol"), not a quantity
    elif nxt in NOT_MORE:
        return  # "mais um pouco"
    elif prev in ("mais", "+") or nxt == "more":
        said.quantity, said.more = n, True
    elif (
        nxt in QTY_AFTER
        or prev in QTY_BEFORE
        or prev in ADD
        or prev in CHANGE
        or prev in REMOVE
        or cada
        or (
            prev == "de" and before in ADD  # "preciso de 2"
        )
    ):
        said.quantity = n
    elif prev in ARTICLES and prev not in ("this", "that") or prev in POSITION_NOUNS or prev == "#":
        said.refs.append(Ref("position", n))  # "o 2", "opção 2", not "make that 3"
    elif nxt.isalpha() and nxt not in KNOWN:  # "3 toalhas": how many of a thing
        said.quantity = n
    else:
        said.bare_number = n


def _read_words(w: list[str], said: Said) -> None:
    """The action asked for, checkout, the payment method, and whether it is a refusal or a correction."""
    joined = " ".join(w)
    said.asks = any(t in QUESTION for t in w)
    said.question = "?" in w or said.asks
    for i, t in enumerate(w):
        prev, nxt = w[i - 1] if i else "", w[i + 1] if i + 1 < len(w) else ""
        if t in REMOVE or t == "take" and re.search(r"\btake\b.*\b(out|off)\b", joined) or f"{t} {nxt}" == "get rid":
            said.action = "remove"
        elif t in LET_GO and said.action in (None, "add", "details"):
            said.action, said.named_only = "remove", True
        elif t in DETAILS and said.action != "remove" and not (t == "conta" and prev == "em"):
            said.action = "details"
        elif (t in ADD or f"{prev} {t}" in TO_ADD) and said.action is None and nxt not in CHECKOUT:
            said.action = "add"  # not "quero fechar"
        elif t in CHANGE and said.action in (None, "add"):
            said.action = "change"
        said.checkout |= t in CHECKOUT or t == "check" and nxt == "out"
        said.method = METHODS.get(t, said.method)
        said.shipping |= t in SHIPPING
    if re.search(r"\b(limpa|limpar|esvazia|esvaziar|zera|zerar|clear|empty)( o| my| the)? (carrinho|cart)\b", joined):
        said.action, said.refs = "remove", [Ref("all")]  # "limpa o carrinho": every line
    elif re.search(NO_MORE, joined):
        said.action, said.named_only = "remove", True  # "não quero mais o lençol"
    elif re.search(r"\b(nao|n|nem|dont|don t|not) (\w+ )?(quero|queria|vou|levo|want|need|like|take)\b", joined):
        said.action, said.refused = None, True  # "não quero o segundo", "I don't need the lençol"
    else:  # "não, o outro", "nao era o segundo", "no, the first one": a correction
        said.negated = bool(re.match(r"(nao|n|no|nope)( ,)? (o|a|the|era|i meant|quis dizer)\b", joined))
    said.negative = bool(re.search(r"\b(nao|n|not|dont|don|never|nunca|nem|sem|without|none)\b|^no\b", joined))
    getting = r"\b(tira|tirar|tire|emite|emitir|gera|gerar)( o| um| a| uma)? (boleto|pix)\b"
    if said.action == "remove" and re.search(getting, joined):
        said.action = None  # "tem como tirar um boleto?": getting one, not taking a product out
    if said.action is None and re.search(
        r"\b(pro|ao|para o|to|to my|to the|into|into my|into the) (carrinho|cart)\b", joined
    ):
        said.action = "add"  # "manda pro carrinho"
    if said.quantity and said.action == "add" and re.search(r"\b(adiciona|acrescenta|add)", joined):
        said.more = True  # "adiciona 2": two more


def _read_names(w: list[str], said: Said, used: set[int]) -> None:
    """The words left once positions, numbers and known words are read: a product's name, or a yes."""
    for i, t in enumerate(w):  # "pra prima dela", "for my sister": who it is for, not which product
        j = i + 1 + (i + 1 < len(w) and w[i + 1] in POSSESSIVES)
        if t in FOR_WHOM and j < len(w) and w[j] in RECIPIENTS:
            used.add(j)
    content = [t for i, t in enumerate(w) if i not in used and t.isalpha()]
    superlative = any(r.kind in ("cheapest", "dearest") for r in said.refs)  # "o de menor preço"
    said.name_words += [t for t in content if t not in KNOWN and len(t) > 2 and not (superlative and t in SIZE)]
    first = next((i for i, t in enumerate(w) if said.name_words and t == said.name_words[0]), 0)
    said.definite = first > 0 and w[first - 1] in ARTICLES
    said.named = bool(said.name_words) and bool(
        re.search(r"\b(o|a|aquele|aquela|esse|essa) (de|do|da|com) [a-z]", " ".join(w))
    )
    for i, t in enumerate(w):
        if not said.name_groups or t in ("e", "and", ",", ";"):
            said.name_groups.append([])
        if t in said.name_words and i not in used:
            said.name_groups[-1].append(t)
    said.name_groups = [g for g in said.name_groups if g]
    if (said.name_words or said.action == "details") and said.action != "change":
        said.bare_number = None  # "parcela em 3 vezes", "preciso de 3 toalhas": not a number said alone
    said.accept = 0 < len(content) <= 4 and all(t in ACCEPT for t in content) and len(said.refs) <= 1
