"""What people's thumbs do to a message: typos, slang, dropped accents, emoji, lowercase, bursts.

Each noise function is pure given (text, rng) and returns new text (`burst` returns the messages).
A token holding a digit (a price, a quantity, an order code) leaves every one of them unchanged, so the
numbers of a customer's goal reach the bot intact. `noisy` combines them with probabilities scaled by a
level in [0, 1]: 0 is the clean template, 1 the sloppiest typist we simulate.
"""

from __future__ import annotations

import random
import re
import unicodedata

# Keyboard rows: ABNT2 (Brazilian phones and PCs: ç right of l) and US QWERTY. Neighbours are the keys
# left and right on the same row and the two keys each row above and below touches (rows are staggered).
ABNT2 = ("qwertyuiop", "asdfghjklç", "zxcvbnm")
QWERTY = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
# pt slang: the word as written → what people type instead (Brazilian WhatsApp usage). Keys also without
# accents, since a phone without autocorrect types them that way.
SLANG_PT = {
    "você": "vc",
    "voce": "vc",
    "vocês": "vcs",
    "voces": "vcs",
    "também": "tb",
    "tambem": "tb",
    "porque": "pq",
    "por que": "pq",
    "quanto": "qnto",
    "quantos": "qntos",
    "quanta": "qnta",
    "beleza": "blz",
    "obrigado": "obg",
    "obrigada": "obg",
    "por favor": "pfv",
    "tudo": "td",
    "mesmo": "msm",
    "que": "q",
    "não": "n",
    "nao": "n",
    "está": "tá",
    "para": "pra",
    "estou": "tô",
    "hoje": "hj",
}
SLANG_SHARE = 0.75  # each occurrence is abbreviated with this probability: people are not consistent
SLANG_RE = re.compile(r"(?<!\w)(" + "|".join(sorted(SLANG_PT, key=len, reverse=True)) + r")(?!\w)", re.IGNORECASE)
EMOJI = ("🙏", "😅", "👍", "😍", "🤔", "😊", "🥲", "❤️", "🙌", "😬")
FINAL_MARKS = ".!?"
# words that open a new thought, where a burst is likely to cut ("oi" / "tem relógio?" / "e quanto é o frete")
CLAUSE_STARTS = {"e", "mas", "tem", "quero", "queria", "pra", "pfv", "só", "and", "but", "please", "any", "is"}
# Probability of each noise at level 1 (scaled linearly by the level); slang is pt only.
NOISE_AT_FULL_LEVEL = {
    "slang": 0.8,
    "strip_accents": 0.6,
    "lowercase": 0.8,
    "typo": 0.4,
    "no_final_punctuation": 0.7,
    "emoji": 0.25,
}
PT_ONLY = {"slang"}


def neighbours(layout: tuple[str, ...]) -> dict[str, str]:
    """Key → the keys a thumb slips onto."""
    out: dict[str, str] = {}
    for r, row in enumerate(layout):
        for c, key in enumerate(row):
            near = [row[i] for i in (c - 1, c + 1) if 0 <= i < len(row)]
            for other, cols in ((r - 1, (c, c + 1)), (r + 1, (c - 1, c))):  # each row sits half a key right
                if 0 <= other < len(layout):
                    near += [layout[other][i] for i in cols if 0 <= i < len(layout[other])]
            out[key] = "".join(dict.fromkeys(near))
    return out


NEIGHBOURS = {"abnt2": neighbours(ABNT2), "qwerty": neighbours(QWERTY)}


def has_digit(token: str) -> bool:
    return any(ch.isdigit() for ch in token)


