"""How the phrasing-bank tests compare wording: normalised words, word N-grams, templates rendered with slots.

Words are lowercased, without accents or punctuation, and a slang spelling counts as the word it stands
for ("qto" = "quanto"), so a copied phrase is found however it was typed. Each word knows whether it
came from a slot value (a product name is no copied phrasing).
"""

import itertools
import re
import string

from pipelines import phrases_en, phrases_pt
from simulator.phrasing import UNIT_WORDS, number_word, ordinal_word, template_fields
from simulator.phrasing_noise import SLANG_PT, strip_accents

# 4 words: shorter spans are shared by any two phrasings of one intent ("o que tem", "falar com um",
# "quero pagar no"), so N = 3 would forbid ordinary Portuguese; a shared span of 4 words is a copied
# phrase. Templates shorter than N words are compared whole with whole training turns instead.
N = 4
BUDGETS, CODES, QTYS, POSITIONS = ("150", "89"), ("ZV12345",), (1, 2, 3), (1, 2, 3)  # slot values
WORD = re.compile(r"\w+")
# Slang spellings count as the word they stand for: each word and its abbreviations share one form.
CANON: dict[tuple[str, ...], tuple[str, ...]] = {}
for _word, _abbr in [*phrases_pt.SLANG, *phrases_en.SLANG, *SLANG_PT.items()]:
    _w, _a = (tuple(strip_accents(x).lower().split()) for x in (_word, _abbr))
    CANON[_w] = CANON[_a] = CANON.get(_w) or CANON.get(_a) or _a


def words(text: str, slot_spans: list[tuple[int, int]] = ()) -> list[tuple[str, bool]]:
    """(normalised word, comes from a slot value): lowercase, no accents or punctuation, slang canonical."""
    tagged = [
        (strip_accents(m.group()).lower(), any(a <= m.start() and m.end() <= b for a, b in slot_spans))
        for m in WORD.finditer(text)
    ]
    out, i = [], 0
    while i < len(tagged):
        size = 2 if tuple(w for w, _ in tagged[i : i + 2]) in CANON else 1
        key, slot = tuple(w for w, _ in tagged[i : i + size]), all(s for _, s in tagged[i : i + size])
        out += [(w, slot) for w in CANON.get(key, key)]
        i += size
    return out


def ngrams(tagged: list[tuple[str, bool]]) -> set[tuple[str, ...]]:
    """The word N-grams of a text, leaving out those with fewer than 2 words of the template's own: a product
    name with a 'de' or 'quero' beside it ("quero jogo de lençol") is no copied phrasing."""
    grams = (tagged[i : i + N] for i in range(len(tagged) - N + 1))
    return {tuple(w for w, _ in g) for g in grams if sum(not s for _, s in g) >= 2}


def fill(template: str, values: dict[str, str]) -> tuple[str, list[tuple[int, int]]]:
    """The template with its slots filled, and where each slot value landed."""
    text, spans = "", []
    for literal, field, _, _ in string.Formatter().parse(template):
        text += literal
        if field is not None:
            spans.append((len(text), len(text) + len(values[field])))
            text += values[field]
    return text, spans


def slot_values(lang: str, products: list[str], names: list[str]) -> dict[str, list[str]]:
    units = UNIT_WORDS[lang]
    return {
        "product": products,
        "name": names,
        "budget": list(BUDGETS),
        "code": list(CODES),
        "qty": [str(q) for q in QTYS],
        "qty_units": [f"{c} {units[q > 1]}" for q in QTYS for c in (str(q), number_word(q, lang))],
        "ordinal": [ordinal_word(p, lang) for p in POSITIONS],
        "ordinal_n": [str(p) for p in POSITIONS],
    }


def renderings(template: str, values: dict[str, list[str]]):
    fields = list(dict.fromkeys(template_fields(template)))
    for combo in itertools.product(*(values[f] for f in fields)):
        yield fill(template, dict(zip(fields, combo)))


def copies(bank: dict, training: tuple[set, set], products: list[str], names: list[str]) -> set[tuple]:
    """(lang, act, template) of every bank template that repeats training phrasing, with the shared words."""
    grams, whole = training
    found = set()
    for lang, acts in bank.items():
        values = slot_values(lang, products, names)
        for act, templates in acts.items():
            for template in templates:
                for text, spans in renderings(template, values):
                    tagged = words(text, spans)
                    shared = ngrams(tagged) & grams
                    if len(tagged) < N and not all(s for _, s in tagged) and tuple(w for w, _ in tagged) in whole:
                        shared.add(tuple(w for w, _ in tagged))
                    found |= {(lang, act, template, " ".join(g)) for g in shared}
    return found
