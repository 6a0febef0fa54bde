"""A customer's price ceiling in free text, in integer cents: "até 40 reais" → 4000.

    budget_cents("relógio até 150 reais")         → 15000
    budget_cents("perfume 100 ml")                → None   (a size, not a price)
    find_budgets("kit com 3, menos de R$ 89,90")  → [Budget(cents=8990, span=(11, 29))]

A number is a budget when money says so:
  - a currency mark next to it: "R$ 80", "$50", "80 reais", "50 conto", "70 pila", "30 bucks";
  - a ceiling word before it: "até", "no máximo", "menos de", "abaixo de", "não pode passar de",
    "posso gastar", "under", "less than", "up to", ... or after it: "199,90 no máximo", "100 or less",
    "tenho 100 pra gastar";
  - the top of a range: "entre 50 e 100 reais" → 100.
and never when a unit follows ("100 ml", "2 unidades", "de 7 anos", "até 55 polegadas", "5kg") or a
floor word comes before ("mais de 100", "acima de", "a partir de", "over"). Several ceilings: the
lowest wins. Amounts: "1.500" and "1.500,00" are pt-BR thousands, "39,90" and "49.99" decimals,
"1k" / "2 mil" thousands; spelled numbers up to "mil" ("até cem reais").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal

SPELLED = {
    "dez": 10,
    "vinte": 20,
    "trinta": 30,
    "quarenta": 40,
    "cinquenta": 50,
    "sessenta": 60,
    "setenta": 70,
    "oitenta": 80,
    "noventa": 90,
    "cem": 100,
    "duzentos": 200,
    "trezentos": 300,
    "quatrocentos": 400,
    "quinhentos": 500,
    "mil": 1000,
    "ten": 10,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "hundred": 100,
}
# Amount: pt-BR thousands (1.500 / 1.500,00), a decimal (39,90 / 49.99), or an integer; "k" / "mil".
AMOUNT = r"(?P<num>\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?P<mult>\s*k\b|\s+mil\b)?"
CURRENCY_BEFORE = r"(?:r\s?\$|\$|rs\b\.?|brl\b)"
CURRENCY_AFTER = r"(?:reais|real|contos?|pilas?|mangos?|pratas?|paus?|bucks|dollars?|brl|rs\b)"
CEILING_BEFORE = (
    r"(?:ate|no ma[xcs]i?mo|no max|ma[xcs]i?mo|max\.?|menos de|abaixo de|inferior a|nao (?:pode )?passa(?:r|ndo)? de|"
    r"que nao passe de|nao passe de|por menos de|mais barat[oa]s? (?:que|do que)|teto de|limite de|orcamento de|"
    r"cerca de|em torno de|na faixa de|mais ou menos|"
    r"under|below|less than|up to|max(?:imum)?|at most|no more than|within|around|about|budget(?: of| is)?|"
    r"cheaper than|(?:posso|quero|vou|da pra|consigo|pretendo) gastar(?:\s+[a-z]{1,7}){0,2}?|(?:can|could|want to) spend)"
)
CEILING_AFTER = (
    r"(?:no ma[xcs]i?mo|no max|ou menos|pra baixo|para baixo|max|or less|tops|at most|max(?:imum)?|"
    r"(?:pra|para)\s+g[ast]{3,4}r\b|de orcamento|to spend)"  # "pra gastar", a slip too ("pra gatsar")
)
FLOOR_BEFORE = r"(?:mais de|acima de|a partir de|superior a|pelo menos|minimo|over|more than|above|at least|from)"
# What follows a number that is a quantity or a size, not money.
UNITS = (
    r"ml|l|lt|litros?|kg|kgs|g|gr|gramas?|mg|cm|mm|m|metros?|un|und|unid|unidades?|pecas?|pcs|pares|"
    r"anos?|meses|mes|dias?|lugares|gb|tb|mb|w|watts?|v|volts?|polegadas?|pol|fios|cores|materias|degraus|"
    r"pessoas|portas|velocidades|xicaras|teclas|nichos|gavetas|dpi|mah|fps|din|x|vezes|parcelas|%|"
    r"years?|yrs?|months?|pack|pieces|people|inch(?:es)?|units?|cups|liters?|meters?|feet|ft|hp|cv|"
    r"minutos?|horas?|h|lumens"
)
_UNIT_AFTER = re.compile(rf"\s*(?:{UNITS})\b|[a-z]")  # a unit word, or letters glued on: 5kg, 128gb


@dataclass(frozen=True)
class Budget:
    cents: int
    span: tuple[int, int]  # where it was said, in fold(text) (which keeps the text's length)


def fold(text: str) -> str:
    """Lowercase, accents off, one character per character of `text` (so spans index both):
    'Até R$ 40' → 'ate r$ 40'."""
    out = []
    for c in str(text):
        base = "".join(b for b in unicodedata.normalize("NFKD", c.lower()) if not unicodedata.combining(b))
        out.append(base if len(base) == 1 else c if len(c.lower()) != 1 else c.lower())
    return "".join(out)


def _spelled_to_digits(text: str) -> str:
    """'ate cem reais' → 'ate 100 reais' (padded so spans keep their place)."""

    def digits(m: re.Match) -> str:
        word = m.group(0)
        return ("1k" if word == "mil" else str(SPELLED[word])).ljust(len(word))

    # "2 mil" is a multiplier (AMOUNT reads it), not a second number
    return re.sub(r"(?<!\d )\b(?:" + "|".join(SPELLED) + r")\b", digits, text)


def _cents(num: str, mult: str | None) -> int:
    if re.fullmatch(r"\d{1,3}(?:\.\d{3})+(?:,\d{1,2})?", num):  # 1.500 / 1.500,00
        value = Decimal(num.replace(".", "").replace(",", "."))
    else:
        value = Decimal(num.replace(",", "."))
    if mult:
        value *= 1000
    return int(value * 100)


def find_budgets(text: str) -> list[Budget]:
    """Every price ceiling stated in `text`, in order."""
    s = _spelled_to_digits(fold(text))
    found = []
    for m in re.finditer(AMOUNT, s):
        start, end = m.span()
        if start > 0 and (s[start - 1].isalnum() or s[start - 1] in ".,"):
            continue  # part of a word or of another number: "h4", "ps4", "1,8m"
        after = s[end:]
        before = s[:start].rstrip()
        if m.group("mult") is None and _UNIT_AFTER.match(after) and not re.match(rf"\s*{CURRENCY_AFTER}\b", after):
            continue
        money_word = re.search(rf"{CURRENCY_BEFORE}\s*$", before)
        money_after = re.match(rf"\s*{CURRENCY_AFTER}\b", after)
        currency = money_word or money_after
        head = before[: money_word.start()].rstrip() if money_word else before
        ceiling_before = re.search(rf"\b{CEILING_BEFORE}(?:\s+(?:uns|umas|tipo|de|a|so))*$", head)
        ceiling_after = re.match(rf"\s*(?:{CURRENCY_AFTER}\b)?\s*,?\s*{CEILING_AFTER}\b", after)
        ceiling = ceiling_before or ceiling_after
        if re.search(rf"\b{FLOOR_BEFORE}(?:\s+(?:uns|umas|de))*$", head):
            continue
        bottom_of_range = re.search(r"\b(?:entre|between|de|from)$", head) and re.match(
            rf"\s*(?:{CURRENCY_AFTER}\b)?\s*(?:e|a|and|to)\s+(?:{CURRENCY_BEFORE}\s*)?\d", after
        )
        top_of_range = re.search(
            rf"\b(?:entre|between|de|from)\s+(?:{CURRENCY_BEFORE}\s*)?[\d.,]+\s*(?:{CURRENCY_AFTER}\s*)?(?:e|a|and|to)$",
            head,
        )
        if bottom_of_range or not (currency or ceiling or top_of_range):
            continue
        cents = _cents(m.group("num"), m.group("mult"))
        if cents >= 100:  # under one real is a quantity typed oddly, not a budget
            # the span covers the money words too ("até R$ 40 no máximo"): none of them is a product word
            starts = [x.start() for x in (ceiling_before, money_word, top_of_range) if x]
            span_start = min(starts, default=start)
            tail = max((x.end() for x in (money_after, ceiling_after) if x), default=0)
            found.append(Budget(cents, (span_start, end + tail)))
    return found


def budget_cents(text: str) -> int | None:
    """The lowest price ceiling in `text`, in integer cents; None when it states none."""
    budgets = find_budgets(text)
    return min(b.cents for b in budgets) if budgets else None