def strip_accents(text: str, rng: random.Random | None = None) -> str:
    """'não está à venda, ação' → 'nao esta a venda, acao' (NFD, combining marks dropped; emoji untouched)."""
    return unicodedata.normalize(
        "NFC", "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    )


def lowercase(text: str, rng: random.Random | None = None) -> str:
    """All lowercase, as typed with autocorrect off; tokens with a digit (order codes) keep their case."""
    return " ".join(t if has_digit(t) else t.lower() for t in text.split(" "))


def no_final_punctuation(text: str, rng: random.Random | None = None) -> str:
    """'tem frete grátis?' → 'tem frete grátis': nobody ends a chat message with a full stop."""
    return text.rstrip(FINAL_MARKS + " ") or text


def typo(text: str, rng: random.Random, layout: str = "abnt2") -> str:
    """One slip in one word of 4+ letters: an adjacent key, a dropped, doubled or swapped letter.
    Words with digits are never touched (a price or order code must survive)."""
    tokens = text.split(" ")
    words = [i for i, t in enumerate(tokens) if not has_digit(t) and sum(ch.isalpha() for ch in t) >= 4]
    if not words:
        return text
    i = rng.choice(words)
    word = tokens[i]
    letters = [j for j, ch in enumerate(word) if ch.isalpha()]
    j = rng.choice(letters)
    ch = word[j]
    base = strip_accents(ch).lower()
    keys = NEIGHBOURS[layout]
    kinds = ["delete", "double"] + (["adjacent"] if base in keys else [])
    if j + 1 < len(word) and word[j + 1].isalpha() and word[j + 1].lower() != ch.lower():
        kinds.append("swap")
    kind = rng.choice(kinds)
    if kind == "adjacent":
        slip = rng.choice(keys[base])
        word = word[:j] + (slip.upper() if ch.isupper() else slip) + word[j + 1 :]
    elif kind == "swap":
        word = word[:j] + word[j + 1] + ch + word[j + 2 :]
    elif kind == "double":
        word = word[:j] + ch + word[j:]
    else:
        word = word[:j] + word[j + 1 :]
    tokens[i] = word
    return " ".join(tokens)


def slang(text: str, rng: random.Random) -> str:
    """pt WhatsApp abbreviations ('você' → 'vc', 'por favor' → 'pfv', 'não' → 'n'), each occurrence by chance."""

    def short(m: re.Match) -> str:
        if rng.random() >= SLANG_SHARE:
            return m.group(0)
        abbr = SLANG_PT[m.group(0).lower()]
        return abbr.capitalize() if m.group(0)[0].isupper() else abbr

    return SLANG_RE.sub(short, text)


def emoji(text: str, rng: random.Random) -> str:
    """An emoji at the end, sometimes repeated ('obg 🙏🙏'), sometimes glued to the last word."""
    mark = rng.choice(EMOJI) * rng.choice((1, 1, 1, 1, 2))
    return f"{text}{rng.choice((' ', ' ', ''))}{mark}"


def cut_weight(tokens: list[str], c: int, kept: set[int]) -> float:
    """How likely a burst cuts before tokens[c]: after a clause's mark, before a clause's first word."""
    if c in kept or tokens[c - 1].endswith("$"):
        return 0
    if tokens[c - 1][-1] in ",;:?!.":
        return 6
    return 3 if tokens[c].lower() in CLAUSE_STARTS else 0.5


def burst(text: str, rng: random.Random, keep: tuple[str, ...] = ()) -> list[str]:
    """Split a message into 2–3 short ones, as people send 'oi' / 'tem relógio?' / 'até 150'.
    Cuts fall between words, mostly after a comma or a question or before a word that starts a clause;
    never inside a `keep` phrase (a product's name) nor between 'R$' and its amount. Trailing commas are
    dropped. A message of fewer than 3 words stays whole."""
    tokens = text.split()
    if len(tokens) < 3:
        return [text]
    bare = [t.rstrip(",;:?!.") for t in tokens]
    kept = set()  # cut positions between the words of a kept phrase
    for phrase in filter(None, (k.split() for k in keep)):
        n = len(phrase)
        kept |= {i + k for i in range(len(tokens)) if bare[i : i + n] == phrase for k in range(1, n)}
    cuts = list(range(1, len(tokens)))
    weights = [cut_weight(tokens, c, kept) for c in cuts]
    parts = min(rng.choice((2, 3)) if len(tokens) >= 5 else 2, 1 + sum(w > 0 for w in weights))
    chosen: set[int] = set()
    while len(chosen) < parts - 1:
        chosen.add(rng.choices(cuts, weights)[0])
    bounds = [0, *sorted(chosen), len(tokens)]
    return [" ".join(tokens[a:b]).rstrip(",;:") or " ".join(tokens[a:b]) for a, b in zip(bounds, bounds[1:])]


NOISE = {
    "slang": slang,
    "strip_accents": strip_accents,
    "lowercase": lowercase,
    "typo": typo,
    "no_final_punctuation": no_final_punctuation,
    "emoji": emoji,
}


def noisy(text: str, lang: str, rng: random.Random, level: float) -> str:
    """`text` as a customer types it: each noise applied with its probability × level (0 = unchanged)."""
    if not 0 <= level <= 1:
        raise ValueError(f"noise level must be within [0, 1], got {level}")
    for name, share in NOISE_AT_FULL_LEVEL.items():
        if rng.random() < share * level and (lang == "pt" or name not in PT_ONLY):
            text = typo(text, rng, "abnt2" if lang == "pt" else "qwerty") if name == "typo" else NOISE[name](text, rng)
    return text
