"""PII scrub for free text (chat turns, review comments): e-mails, phone numbers, CPF, CEP.

Each match becomes a fixed placeholder ("[email]", "[telefone]", "[cpf]", "[cep]") so the text
stays readable for training and a model never learns to echo a real identifier.
Patterns are anchored on non-word boundaries, so hex ids (Olist product/order ids are 32 hex
chars) and money ("R$ 1.234,56") are never touched.
"""

from __future__ import annotations

import re
from collections import Counter

EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
# CPF: 123.456.789-09 (formatted; bare 11 digits are resolved by checksum below).
CPF = re.compile(r"(?<![\w.])\d{3}\.\d{3}\.\d{3}-\d{2}(?![\w-])")
# CEP: 01310-100, 01.310-100, or "CEP 01310100".
CEP = re.compile(r"(?<![\w.-])\d{2}\.?\d{3}-\d{3}(?![\w-])|(?i:\bcep\s*:?\s*)\d{8}\b")
# Phones: +55 (11) 98765-4321, (11) 98765-4321, 11 98765-4321, 98765-4321, 9876-5432,
# +1 (555) 123-4567, 555-123-4567, +44 20 7946 0958. Digits-only runs of 10-13 handled below.
PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,3}\)\s?|\d{2,3}[\s.-])?9?\d{4}[\s.-]\d{4}(?![\w-])"
    r"|(?<![\w+])(?:\+\d{1,3}[\s.-]?)?\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?![\w-])"
    r"|(?<![\w])\+\d{1,3}(?:[\s.-]?\d{2,5}){2,5}(?![\w-])"
)
BARE_DIGITS = re.compile(r"(?<![\w.,])\d{10,13}(?![\w.,])")

PLACEHOLDERS = {"email": "[email]", "cpf": "[cpf]", "cep": "[cep]", "phone": "[telefone]"}


def is_valid_cpf(digits: str) -> bool:
    """CPF check digits (mod 11); lets a bare 11-digit run be told apart from a phone number."""
    if len(digits) != 11 or digits == digits[0] * 11:
        return False
    for n in (9, 10):
        total = sum(int(d) * w for d, w in zip(digits[:n], range(n + 1, 1, -1)))
        if int(digits[n]) != (total * 10 % 11) % 10:
            return False
    return True


def scrub_pii(text: str | None, counts: Counter | None = None) -> str | None:
    """Replace e-mails, CPFs, CEPs and phone numbers in `text`; tally replacements in `counts`."""
    if not text:
        return text

    def sub(kind: str, pattern: re.Pattern, s: str) -> str:
        s, n = pattern.subn(PLACEHOLDERS[kind], s)
        if counts is not None and n:
            counts[kind] += n
        return s

    # Order matters: e-mails first (may hold digits), then CPF/CEP (more specific than phones).
    text = sub("email", EMAIL, text)
    text = sub("cpf", CPF, text)
    text = sub("cep", CEP, text)
    text = sub("phone", PHONE, text)

    def bare(match: re.Match) -> str:
        kind = "cpf" if is_valid_cpf(match.group()) else "phone"
        if counts is not None:
            counts[kind] += 1
        return PLACEHOLDERS[kind]

    return BARE_DIGITS.sub(bare, text)
