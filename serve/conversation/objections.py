"""A customer's objection about the products just shown (too dear, is it any good, shipping),
answered with the catalogue's own data instead of an apology or a person.

    objection_command("tá caro", shown, catalogue, lang)       # a search below the shown prices, cheapest first
    objection_command("é bom mesmo?", shown, catalogue, lang)   # the product's rating and a real review
    objection_command("e o frete?", shown, catalogue, lang)     # its freight (each listed one's, for a list)

`shown` is what the conversation last showed (serve/conversation/shown.py). With one product in
focus the answer is about it (the same get_product answers the buttons give; its freight is store
knowledge's answer, with the delivery times); with a list, about every listed product. Nothing
shown, or another product named ("e o frete da toalha?"): None, and the turn goes on.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from serve.contract import format_brl
from serve.conversation.routing import Command
from serve.conversation.shown import Item, Shown
from serve.conversation.texts import say
from serve.core.budget import budget_cents, fold
from serve.core.catalog import Catalogue, normalize, tokens
from serve.core.spelling import respell

# Written from the language: accents folded, so "tá caro" and "ta caro" read the same.
PRICE = re.compile(
    r"\b(?:(?:ta|esta|muito|bem|meio|mt|mto|achei|mas|pouco|tao|que) (?:caro|cara|caros|caras|salgad\w*|puxad\w*)"
    r"|caro demais|cara demais|mais barat\w*|mais em conta|sai caro|fora do (?:meu )?orcamento|descont\w*|precinho"
    r"|(?:passou|passa|passando|acima|alem|estourou|estoura) d[oe] (?:meu )?orcamento|orcamento (?:nao da|apertado)"
    r"|faz por menos|melhora (?:o|esse) preco|preco (?:melhor|menor)|abaixa (?:o|um pouco)|discount"
    r"|(?:pagar?|pagando|gastar) menos"
    r"|esperava menos|too expensive|(?:bit|so|very|quite|rather|really) (?:expensive|pricey)|cheaper|too much money"
    r"|over my budget|out of my budget)\b"
)
QUALITY = re.compile(
    r"\b(?:qualidade|presta\b|(?:e|eh|sao|seria) (?:bo[mn]s?|boas?)\b|bo[mn]s? mesmo|boas? mesmo|confiave\w*|"
    r"durav\w*|avaliac\w*|avaliad\w*|opinia\w*|(?:quem|que|q) comprou|gost(?:ou|aram)|vale a pena|original|"
    r"falsific\w*|quebra facil|estraga\w*|(?:qual|que) (?:e )?a nota|nota d[aeo]|estrelas|recomend\w*|"
    r"any good|good quality|quality|reviews?|ratings?|is it good|worth it|reliable|last long|"
    r"genuine|fake|dura (?:bastante|muito|quanto tempo|pouco)|duram? mesmo|aguenta)"
)
SHIPPING = re.compile(
    r"\b(?:(?:cobra\w*|paga\w*|quanto (?:e|fica|sai|da) )?(?:o )?frete|frte|fete|frette|demora\w*|chega\w*|"
    r"prazo\w*|entrega\w*|envi[ao]\w*|shipping|delivery|deliver|arrive\w*|how long|postage)"
)
# The words those patterns are made of, as customers misspell them ("tá crao", "cobra frte"):
# serve/core/spelling.py reads them right first.
KEYWORDS = frozenset(
    "caro cara caros caras salgado puxado muito barato barata demais orcamento desconto precinho passou "
    "pagar menos esperava qualidade dura duram presta mesmo confiavel duravel avaliacao avaliacoes opiniao comprou gostou "
    "gostaram vale pena original falsificado quebra estraga nota estrelas recomenda bastante aguenta "
    "frete demora chega chegar prazo entrega entregam envio cobra cobram expensive cheaper quality reviews "
    "shipping delivery".split()
)
# How soon, in words that product names also use ("Carregador Rápido", "Entrega Hoje"): part of a
# shipping question, never a product asked about
SOON = re.compile(
    r"\b(?:rapid\w*|logo|depressa|hoje|amanha|antes|semana|dias?|uteis|quando|fast|quick\w*|soon|today|tomorrow|"
    r"week\w*|days?|before)\b"
)
# A question about something else that shares the words ("meu pedido demora", "chegou quebrado")
NOT_ABOUT_SHOWN = re.compile(r"\b(?:pedido|comprei|chegou|veio|order|bought|arrived|devolv|troc|return)")
PAYMENT_WORDS = re.compile(r"\b(?:pix|boleto|cartao|credito|parcel\w*|card|installments?)\b")
CHEAPER_BY_CENTS = 1  # "mais barato" than the dearest shown: strictly below its price


def objection_kind(text: str) -> str | None:
    """The objection in the customer's words: "price", "quality", "shipping" or None."""
    kind, _ = _objection(text)
    return kind


def _objection(text: str, known: Callable[[str], bool] | None = None) -> tuple[str | None, str]:
    """(kind, the words left once the objection's own are taken out); `known`: words that are no
    misspelling (the catalogue's)."""
    folded = respell(" ".join(fold(text).split()), KEYWORDS, known)
    if NOT_ABOUT_SHOWN.search(folded):
        return None, folded
    for kind, pattern in (("price", PRICE), ("quality", QUALITY), ("shipping", SHIPPING)):
        found = pattern.search(folded)
        if found and kind == "price" and found.group(0).startswith("descont") and PAYMENT_WORDS.search(folded):
            continue  # "tem desconto no pix?": a payment question, store knowledge answers it
        if found:
            rest = pattern.sub(" ", folded)
            return kind, SOON.sub(" ", rest) if kind == "shipping" else rest
    return None, folded


