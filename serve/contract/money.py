"""Money is integer cents everywhere; these two functions are the only edge to and from text."""

from __future__ import annotations

import re

# "R$ 1.234,56", "R$1234,56", "R$ 49,9", "R$ 50" (pt-BR: '.' groups thousands, ',' decimals).
BRL_PATTERN = re.compile(r"R\$\s?(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d{1,2}))?")


def format_brl(cents: int) -> str:
    """12345 → 'R$ 123,45'; 123456789 → 'R$ 1.234.567,89'."""
    if not isinstance(cents, int):
        raise TypeError(f"money is integer cents, got {type(cents).__name__}")
    sign = "-" if cents < 0 else ""
    reais, centavos = divmod(abs(cents), 100)
    return f"{sign}R$ {reais:,}".replace(",", ".") + f",{centavos:02d}"


def parse_brl_cents(text: str) -> list[int]:
    """Every R$ amount stated in `text`, in cents, in order of appearance."""
    amounts = []
    for whole, frac in BRL_PATTERN.findall(text):
        frac = (frac or "0").ljust(2, "0")
        amounts.append(int(whole.replace(".", "")) * 100 + int(frac))
    return amounts
