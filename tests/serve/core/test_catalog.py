"""Catalogue: loading/validation, accent- and typo-tolerant search, filters, sorts, complements."""

import pandas as pd
import pytest

from serve.core.catalog import Catalogue, CatalogueError, UnknownCategoryError, normalize, stem, tokens
from tests.serve.factories import FIXTURE_DIR


@pytest.fixture(scope="module")
def frames():
    return {n: pd.read_csv(FIXTURE_DIR / f"{n}.csv") for n in ("products", "reviews", "copurchase")}


@pytest.fixture(scope="module")
def cat(frames):
    return Catalogue(frames["products"], frames["reviews"], frames["copurchase"])


def names(products):
    return [p.name for p in products]


def test_normalize_and_stem_merge_accents_plurals_and_gender():
    assert normalize("Cama, Mesa & BANHO!") == "cama mesa banho"
    assert stem("lençóis".replace("ç", "c").replace("ó", "o")) == stem("lencol")
    assert stem("colchoes") == stem("colchao")
    assert stem("toalhas") == stem("toalha")
    assert stem("pequena") == stem("pequeno")
    assert tokens("quero uma toalha de banho") == [stem("toalha"), stem("banho")]


def test_load_from_parquet_dir_and_short_refs(tmp_path, frames):
    for name, df in frames.items():
        df.to_parquet(tmp_path / f"{name}.parquet")
    cat = Catalogue.load(tmp_path)
    assert len(cat) == 24
    p = cat.products[0]
    assert p.sales_rank == 1 and p.name == "Perfume Floral Feminino 100 ml"
    assert p.ref == p.product_id[:8] and cat.get(p.ref) == cat.get(p.product_id) == p
    assert cat.get("nao-existe") is None


def test_refs_grow_until_unique():
    rows = pd.read_csv(FIXTURE_DIR / "products.csv").head(2).copy()
    rows["product_id"] = ["abcdef0123aa", "abcdef0123bb"]
    cat = Catalogue(rows)
    assert sorted(p.ref for p in cat.products) == ["abcdef0123a", "abcdef0123b"]


def test_missing_column_names_file_and_column(tmp_path, frames):
    frames["products"].drop(columns=["price_cents"]).to_parquet(tmp_path / "products.parquet")
    with pytest.raises(CatalogueError, match=r"products\.parquet: missing column\(s\) price_cents"):
        Catalogue.load(tmp_path)
    with pytest.raises(CatalogueError, match="not found"):
        Catalogue.load(tmp_path / "nowhere")
    frames["products"].to_parquet(tmp_path / "products.parquet")
    frames["reviews"].rename(columns={"comment": "texto"}).to_parquet(tmp_path / "reviews.parquet")
    with pytest.raises(CatalogueError, match=r"reviews\.parquet: missing column\(s\) comment"):
        Catalogue.load(tmp_path)


def test_negative_price_is_refused(frames):
    bad = frames["products"].copy()
    bad.loc[0, "price_cents"] = -5
    with pytest.raises(CatalogueError, match="price_cents"):
        Catalogue(bad)


@pytest.mark.parametrize(
    "query, first",
    [
        ("fone bluetooth", "Fone de Ouvido Bluetooth"),
        ("Fones", "Fone de Ouvido Bluetooth"),
        ("lençóis", "Jogo de Lençol Casal 4 Peças Algodão"),
        ("lencois casal", "Jogo de Lençol Casal 4 Peças Algodão"),
        ("garafa termica cafe", "Garrafa Térmica Café 1 L"),  # typo
        ("relogio feminino", "Relógio Feminino Dourado"),
        ("watch", "Relógio Masculino Aço Prata"),  # English category name is indexed
        ("cadeira pra escritorio", "Cadeira de Escritório Giratória"),
    ],
)
def test_search_relevance(cat, query, first):
    assert names(cat.search(query, limit=3))[0] == first


def test_search_nothing_matches(cat):
    assert cat.search("xyzzy qwerty") == []


