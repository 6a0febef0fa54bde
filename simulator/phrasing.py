"""What a simulated customer says: a template of the phrasing bank for an act, its slots filled, noise added.

The bank (phrasing_bank.yaml) is our own wording, never the synthesize stage's (DESIGN.md, "Evaluate on
what customers say"; tests/simulator/test_phrasing.py checks there is no 4-word span in common with the
training conversations). `utter` returns one or more messages: people often send a thought as a burst
of short messages. Noise functions: simulator/phrasing_noise.py.
"""

from __future__ import annotations

import functools
import random
import string
from pathlib import Path

import yaml

from simulator.phrasing_noise import burst, noisy

DEFAULT_BANK = Path(__file__).with_name("phrasing_bank.yaml")
LANGS = ("pt", "en")
# act → the slots the caller gives; every template of the act says each of them (in one of its forms)
ACTS: dict[str, tuple[str, ...]] = {
    "greet": (),
    "ask_product": ("product",),
    "ask_product_budget": ("product", "budget"),
    "ask_quantity": ("qty", "product"),
    "want_quantity": ("qty",),
    "pick_ordinal": ("ordinal",),
    "pick_name": ("name",),
    "add_this": (),
    "object_price": (),
    "object_quality": (),
    "object_shipping": (),
    "accept": (),
    "decline": (),
    "pay_pix": (),
    "pay_card": (),
    "pay_boleto": (),
    "checkout": (),
    "view_cart": (),
    "change_quantity": ("qty", "product"),
    "remove_item": ("product",),
    "reorder": (),
    "novelties": (),
    "order_status": ("code",),
    "order_status_no_code": (),
    "complaint": (),
    "ask_human": (),
    "thanks": (),
    "give_up": (),
}
# slot → the forms a template may write it in ({qty_units}: "2 unidades", "duas unidades"; {ordinal_n}: "2")
SLOT_FORMS = {"qty": ("qty", "qty_units"), "ordinal": ("ordinal", "ordinal_n")}
ORDINALS = {
    "pt": ("primeiro", "segundo", "terceiro", "quarto", "quinto", "sexto", "sétimo", "oitavo", "nono", "décimo"),
    "en": ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"),
}
# Feminine in pt: these words only ever count "unidades"
NUMBER_WORDS = {
    "pt": ("uma", "duas", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez"),
    "en": ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
}
UNIT_WORDS = {"pt": ("unidade", "unidades"), "en": ("unit", "units")}
WORDED_QTY_SHARE = 1 / 3  # how often "{qty_units}" spells the number ("duas unidades") instead of "2 unidades"
BURST_AT_FULL_NOISE = 0.35  # share of utterances sent as a burst at noise 1 (scaled by the noise level)


def acts_with_slot(slot: str) -> frozenset[str]:
    """The acts whose every utterance says `slot` (e.g. "budget": the customer states the budget)."""
    return frozenset(act for act, slots in ACTS.items() if slot in slots)


class BankError(ValueError):
    """The phrasing bank is malformed: a missing language or act, an unknown or missing slot."""


def template_fields(template: str) -> list[str]:
    return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]


def forms(slot: str) -> tuple[str, ...]:
    return SLOT_FORMS.get(slot, (slot,))


def check_template(where: str, template: object, slots: tuple[str, ...]) -> list[str]:
    """Problems of one template: not a non-empty string, bad braces, a slot the act lacks or a slot unsaid."""
    if not isinstance(template, str) or not template.strip():
        return [f"{where}: a template must be a non-empty string, got {template!r}"]
    try:
        fields = template_fields(template)
    except ValueError as e:
        return [f"{where} {template!r}: {e}"]
    allowed = [f for s in slots for f in forms(s)]
    errors = [f"{where} {template!r}: unknown slot {{{f}}} (allowed: {allowed})" for f in fields if f not in allowed]
    errors += [f"{where} {template!r}: does not say {{{s}}}" for s in slots if not any(f in fields for f in forms(s))]
    return errors


