"""Customers' misspellings of the few words the server reacts to, read as those words.

    respell("nossa ta crao hein", KEYWORDS)            # "nossa ta caro hein"
    respell("cobra frte?", KEYWORDS, known=cat.knows)  # "cobra frete?": a word the catalogue uses stays

People type fast on phones: a letter dropped, doubled, swapped or replaced ("crao", "caaro", "frte",
"pqgar", "origial"). A word one such edit (optimal string alignment distance 1, rapidfuzz) from a
keyword is read as the keyword, unless it is a word in its own right (`known`, and the common
words below): "frente" is not "frete", "nova" is not "nota". Words under three letters, numbers
and the keywords themselves are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection

from rapidfuzz import process
from rapidfuzz.distance import OSA

from serve.core.catalog import STOPWORDS

MIN_LENGTH = 3  # "aro" → "caro"; shorter words are too often other words
MAX_EDITS = 1
# Everyday words one edit from a keyword (they are not its misspellings)
COMMON = frozenset(
    "bem mais mas nova novo novas novos duas cada casa caso pela pelo pera frente carro carta cartao card cart "
    "cars pegar pago paga pagou chato cheia cheio data dia dias nada nao sao vai vou via fica ficar isso esse essa "
    "preto preta certo certa perto cedo prato pratos".split()
)
WORD = re.compile(r"[a-z]+")


def respell(folded: str, keywords: Collection[str], known: Callable[[str], bool] | None = None) -> str:
    """`folded` (lowercase, accents off) with each misspelt keyword written right."""
    choices = [k for k in keywords if len(k) > MIN_LENGTH]

    def fix(match: re.Match) -> str:
        word = match.group(0)
        if len(word) < MIN_LENGTH or word in keywords or word in STOPWORDS or word in COMMON:
            return word
        best = process.extractOne(word, choices, scorer=OSA.distance, score_cutoff=MAX_EDITS)
        if best is None or known is not None and known(word):  # `known` only for a near miss: it costs a lookup
            return word
        return best[0]

    return WORD.sub(fix, folded)
