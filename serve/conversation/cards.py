"""Product cards: one PNG per product (Olist has no photos), sent as an image with a caption.

Card (800×600): category colour band with the category name, the product name wrapped to at most
three lines, the price (format_brl), a 5-star rating with the review count, and an "estoque
baixo" badge only when the catalogue says stock is really low (1..threshold units; never
invented). Rendering is deterministic (same inputs → same bytes), and cards are cached in
MEDIA_DIR/cards/ under a name derived from everything drawn (product id, price, rating, review
count, badge, name, category), so a price change makes a new card and an unchanged one is reused.

Fonts: DejaVu Sans (accents, R$) from the system or matplotlib's bundled copy; Pillow's built-in
font as the last resort.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from serve.contract import format_brl
from serve.core.catalog import LOW_STOCK_THRESHOLD, Product

W, H = 800, 600
MARGIN = 48
BAND_H = 96
VERSION = "1"  # bump when the layout changes: invalidates cached cards
# Colour per main Olist category; any other slug gets a stable colour from PALETTE.
CATEGORY_COLOURS = {
    "cama_mesa_banho": "#3b6fb6",
    "beleza_saude": "#c2407a",
    "esporte_lazer": "#2e8b57",
    "moveis_decoracao": "#8b5a2b",
    "informatica_acessorios": "#4b4f9c",
    "utilidades_domesticas": "#d2691e",
    "relogios_presentes": "#7a5195",
    "telefonia": "#00838f",
    "ferramentas_jardim": "#558b2f",
    "automotivo": "#455a64",
    "brinquedos": "#f4511e",
    "bebes": "#5c9ded",
}
PALETTE = ("#1565c0", "#6a1b9a", "#00897b", "#ef6c00", "#ad1457", "#2e7d32", "#4e342e", "#283593")
STAR_ON, STAR_OFF = "#f5a623", "#d9d9d9"


def category_colour(slug: str) -> str:
    if slug in CATEGORY_COLOURS:
        return CATEGORY_COLOURS[slug]
    return PALETTE[int(hashlib.sha1(slug.encode()).hexdigest(), 16) % len(PALETTE)]


def _font_dirs() -> list[Path]:
    dirs = [Path("/usr/share/fonts/truetype/dejavu")]
    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.submodule_search_locations:
        dirs.append(Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf")
    return dirs


@lru_cache(maxsize=32)
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for d in _font_dirs():
        if (d / name).exists():
            return ImageFont.truetype(str(d / name), size)
    return ImageFont.load_default(size)


def _fit(line: str, fnt, width: int, ellipsis: bool) -> str:
    while line and fnt.getlength(line + ("…" if ellipsis else "")) > width:
        line, ellipsis = line[:-1].rstrip(), True
    return line + ("…" if ellipsis else "")


def wrap(text: str, fnt, width: int, max_lines: int = 3) -> list[str]:
    """Greedy word wrap by rendered width (px); text past `max_lines` is cut with "…"."""
    lines: list[str] = []
    for word in text.split():
        if lines and fnt.getlength(f"{lines[-1]} {word}") <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    cut = len(lines) > max_lines
    lines = lines[:max_lines]
    return [_fit(line, fnt, width, cut and i == len(lines) - 1) for i, line in enumerate(lines)]


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    import math

    pts = []
    for k in range(10):
        rad = r if k % 2 == 0 else r * 0.45
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + rad * math.cos(a), cy + rad * math.sin(a)))
    return pts


def draw_stars(img: Image.Image, x: int, y: int, score: float, size: int = 34) -> int:
    """Five stars from (x, y) filled to `score` in half-star steps; returns the x after them."""
    halves = round(score * 2)
    draw = ImageDraw.Draw(img)
    for i in range(5):
        cx, cy = x + i * (size + 6) + size / 2, y + size / 2
        pts = _star(cx, cy, size / 2)
        draw.polygon(pts, fill=STAR_OFF)
        filled = min(2, max(0, halves - 2 * i))  # 0, 1 (half) or 2 (full) halves of this star
        if filled:
            layer = Image.new("L", img.size, 0)
            ImageDraw.Draw(layer).polygon(pts, fill=255)
            if filled == 1:  # keep the left half only
                ImageDraw.Draw(layer).rectangle([cx, 0, img.size[0], img.size[1]], fill=0)
            img.paste(STAR_ON, mask=layer)
    return x + 5 * (size + 6)


def is_low_stock(product: Product, threshold: int = LOW_STOCK_THRESHOLD) -> bool:
    return 0 < product.stock <= threshold


def render(product: Product, low_stock: bool) -> Image.Image:
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    colour = category_colour(product.category)
    d.rectangle([0, 0, W, BAND_H], fill=colour)
    d.text((MARGIN, BAND_H / 2), product.category_pt.upper(), font=font(26, bold=True), fill="white", anchor="lm")

    y = BAND_H + 36
    name_font = font(42, bold=True)
    for line in wrap(product.name, name_font, W - 2 * MARGIN, max_lines=3):
        d.text((MARGIN, y), line, font=name_font, fill="#1d1d1d")
        y += 54

    y = max(y + 16, 330)
    d.text((MARGIN, y), format_brl(product.price_cents), font=font(72, bold=True), fill="#0b7a3b")

    y += 110
    if product.review_count and product.review_score is not None:
        x = draw_stars(img, MARGIN, y, product.review_score)
        score = f"{product.review_score:.1f}".replace(".", ",")
        plural = "avaliação" if product.review_count == 1 else "avaliações"
        d.text((x + 12, y + 17), f"{score}  ({product.review_count} {plural})", font=font(28), fill="#444", anchor="lm")
    else:
        d.text((MARGIN, y + 17), "ainda sem avaliações", font=font(28), fill="#777", anchor="lm")

    if low_stock:  # only from real stock: the one allowed ground for scarcity
        text = f"estoque baixo: {product.stock} un."
        f = font(26, bold=True)
        tw = f.getlength(text)
        box = [W - MARGIN - tw - 32, BAND_H - 24, W - MARGIN, BAND_H + 24]  # on the band's lower edge
        d.rounded_rectangle(box, radius=12, fill="#ff7a00")
        d.text(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2), text, font=f, fill="white", anchor="mm")

    d.line([MARGIN, H - 64, W - MARGIN, H - 64], fill="#eeeeee", width=2)
    d.text((MARGIN, H - 36), f"zapvendas · ref {product.ref}", font=font(22), fill="#999", anchor="lm")
    return img


def card_key(product: Product, low_stock: bool) -> str:
    parts = (
        VERSION,
        product.product_id,
        product.price_cents,
        product.review_score,
        product.review_count,
        low_stock and product.stock,
        product.name,
        product.category,
        product.category_pt,
    )
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def render_card(product: Product, media_dir: str | Path, *, low_stock: bool | None = None) -> Path:
    """The card PNG for `product` (rendered once, then served from the cache). `low_stock`
    defaults to the catalogue rule (1..LOW_STOCK_THRESHOLD units)."""
    low = is_low_stock(product) if low_stock is None else low_stock
    out_dir = Path(media_dir) / "cards"
    path = out_dir / f"{product.product_id}-{card_key(product, low)}.png"
    if path.exists():
        return path
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    render(product, low).save(tmp, format="PNG", optimize=False)
    os.replace(tmp, path)  # atomic: a concurrent reader never sees half a file
    return path