def load_bank(path: Path | str = DEFAULT_BANK) -> dict[str, dict[str, list[str]]]:
    """The bank as {lang: {act: [template, ...]}}, checked: every act in both languages, slots known and said."""
    path = Path(path)
    bank = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(bank, dict):
        raise BankError(f"{path}: expected a mapping of languages, got {type(bank).__name__}")
    errors = [f"{path}: missing language {lang!r}" for lang in LANGS if lang not in bank]
    errors += [f"{path}: unknown language {lang!r} (known: {LANGS})" for lang in bank if lang not in LANGS]
    for lang in (x for x in LANGS if x in bank):
        acts = bank[lang] or {}
        errors += [f"{path}: {lang}: missing act {act!r}" for act in ACTS if act not in acts]
        errors += [f"{path}: {lang}: unknown act {act!r}" for act in acts if act not in ACTS]
        for act, templates in acts.items():
            if act not in ACTS:
                continue
            if not isinstance(templates, list) or not templates:
                errors.append(f"{path}: {lang}.{act}: expected a non-empty list of templates")
                continue
            errors += [f"{path}: {lang}.{act}: {t!r} is listed twice" for t in set(templates) if templates.count(t) > 1]
            for i, t in enumerate(templates):
                errors += check_template(f"{path}: {lang}.{act}[{i}]", t, ACTS[act])
    if errors:
        raise BankError("phrasing bank is invalid:\n" + "\n".join(errors))
    return bank


@functools.cache
def default_bank() -> dict[str, dict[str, list[str]]]:
    return load_bank(DEFAULT_BANK)


def ordinal_word(n: int, lang: str) -> str:
    """2 → 'segundo' / 'second' (masculine in pt: 'o segundo' produto); beyond ten, the digits."""
    return ORDINALS[lang][n - 1] if 1 <= n <= len(ORDINALS[lang]) else str(n)


def number_word(n: int, lang: str) -> str:
    """2 → 'duas' / 'two' (feminine in pt, for 'unidades'); beyond ten, the digits."""
    return NUMBER_WORDS[lang][n - 1] if 1 <= n <= len(NUMBER_WORDS[lang]) else str(n)


def positive_int(slot: str, value: object) -> int:
    """A count given as 2 or '2' (the caller's choice); anything else is a caller's bug."""
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"slot {slot!r} must be a positive whole number, got {value!r}")
    return int(text)


def render_slots(act: str, lang: str, rng: random.Random, slots: dict[str, object]) -> dict[str, str]:
    """The act's slots in every form its templates may use; a missing or unexpected slot is an error.
    product/name/code: the customer's words as given; budget: whole reais (a person says '150', not cents)."""
    expected = set(ACTS[act])
    if set(slots) != expected:
        raise ValueError(f"act {act!r} takes slot(s) {sorted(expected)}, got {sorted(slots)}")
    out: dict[str, str] = {}
    for slot, value in slots.items():
        if slot == "qty":
            n = positive_int(slot, value)
            count = number_word(n, lang) if rng.random() < WORDED_QTY_SHARE else str(n)
            out |= {"qty": str(n), "qty_units": f"{count} {UNIT_WORDS[lang][n > 1]}"}
        elif slot == "ordinal":
            n = positive_int(slot, value)
            out |= {"ordinal": ordinal_word(n, lang), "ordinal_n": str(n)}
        elif slot == "budget":
            out["budget"] = str(positive_int(slot, value))
        elif not str(value).strip():
            raise ValueError(f"slot {slot!r} is empty")
        else:
            out[slot] = str(value).strip()
    return out


def utter(
    act: str,
    lang: str,
    rng: random.Random,
    noise: float = 0.5,
    bank: dict[str, dict[str, list[str]]] | None = None,
    **slots: object,
) -> list[str]:
    """What the customer sends for `act` in `lang`: one message, or a burst of 2–3 short ones.
    Seeded by `rng` alone; noise 0 gives the filled template as written in the bank."""
    bank = bank or default_bank()
    if lang not in bank:
        raise ValueError(f"unknown language {lang!r} (known: {sorted(bank)})")
    if act not in ACTS:
        raise ValueError(f"unknown act {act!r} (known: {sorted(ACTS)})")
    values = render_slots(act, lang, rng, slots)
    text = rng.choice(bank[lang][act]).format(**values)
    # split the clean text (a product's words stay together), then each message is typed with its own slips
    parts = burst(text, rng, keep=tuple(values.values())) if rng.random() < BURST_AT_FULL_NOISE * noise else [text]
    return [noisy(part, lang, rng, noise) for part in parts]
