"""ingest stage: row functions on literal rows, the full stage on the shipped fixture, partial
releases, and bad inputs that must name the file and the column."""

from __future__ import annotations

import csv
import json
import math
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from pipelines import ingest
from pipelines.ingest import main, pair_counts, scrub_comment, stock_level, to_cents
from pipelines.olist_fixture import ensure_fixture
from pipelines.olist_names import BANKS, CATEGORY_PT, category_pt, product_text
from pipelines.olist_schema import SchemaError

FIXTURE = ensure_fixture()  # the made-up Olist release (pipelines/olist_fixture.py), written once
PARAMS = "ingest:\n  min_item_sales: 1\n  stock_seed: 17\n  max_stock: 60\n  low_stock_threshold: 5\n"


def run(olist: Path, tmp_path: Path, params: str = PARAMS) -> tuple[dict, Path]:
    (tmp_path / "params.yaml").write_text(params)
    out = tmp_path / "catalogue"
    metrics = main(
        [
            "--olist",
            str(olist),
            "--out",
            str(out),
            "--metrics",
            str(tmp_path / "m.json"),
            "--params",
            str(tmp_path / "params.yaml"),
        ]
    )
    return metrics, out


def rows(name: str, directory: Path = FIXTURE) -> list[dict]:
    with open(directory / name, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


# --- row functions -------------------------------------------------------------------------
def test_to_cents_rounds_half_up_without_float_error():
    assert [to_cents(x) for x in (58.9, 0.85, 199.0, 19.995, 6735.0)] == [5890, 85, 19900, 2000, 673500]


def test_stock_is_deterministic_in_range_and_sometimes_low():
    ids = [f"{i:032x}" for i in range(2000)]
    levels = [stock_level(p, 17, 60) for p in ids]
    assert levels == [stock_level(p, 17, 60) for p in ids]
    assert min(levels) >= 0 and max(levels) <= 60
    low = sum(v <= 5 for v in levels) / len(levels)
    assert 0.05 < low < 0.15  # uniform 0..60: 6/61 ≈ 10% at or below the low-stock threshold
    assert levels != [stock_level(p, 18, 60) for p in ids]  # the seed matters


def test_scrub_comment_removes_pii_and_names_but_keeps_prices_and_text():
    counts = Counter()
    text = scrub_comment(
        "Não recebi",
        "Meu nome é Maria da Silva, CPF 529.982.247-25, fone (11) 98765-4321, maria.s@exemplo.com. "
        "Paguei R$ 89,90 no jogo de cama 200 fios.\r\nAtt. Carlos Eduardo",
        counts,
    )
    assert text == (
        "Não recebi. Meu nome é [nome], CPF [cpf], fone [telefone], [email]. "
        "Paguei R$ 89,90 no jogo de cama 200 fios.\nAtt. [nome]"
    )
    assert counts == Counter(name=2, cpf=1, phone=1, email=1)
    for keep in (
        "meu nome está incorreto no pedido",
        "já passou o Natal e nada",
        "meu nome e o endereço vieram certos",
    ):
        assert scrub_comment(None, keep) == keep
    assert scrub_comment(None, None) == ""


def test_product_text_is_deterministic_portuguese_and_uses_attributes():
    attrs = {"weight_g": 1250.0, "length_cm": 40.0, "height_cm": 15.0, "width_cm": 30.0, "photos_qty": 4.0}
    name, desc = product_text("3aa071139cb16b67ca9e5dea641aaa2f", "cama_mesa_banho", attrs)
    assert (name, desc) == product_text("3aa071139cb16b67ca9e5dea641aaa2f", "cama_mesa_banho", attrs)
    nouns = [n.split(":")[0] for n in BANKS["cama"].nouns.split("|")]
    assert any(name.startswith(n) for n in nouns)
    assert "40 × 30 × 15 cm" in desc and "1,25 kg" in desc and "4 fotos" in desc
    # other ids give other names; no English filler words anywhere
    names = {product_text(f"{i:032x}", "cama_mesa_banho", attrs)[0] for i in range(50)}
    assert len(names) > 40
    texts = " ".join(" ".join(product_text(f"{i:032x}", c, attrs)) for i in range(5) for c in CATEGORY_PT)
    assert not {"the", "with", "and", "for"} & set(texts.lower().split())


def test_product_text_agrees_in_gender_and_handles_missing_attributes():
    for i in range(300):  # feminine nouns take the feminine adjective ("Colcha Macia", never "Colcha Macio")
        name, _ = product_text(f"{i:032x}", "cama_mesa_banho", {})
        if name.startswith(("Colcha", "Manta", "Toalha", "Cortina")):
            assert not any(f" {m} " in f" {name} " for m in ("Macio", "Liso", "Estampado", "Bordado"))
    heavy, _ = product_text("ab" * 16, "moveis_sala", {"weight_g": 25_000.0})
    assert "Reforçad" in heavy  # >= 10 kg says so
    name, desc = product_text("cd" * 16, "categoria_nova", {"weight_g": float("nan")})
    assert name and "Embalagem" not in desc and "peso" not in desc  # unknown category: generic bank, no NaN text
    assert category_pt("cama_mesa_banho") == "cama, mesa e banho" and category_pt("nova_cat") == "nova cat"


def test_pair_counts_both_directions_and_other_orders_only():
    items = pd.DataFrame(
        {"order_id": ["o1", "o1", "o1", "o2", "o2", "o3"], "product_id": ["a", "b", "b", "a", "b", "c"]}
    )
    pairs = pair_counts(items, "order_id").set_index(["product_id", "other_product_id"])["count"].to_dict()
    assert pairs == {("a", "b"): 2, ("b", "a"): 2}
    hist = pd.DataFrame(
        {"customer_unique_id": ["u", "u", "u"], "order_id": ["o1", "o1", "o2"], "product_id": ["a", "b", "c"]}
    )
    pairs = pair_counts(hist, "customer_unique_id", distinct="order_id")
    assert set(zip(pairs["product_id"], pairs["other_product_id"])) == {("a", "c"), ("c", "a"), ("b", "c"), ("c", "b")}


# --- the stage on the fixture ----------------------------------------------------------------
def test_stage_on_fixture_writes_the_catalogue_contract(tmp_path):
    metrics, out = run(FIXTURE, tmp_path)
    products = pd.read_parquet(out / "products.parquet")
    assert list(products.columns) == list(ingest.PRODUCT_COLUMNS)
    items = rows("olist_order_items_dataset.csv")
    sold = Counter(r["product_id"] for r in items)
    assert set(products["product_id"]) == set(sold)  # every sold product, nothing else
    assert products["sales_rank"].tolist() == list(range(1, len(products) + 1))
    assert products["sales_count"].is_monotonic_decreasing
    for r in products.itertuples():
        prices = sorted(float(i["price"]) for i in items if i["product_id"] == r.product_id)
        assert r.price_cents == to_cents(pd.Series(prices).median()) and r.sales_count == len(prices)
        assert (r.review_count == 0) == math.isnan(r.review_score)
    assert products["price_cents"].dtype == "int64" and products["stock"].between(0, 60).all()
    assert products["name"].str.len().gt(5).all() and products["description"].str.endswith(".").all()
    assert {"outros", "pc_gamer"} <= set(products["category"])  # no category / no English name
    assert products.loc[products["category"] == "pc_gamer", "category_en"].eq("pc_gamer").all()

    reviews = pd.read_parquet(out / "reviews.parquet")
    assert set(reviews.columns) == {"product_id", "review_score", "comment", "created_at"}
    assert reviews["review_score"].between(1, 5).all()
    joined = " ".join(reviews["comment"])
    assert "[email]" in joined and "[telefone]" in joined and "[cpf]" in joined and "[nome]" in joined
    assert "@" not in joined and "Carla" not in joined and "99876" not in joined

    hist = pd.read_parquet(out / "histories.parquet")
    order_ids = {r["order_id"] for r in rows("olist_orders_dataset.csv")}
    assert set(hist["order_id"]) <= order_ids and hist["price_cents"].dtype == "int64"
    assert str(hist["purchased_at"].dtype).startswith("datetime64")

    cop = pd.read_parquet(out / "copurchase.parquet")
    pairs = set(zip(cop["product_id"], cop["other_product_id"]))
    assert pairs and all((b, a) in pairs for a, b in pairs)
    assert json.loads((tmp_path / "m.json").read_text()) == metrics


def test_partial_release_join_figures_match_a_count_by_hand(tmp_path):
    metrics, _ = run(FIXTURE, tmp_path)
    items, orders = rows("olist_order_items_dataset.csv"), rows("olist_orders_dataset.csv")
    reviews = rows("olist_order_reviews_dataset.csv")
    order_ids = {o["order_id"] for o in orders}
    item_orders = {i["order_id"] for i in items}
    assert metrics["items_with_order_share"] == round(sum(i["order_id"] in order_ids for i in items) / len(items), 4)
    assert metrics["item_orders_with_review_share"] == round(
        len(item_orders & {r["order_id"] for r in reviews}) / len(item_orders), 4
    )
    assert metrics["reviews_joined_share"] == round(
        sum(r["order_id"] in item_orders for r in reviews) / len(reviews), 4
    )
    # the fixture is partial on purpose: some but not all items/orders join
    assert 0 < metrics["items_with_order_share"] < 1 and 0 < metrics["item_orders_with_review_share"] < 1
    assert metrics["history_rows"] == sum(i["order_id"] in order_ids for i in items)  # customers file is complete
    assert metrics["orders_in_file"] == len(orders) and metrics["reviews_in_file"] == len(reviews)


def test_release_without_orders_and_reviews_still_builds(tmp_path):
    olist = tmp_path / "olist"
    shutil.copytree(FIXTURE, olist)
    (olist / "olist_orders_dataset.csv").unlink()
    (olist / "olist_order_reviews_dataset.csv").unlink()
    metrics, out = run(olist, tmp_path)
    assert metrics["products"] == len({r["product_id"] for r in rows("olist_order_items_dataset.csv")})
    assert metrics["items_with_order_share"] == 0 and metrics["history_rows"] == 0
    assert pd.read_parquet(out / "products.parquet")["review_count"].eq(0).all()


def test_min_item_sales_filters_products(tmp_path):
    metrics, out = run(FIXTURE, tmp_path, PARAMS.replace("min_item_sales: 1", "min_item_sales: 2"))
    sold = Counter(r["product_id"] for r in rows("olist_order_items_dataset.csv"))
    assert metrics["products"] == sum(n >= 2 for n in sold.values())


# --- bad inputs ------------------------------------------------------------------------------
def corrupt(tmp_path: Path, name: str, edit) -> Path:
    olist = tmp_path / "olist"
    shutil.copytree(FIXTURE, olist)
    df = pd.read_csv(olist / name, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    edit(df)
    df.to_csv(olist / name, index=False)
    return olist


@pytest.mark.parametrize(
    ("name", "edit", "expected"),
    [
        (
            "olist_order_items_dataset.csv",
            lambda d: d.loc.__setitem__((3, "price"), "-12.5"),
            ["olist_order_items_dataset.csv", "'price'", "negative", "data row 4", "'-12.5'"],
        ),
        (
            "olist_order_reviews_dataset.csv",
            lambda d: d.loc.__setitem__((1, "review_score"), "6"),
            ["olist_order_reviews_dataset.csv", "'review_score'", "1..5", "'6'"],
        ),
        (
            "olist_products_dataset.csv",
            lambda d: d.drop(columns=["product_weight_g"], inplace=True),
            ["olist_products_dataset.csv", "missing column", "'product_weight_g'"],
        ),
        (
            "olist_order_items_dataset.csv",
            lambda d: d.loc.__setitem__((0, "product_id"), ""),
            ["olist_order_items_dataset.csv", "'product_id'", "empty"],
        ),
        (
            "olist_orders_dataset.csv",
            lambda d: d.loc.__setitem__((2, "order_purchase_timestamp"), "ontem"),
            ["olist_orders_dataset.csv", "'order_purchase_timestamp'", "timestamp", "'ontem'"],
        ),
    ],
    ids=["negative_price", "review_score_6", "missing_column", "empty_id", "bad_timestamp"],
)
def test_bad_input_names_file_and_column(tmp_path, name, edit, expected):
    olist = corrupt(tmp_path, name, edit)
    with pytest.raises(SchemaError) as err:
        run(olist, tmp_path)
    for part in expected:
        assert part in str(err.value), (part, str(err.value))
