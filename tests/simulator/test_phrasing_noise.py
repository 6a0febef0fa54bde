"""The noise functions one by one, on literal text: what each changes, what none of them may touch."""

import random
import re

import pytest

from simulator.phrasing_noise import (
    EMOJI,
    NEIGHBOURS,
    NOISE,
    burst,
    emoji,
    lowercase,
    no_final_punctuation,
    noisy,
    slang,
    strip_accents,
    typo,
)

GOAL = "Você tem relógio até R$150? Quero 2, é pro pedido ZV48213 também, ou o e481f51cbdc54678, por favor"
NUMBERS = ("R$150?", "2,", "ZV48213", "e481f51cbdc54678,")  # a price, a quantity, order codes (ours, Olist's)
SEEDS = range(300)


def differ_by_one_slip(before: str, after: str) -> bool:
    """after = before with one adjacent-key substitution, deletion, doubling or swap of neighbours."""
    if len(after) == len(before):
        diff = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
        if len(diff) == 1:
            a, b = strip_accents(before[diff[0]]).lower(), after[diff[0]].lower()
            return b in NEIGHBOURS["abnt2"].get(a, "") or b in NEIGHBOURS["qwerty"].get(a, "")
        i = diff[0] if diff else 0
        return len(diff) == 2 and diff[1] == i + 1 and (before[i], before[i + 1]) == (after[i + 1], after[i])
    short, long_ = sorted((before, after), key=len)
    return len(long_) == len(short) + 1 and any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def test_typo_is_one_keyboard_slip_in_one_word_and_never_in_digits():
    slips = set()
    for seed in SEEDS:
        out = typo(GOAL, random.Random(seed))
        assert out != GOAL and all(n in out.split() for n in NUMBERS)
        changed = [(a, b) for a, b in zip(GOAL.split(" "), out.split(" ")) if a != b]
        assert len(changed) == 1 and differ_by_one_slip(*changed[0]), changed
        slips.add(len(changed[0][1]) - len(changed[0][0]))
    assert slips == {-1, 0, 1}  # deletions, substitutions/swaps, doublings all occur
    assert typo("R$ 150 ZV482 2x", random.Random(0)) == "R$ 150 ZV482 2x"  # nothing but numbers: untouched
    assert typo("oi vc", random.Random(0)) == "oi vc"  # no word of 4+ letters


def test_typo_uses_the_layout_asked_for():
    assert set(NEIGHBOURS["qwerty"]["g"]) == set("fhtyvb") and set(NEIGHBOURS["qwerty"]["a"]) == set("sqwz")
    assert set(NEIGHBOURS["abnt2"]["l"]) == set("kçop") and "ç" not in NEIGHBOURS["qwerty"]["l"]
    assert any("ç" in typo("llllll", random.Random(s), "abnt2") for s in SEEDS)  # ABNT2: ç is right of l
    assert not any("ç" in typo("llllll", random.Random(s), "qwerty") for s in SEEDS)


def test_strip_accents_keeps_letters_digits_and_emoji():
    assert (
        strip_accents("Não está à venda: ação, pé, Ônibus, ç 🙏 R$150")
        == "Nao esta a venda: acao, pe, Onibus, c 🙏 R$150"
    )
    assert strip_accents("❤️ ok") == "❤️ ok"


def test_slang_abbreviates_pt_words_and_only_in_pt():
    outs = [slang(GOAL, random.Random(s)) for s in SEEDS]
    assert any(o.startswith("Vc tem") for o in outs)  # the capital survives
    for abbr in ("tb", "pfv"):
        assert any(abbr in o.split(" ") or abbr + "," in o for o in outs)
    assert {slang("não, por favor", random.Random(s)) for s in SEEDS} == {
        "não, por favor",
        "n, por favor",
        "não, pfv",
        "n, pfv",
    }
    assert {slang("quanto", random.Random(s)) for s in SEEDS} == {"quanto", "qnto"}  # not every time
    assert slang("queijo quantos", random.Random(0)) in {"queijo quantos", "queijo qntos"}  # whole words only
    pt_words = re.compile(r"\b(vc|tb|pfv|qnto)\b")
    assert not any(pt_words.search(noisy(GOAL, "en", random.Random(s), 1.0)) for s in SEEDS)
    assert any(pt_words.search(noisy(GOAL, "pt", random.Random(s), 1.0)) for s in SEEDS)


def test_emoji_is_added_at_the_end():
    added = set()
    for seed in SEEDS:
        out = emoji("obrigada!", random.Random(seed))
        assert out.startswith("obrigada!")
        added.add(out.removeprefix("obrigada!").strip())
    assert added == set(EMOJI) | {e * 2 for e in EMOJI}  # one emoji, sometimes doubled


def test_lowercase_and_no_final_punctuation():
    assert lowercase("Quero O Pedido ZV48213 Agora") == "quero o pedido ZV48213 agora"  # codes keep their case
    assert no_final_punctuation("tem frete grátis?!") == "tem frete grátis"
    assert no_final_punctuation("oi.") == "oi" and no_final_punctuation("?") == "?"


def test_burst_splits_into_two_or_three_messages_that_keep_the_words():
    text = "oi, tudo bem? tem fone bluetooth até R$ 150? queria pra hoje"
    word = re.compile(r"\w+|R\$")
    sizes = set()
    for seed in SEEDS:
        parts = burst(text, random.Random(seed), keep=("fone bluetooth",))
        sizes.add(len(parts))
        assert 2 <= len(parts) <= 3 and all(p.strip() for p in parts)
        assert word.findall(" ".join(parts)) == word.findall(text)
        assert not any(p.endswith(("fone", "R$")) or p.endswith(",") for p in parts)  # no cut in a kept phrase
    assert sizes == {2, 3}
    assert burst("oi gente", random.Random(0)) == ["oi gente"]


@pytest.mark.parametrize("name", sorted(NOISE))
def test_every_noise_is_seeded_and_leaves_numbers_intact(name):
    for seed in range(50):
        out = NOISE[name](GOAL, random.Random(seed))
        assert out == NOISE[name](GOAL, random.Random(seed))
        assert all(n in out.split(" ") for n in NUMBERS)


def test_noisy_levels():
    assert all(noisy(GOAL, lang, random.Random(s), 0) == GOAL for s in range(50) for lang in ("pt", "en"))
    outs = [noisy(GOAL, "pt", random.Random(s), 1.0) for s in SEEDS]
    assert sum(o != GOAL for o in outs) > 0.9 * len(outs)
    assert all(n in o.split(" ") for o in outs for n in NUMBERS)
    mild = sum(noisy(GOAL, "pt", random.Random(s), 0.2) != GOAL for s in SEEDS)
    assert mild < sum(o != GOAL for o in outs)
    with pytest.raises(ValueError, match="within"):
        noisy(GOAL, "pt", random.Random(0), 1.5)