def test_search_filters_and_sorts(cat):
    cama = cat.search("", category="Cama mesa e banho", sort="price_asc", limit=10)
    assert [p.price_cents for p in cama] == [3490, 4590, 8990, 18990]
    assert cat.search("", category="cama_mesa_banho", sort="price_desc", limit=1)[0].price_cents == 18990
    cheap = cat.search("garrafa", max_price_cents=5000)
    assert names(cheap) == ["Garrafa Térmica Café 1 L"]
    relogios = cat.search("relogio", sort="best_selling")
    assert [p.sales_rank for p in relogios] == sorted(p.sales_rank for p in relogios)
    # rating: Bayesian mean, 16 reviews at 4.4 beat 8 at 4.6? (4.4*16+20)/21=4.30 < (4.6*8+20)/13=4.37
    assert names(cat.search("relogio", sort="rating")) == ["Relógio Feminino Dourado", "Relógio Masculino Aço Prata"]
    with pytest.raises(UnknownCategoryError, match="categoria não encontrada"):
        cat.search("x", category="naves espaciais")
    with pytest.raises(ValueError, match="sort"):
        cat.search("x", sort="cheapest")


def test_resolve_category_is_fuzzy(cat):
    assert cat.resolve_category("informatica") == "informatica_acessorios"
    assert cat.resolve_category("Beleza & Saúde") == "beleza_saude"
    assert cat.resolve_category("bed bath table") == "cama_mesa_banho"
    assert cat.resolve_category("relogios e presente") == "relogios_presentes"
    assert cat.resolve_category("moveis") == "moveis_decoracao"
    assert cat.resolve_category("foguetes") is None


def test_categories_best_selling_first(cat):
    cats = cat.categories()
    assert cats[0].slug == "informatica_acessorios" and cats[0].products == 4 and cats[0].sales == 330
    assert [c.sales for c in cats] == sorted((c.sales for c in cats), reverse=True)


def test_complements_copurchase_then_affinity_then_popular(cat):
    mouse = cat.search("mouse")[0]
    assert names(cat.complements(mouse.ref, limit=2)) == ["Teclado USB ABNT2", "Suporte para Notebook Alumínio"]
    lencol = cat.search("lencol")[0]
    assert names(cat.complements(lencol.ref, limit=2)) == [
        "Travesseiro Fibra Siliconada",
        "Toalha de Banho Felpuda Azul",
    ]
    relogio = cat.search("relogio masculino")[0]  # no co-purchase: own category, then overall best sellers
    comp = cat.complements(relogio.ref, limit=3)
    assert relogio not in comp and names(comp)[0] == "Relógio Feminino Dourado" and len(comp) == 3
    assert all(p.stock > 0 for p in comp)
    assert cat.complements("nao-existe") == []


def test_popular_skips_out_of_stock(cat):
    assert names(cat.popular("esporte", limit=5)) == [
        "Bola de Futebol Campo Oficial",
        "Garrafa Térmica Esportiva 750 ml",
    ]
    assert cat.popular(limit=1)[0].sales_rank == 1


def test_review_snippets_and_low_stock(cat):
    perfume = cat.search("perfume")[0]
    snippets = cat.review_snippets(perfume.ref)
    assert [(r.score, r.comment) for r in snippets] == [
        (5, "cheiro maravilhoso, dura o dia todo"),
        (4, "gostei, chegou antes do prazo"),
    ]
    assert [r.score for r in cat.review_snippets(perfume.ref, limit=5, min_score=1)] == [5, 4, 2]
    fone = cat.search("fone")[0]
    (long,) = cat.review_snippets(fone.ref, limit=1, max_chars=40)
    assert long.comment.endswith("…") and len(long.comment) <= 41
    assert cat.is_low_stock(fone)  # 5 units, threshold 5
    assert not cat.is_low_stock(perfume)  # 30 units
    assert not cat.is_low_stock(cat.search("tapete yoga")[0])  # 0 units: sold out, not "low"


def test_a_misspelt_word_stands_for_its_closest_spelling_only(frames):
    """ "barac" (baraca) is close to "barrac" and, less, to "branc": only the closest counts, or every
    white product would match the misspelt tent."""
    products = frames["products"].head(2).copy()
    products["name"] = ["Barraca de Camping 4 Pessoas", "Toalha Branca"]
    products["description"] = ["Barraca.", "Toalha."]
    cat = Catalogue(products)
    assert cat._expand("barac") == [("barrac", 0.8)]
    assert names(cat.search("baraca", sort="price_asc")) == ["Barraca de Camping 4 Pessoas"]


def test_a_price_order_ranks_the_products_that_have_the_most_of_the_words(cat):
    """ "cheapest relogio feminino": the women's watch, though a cheaper men's one has one of the words."""
    both = names(cat.search("relogio feminino", sort="price_asc"))
    assert both == ["Relógio Feminino Dourado"]
    assert len(cat.search("relogio", sort="price_asc")) == 2
