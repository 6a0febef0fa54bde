"""Product cards: deterministic PNGs, cache keyed by what is drawn, badge only for real low stock."""

import dataclasses
import os

from PIL import Image, ImageColor

from serve.conversation import cards

RELOGIO = "6d14fe441e179bb02338d5105fb749a1"  # stock 1, 4.6 (8 reviews), relogios_presentes
LENCOL = "6c960ba67062c4e0ec86082740d58be2"  # stock 40
EDREDOM = "8f7837b2bfe59fad9cd664244edd49ff"  # no reviews
ORANGE = ImageColor.getrgb("#ff7a00")
GOLD = ImageColor.getrgb(cards.STAR_ON)


def _count(img: Image.Image, colour, box) -> int:
    region = img.crop(box).getdata()
    return sum(1 for px in region if px[:3] == colour)


def test_deterministic_and_cached(tmp_path, catalogue):
    p = catalogue.get(LENCOL)
    a = cards.render_card(p, tmp_path / "a")
    b = cards.render_card(p, tmp_path / "b")
    assert a.read_bytes() == b.read_bytes() and a.name == b.name and a.suffix == ".png"
    before = os.stat(a).st_mtime_ns
    assert cards.render_card(p, tmp_path / "a") == a and os.stat(a).st_mtime_ns == before  # served from cache
    cheaper = cards.render_card(dataclasses.replace(p, price_cents=7990), tmp_path / "a")
    rated = cards.render_card(dataclasses.replace(p, review_score=3.0), tmp_path / "a")
    assert len({a, cheaper, rated}) == 3
    with Image.open(a) as img:
        assert img.size == (cards.W, cards.H)
        assert img.getpixel((5, 5)) == ImageColor.getrgb(cards.CATEGORY_COLOURS["cama_mesa_banho"])


def test_low_stock_badge_only_when_low(tmp_path, catalogue):
    badge_box = (cards.W // 2, cards.BAND_H - 24, cards.W, cards.BAND_H + 24)
    low = cards.render(catalogue.get(RELOGIO), cards.is_low_stock(catalogue.get(RELOGIO)))
    plenty = cards.render(catalogue.get(LENCOL), cards.is_low_stock(catalogue.get(LENCOL)))
    sold_out = dataclasses.replace(catalogue.get(RELOGIO), stock=0)
    assert _count(low, ORANGE, badge_box) > 500
    assert _count(plenty, ORANGE, badge_box) == 0
    assert _count(cards.render(sold_out, cards.is_low_stock(sold_out)), ORANGE, badge_box) == 0
    forced_off = cards.render_card(catalogue.get(RELOGIO), tmp_path, low_stock=False)
    with Image.open(forced_off) as img:
        assert _count(img.convert("RGB"), ORANGE, badge_box) == 0
    assert forced_off != cards.render_card(catalogue.get(RELOGIO), tmp_path)


def test_stars_follow_the_score_in_half_steps(catalogue):
    p = catalogue.get(RELOGIO)  # 4.6 → 4.5 stars
    img = cards.render(p, False)
    size, y = 34, 330 + 110  # draw_stars(size=34) at the rating row (price row starts at 330 for short names)
    star = lambda i: (cards.MARGIN + i * (size + 6), y, cards.MARGIN + i * (size + 6) + size, y + size)  # noqa: E731
    full = [_count(img, GOLD, star(i)) for i in range(5)]
    assert all(n > 200 for n in full[:4])
    left = _count(img, GOLD, (star(4)[0], y, star(4)[0] + size // 2, y + size))
    right = _count(img, GOLD, (star(4)[0] + size // 2 + 1, y, star(4)[2], y + size))
    assert left > 100 and right == 0
    unrated = cards.render(catalogue.get(EDREDOM), False)
    assert sum(_count(unrated, GOLD, star(i)) for i in range(5)) == 0


def test_wrap_limits_lines_and_width():
    f = cards.font(42, bold=True)
    name = "Kit Jogo de Cama Casal Queen Size Percal 400 Fios Algodão Egípcio com Fronhas e Porta-Travesseiros Extras"
    lines = cards.wrap(name, f, 700, max_lines=3)
    assert len(lines) == 3 and lines[-1].endswith("…") and all(f.getlength(x) <= 700 for x in lines)
    assert cards.wrap("Capinha Celular", f, 700) == ["Capinha Celular"]
    assert cards.category_colour("categoria_nova") == cards.category_colour("categoria_nova") in cards.PALETTE