# Words said about a product's worth, or about the one on screen, or where it goes, that product
# names also hold ("Quebra-Cabeça", "Marca-Texto", "Produto Natural", "Organizador Interior")
ASIDE_WORDS = frozenset(
    tokens(
        "quebra quebrar facil marca marcas dura durar aguenta resiste original brand produto produtos item modelo "
        "isso esse essa desse dessa cobra cobram paga interior cidade capital cep regiao estado bairro endereco"
    )
)


def names_another_product(rest: str, items: list[Item], catalogue: Catalogue) -> bool:
    """Whether the words left name a product other than those shown ("e o frete da toalha?" while
    a lençol is shown): a word found in a catalogue product's name and in none of the shown names."""
    shown_words = set(tokens(" ".join(i.name for i in items)))
    for word in set(tokens(rest)) - shown_words - ASIDE_WORDS:
        if any(word in tokens(p.name) for p in catalogue.search(word, limit=3)):
            return True
    return False


def objection_command(
    text: str, shown: Shown, catalogue: Catalogue, lang: str, last_search: dict | None = None
) -> Command | None:
    """The answer to an objection about what was shown; `last_search`: the arguments of the search
    that listed it (a cheaper search keeps its words and category)."""
    kind, rest = _objection(text, known=catalogue.has_words)
    items = [shown.focus] if shown.focus is not None else ([] if shown.listed_is_cart else shown.listed)
    items = [i for i in items if catalogue.get(i.id) is not None]
    if kind is None or not items or names_another_product(rest, items, catalogue):
        return None
    if kind == "shipping" and len(items) == 1:
        return None  # one product: store knowledge answers its freight with the delivery times
    if kind == "price":
        args = cheaper_search(items, catalogue, last_search, budget_cents(text))
        return Command(calls=(("search_products", args),), topic="price")
    if kind == "quality" and all(catalogue.get(i.id).review_score is None for i in items):  # the best rated alike
        return Command(calls=(("search_products", rated_search(items, catalogue, last_search)),), topic="quality")
    if len(items) == 1:  # quality
        return Command(calls=(("get_product", {"product_id": items[0].id}),), topic="details")
    body = ratings(items, catalogue, lang) if kind == "quality" else freights(items, catalogue, lang)
    return Command(navigation="answer", topic=f"objection_{kind}", answer=body)


def cheaper_search(
    items: list[Item], catalogue: Catalogue, last_search: dict | None, budget: int | None = None
) -> dict:
    """search_products arguments for products cheaper than the dearest shown, cheapest first, and
    within the `budget` (cents) the customer says with it ("mais barato, até 50")."""
    products = [catalogue.get(i.id) for i in items]
    dearest = max(products, key=lambda p: p.price_cents)
    args = {k: v for k, v in (last_search or {}).items() if k in ("query", "category")}
    heads = {normalize(p.name).split()[0] for p in products}
    if len(heads) == 1:  # all shown are "seladora ...": that word, not a noisy query ("seladora na faixa ... rola")
        args["query"] = heads.pop()
    args.setdefault("query", dearest.category_pt)
    cap = min(dearest.price_cents - CHEAPER_BY_CENTS, budget or dearest.price_cents)
    # "tá caro" is about the dearest one: cheaper ones of its own category when there are, of the
    # kind asked ("lâmpada" spans the car and the home aisles), else of the categories searched
    same_kind = catalogue.search(args["query"], category=dearest.category, max_price_cents=cap, limit=1)
    if "category" not in args or same_kind and set(tokens(args["query"])) & set(tokens(same_kind[0].name)):
        args["category"] = dearest.category
    return args | {"max_price": cap / 100, "sort": "price_asc"}


def rated_search(items: list[Item], catalogue: Catalogue, last_search: dict | None) -> dict:
    """search_products arguments for the best rated products like those shown (the search that
    listed them: its words, category and budget), for a quality doubt about products nobody rated."""
    first = catalogue.get(items[0].id)
    args = {k: v for k, v in (last_search or {}).items() if k in ("query", "category", "max_price")}
    args.setdefault("query", first.category_pt)
    return args | {"sort": "rating"}


def ratings(items: list[Item], catalogue: Catalogue, lang: str) -> str:
    lines = []
    for i in items:
        p = catalogue.get(i.id)
        score = (
            f"⭐ {p.review_score:.1f} ({say(lang, 'reviews', n=p.review_count)})"
            if p.review_score is not None
            else say(lang, "no_ratings")
        )
        lines.append(f"• {p.name} — {score}")
    return "\n".join([say(lang, "ratings_of_shown"), *lines])


def freights(items: list[Item], catalogue: Catalogue, lang: str) -> str:
    lines = []
    for i in items:
        p = catalogue.get(i.id)
        lines.append(f"• {p.name} — {say(lang, 'free') if p.freight_cents == 0 else format_brl(p.freight_cents)}")
    return "\n".join([say(lang, "freight_of_shown"), *lines])
