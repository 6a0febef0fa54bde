"""ingest stage: Olist Kaggle CSVs → catalogue/ (products, histories, copurchase, reviews parquet).

    python -m pipelines.ingest --olist data/raw/olist --out data/processed/catalogue --metrics metrics/ingest.json

Partial releases are expected (the shared copy has 14% of the orders and 6% of the reviews):
products, prices and sales come from order_items (complete); histories need orders + customers;
review figures need reviews, joined to items by order_id. Every join rate goes to the metrics.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import re
import time
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import yaml

from pipelines.olist_names import CATEGORY_EN_EXTRA, UNKNOWN_CATEGORY, category_pt, product_text
from pipelines.olist_schema import read_table
from pipelines.pii import scrub_pii
from serve.core.catalog import PRODUCT_COLUMNS as CATALOGUE_COLUMNS

log = logging.getLogger("ingest")
# What the bot's catalogue reads (serve/core/catalog.py), then the physical attributes it keeps too.
PRODUCT_COLUMNS = (*CATALOGUE_COLUMNS, "weight_g", "length_cm", "height_cm", "width_cm", "photos_qty")
ATTRS = {
    "product_weight_g": "weight_g",
    "product_length_cm": "length_cm",
    "product_height_cm": "height_cm",
    "product_width_cm": "width_cm",
    "product_photos_qty": "photos_qty",
}
# Names: after "meu nome é"/"me chamo" (any case, up to 3 words that are not common words, so
# "meu nome está incorreto" and "meu nome e o endereço" stay), or capitalised after "sou o/a",
# "aqui é o/a" or a sign-off ("Att.", "Atenciosamente,"). The trigger words are kept.
_NOT = r"(?!(?:o|a|os|as|um|uma|e|é|de|do|da|no|na|em|com|para|pra|que|não|nao|meu|minha|está|esta|era|foi|"
_NOT += r"sou|moro|comprei|fiz|pedi|recebi|quero|gostaria|tenho|incorreto|errado|cpf|pedido)\b)"
_CAP = r"[A-ZÀ-Ý][a-zà-ÿ]+"
NAME_PATTERNS = (
    re.compile(rf"(?i)(\b(?:meu nome [ée]|me chamo)\s+){_NOT}[a-zà-ÿ]+(?:\s+(?:d[aeo]s?\s+)?{_NOT}[a-zà-ÿ]+){{0,3}}"),
    re.compile(
        rf"(\b(?i:sou|aqui [ée]) [oa]\s+|\b(?i:att|atenciosamente)[.,:]?\s+)(?!Natal\b){_CAP}"
        rf"(?:\s+(?:d[aeo]s?\s+)?{_CAP}){{0,3}}"
    ),
)


def scrub_comment(title: str | None, message: str | None, counts: Counter | None = None) -> str:
    """Review title + message as one pt text, with e-mails, phones, CPF, CEP and names replaced."""
    parts = [t.strip().replace("\r\n", "\n") for t in (title, message) if isinstance(t, str) and t.strip()]
    # title and message as one text: "Ótimo" + "Recomendo" → "Ótimo. Recomendo"
    text = " ".join(t if t[-1] in ".!?" or i == len(parts) - 1 else t + "." for i, t in enumerate(parts))
    text = scrub_pii(text, counts) or ""
    for pattern in NAME_PATTERNS:
        text, n = pattern.subn(lambda m: m.group(1) + "[nome]", text)
        if counts is not None and n:
            counts["name"] += n
    return text


def to_cents(reais: float) -> int:
    """58.9 → 5890; half a cent rounds up (a median of two prices can land on it: 19.995 → 2000).

    Decimal of the shortest repr, because 19.995 * 100 is 1999.4999999999998 in binary floats."""
    return int(Decimal(repr(float(reais))).scaleb(2).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def stock_level(product_id: str, seed: int, max_stock: int) -> int:
    """Deterministic units in stock, uniform in 0..max_stock (a seeded hash of the id, not random state)."""
    digest = hashlib.blake2b(f"{seed}:{product_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (max_stock + 1)


def pair_counts(rows: pd.DataFrame, key: str, distinct: str | None = None) -> pd.DataFrame:
    """product_id, other_product_id, count: number of `key` groups holding both products (both directions).

    With `distinct`, the two products must come from different `distinct` values (other orders)."""
    cols = [key, "product_id"] + ([distinct] if distinct else [])
    rows = rows[cols].drop_duplicates()
    pairs = rows.merge(rows, on=key, suffixes=("", "_other"))
    keep = pairs["product_id"] != pairs["product_id_other"]
    if distinct:
        keep &= pairs[distinct] != pairs[f"{distinct}_other"]
    pairs = pairs[keep].drop_duplicates([key, "product_id", "product_id_other"])
    out = pairs.groupby(["product_id", "product_id_other"]).size().rename("count").reset_index()
    return out.rename(columns={"product_id_other": "other_product_id"})


def share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def build(olist: Path, params: dict) -> tuple[dict[str, pd.DataFrame], dict]:
    """All four catalogue tables and the metrics from the Olist CSVs in `olist`."""
    items = read_table(olist, "order_items")
    products = read_table(olist, "products")
    translation = read_table(olist, "category_translation")
    orders, customers, reviews = (read_table(olist, k, optional=True) for k in ("orders", "customers", "order_reviews"))
    for key, table in (("orders", orders), ("customers", customers), ("order_reviews", reviews)):
        if table is None:
            log.warning("%s is missing: the catalogue is built without it", key)
    orders = orders if orders is not None else pd.DataFrame(columns=["order_id", "customer_id"])
    customers = customers if customers is not None else pd.DataFrame(columns=["customer_id", "customer_unique_id"])
    reviews = reviews if reviews is not None else pd.DataFrame(columns=["review_id", "order_id", "review_score"])
    # a review_id may cover several orders (Olist quirk): one row per (review, order)
    reviews = reviews.drop_duplicates(["review_id", "order_id"])

    # review ↔ product through the order's items (one review counts once for each product in it)
    order_products = items[["order_id", "product_id"]].drop_duplicates()
    reviewed = reviews.merge(order_products, on="order_id")
    per_review = reviewed.groupby("product_id")["review_score"].agg(review_count="size", review_score="mean")
    sales = items.groupby("product_id").agg(
        sales_count=("price", "size"), price=("price", "median"), freight=("freight_value", "median")
    )
    cat = products.set_index("product_id")
    unknown_ids = ~sales.index.isin(cat.index)
    sales = sales[~unknown_ids & (sales["sales_count"] >= params["min_item_sales"])]
    catalogue = sales.join(cat, how="inner").join(per_review).reset_index()
    catalogue["category"] = catalogue["product_category_name"].fillna(UNKNOWN_CATEGORY)
    english = dict(zip(translation["product_category_name"], translation["product_category_name_english"]))
    english.update({k: v for k, v in CATEGORY_EN_EXTRA.items() if k not in english})
    catalogue["category_pt"] = catalogue["category"].map(category_pt)
    catalogue["category_en"] = catalogue["category"].map(lambda c: english.get(c, c))
    catalogue["price_cents"] = catalogue["price"].map(to_cents)
    catalogue["freight_cents"] = catalogue["freight"].map(to_cents)
    catalogue["review_count"] = catalogue["review_count"].fillna(0).astype(int)
    catalogue["review_score"] = catalogue["review_score"].astype(float)
    catalogue["stock"] = catalogue["product_id"].map(
        lambda p: stock_level(p, params["stock_seed"], params["max_stock"])
    )
    catalogue = catalogue.sort_values(["sales_count", "review_count", "product_id"], ascending=[False, False, True])
    catalogue["sales_rank"] = range(1, len(catalogue) + 1)
    catalogue = catalogue.rename(columns=ATTRS)
    attrs = catalogue[list(ATTRS.values())].astype(float).to_dict("records")
    texts = [product_text(p, c, a) for p, c, a in zip(catalogue["product_id"], catalogue["category"], attrs)]
    catalogue["name"] = [name for name, _ in texts]
    catalogue["description"] = [text for _, text in texts]
    catalogue = catalogue[list(PRODUCT_COLUMNS)].reset_index(drop=True)

    # histories: items whose order (and that order's customer) is in this release
    hist = items.merge(orders, on="order_id").merge(customers, on="customer_id")
    histories = pd.DataFrame(
        {
            "customer_unique_id": hist["customer_unique_id"],
            "order_id": hist["order_id"],
            "product_id": hist["product_id"],
            "purchased_at": hist.get("order_purchase_timestamp"),
            "price_cents": hist["price"].map(to_cents).astype(int),
            "order_status": hist.get("order_status"),
            "estimated_delivery": hist.get("order_estimated_delivery_date"),
            "delivered_at": hist.get("order_delivered_customer_date"),
        }
    ).sort_values(["customer_unique_id", "purchased_at", "order_id"], ignore_index=True)

    in_catalogue = set(catalogue["product_id"])
    copurchase = pd.concat(
        [pair_counts(order_products, "order_id"), pair_counts(histories, "customer_unique_id", distinct="order_id")]
    )
    copurchase = copurchase.groupby(["product_id", "other_product_id"], as_index=False)["count"].sum()
    copurchase = copurchase[
        copurchase["product_id"].isin(in_catalogue) & copurchase["other_product_id"].isin(in_catalogue)
    ]

    pii = Counter()
    review_rows = pd.DataFrame(
        {
            "product_id": reviewed["product_id"],
            "review_score": reviewed["review_score"].astype(int),
            "comment": [
                scrub_comment(t, m, pii)
                for t, m in zip(reviewed.get("review_comment_title", []), reviewed.get("review_comment_message", []))
            ],
            "created_at": reviewed.get("review_creation_date"),
        }
    )
    review_rows = review_rows[review_rows["product_id"].isin(in_catalogue)].reset_index(drop=True)

    item_orders = order_products["order_id"].drop_duplicates()
    metrics = {
        "products": len(catalogue),
        "categories": int(catalogue["category"].nunique()),
        "items": len(items),
        "item_products_not_in_products_file": int(unknown_ids.sum()),
        "orders_in_file": len(orders),
        "orders_in_items": len(item_orders),
        "items_with_order_share": share(int(items["order_id"].isin(orders["order_id"]).sum()), len(items)),
        "orders_with_customer_share": share(
            int(orders["customer_id"].isin(customers["customer_id"]).sum()), len(orders)
        ),
        "reviews_in_file": len(reviews),
        "reviews_joined_share": share(int(reviews["order_id"].isin(item_orders).sum()), len(reviews)),
        "item_orders_with_review_share": share(int(item_orders.isin(reviews["order_id"]).sum()), len(item_orders)),
        "products_with_reviews_share": share(int((catalogue["review_count"] > 0).sum()), len(catalogue)),
        "review_rows": len(review_rows),
        "review_rows_with_comment": int((review_rows["comment"] != "").sum()),
        "pii_replaced": dict(sorted(pii.items())),
        "history_rows": len(histories),
        "history_customers": int(histories["customer_unique_id"].nunique()),
        "copurchase_pairs": len(copurchase) // 2,
        "low_stock_products": int((catalogue["stock"] <= params["low_stock_threshold"]).sum()),
        "median_price_cents": int(catalogue["price_cents"].median()) if len(catalogue) else 0,
    }
    tables = {
        "products": catalogue,
        "histories": histories,
        "copurchase": copurchase.reset_index(drop=True),
        "reviews": review_rows,
    }
    return tables, metrics


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--olist", type=Path, required=True, help="directory with the Olist Kaggle CSVs")
    ap.add_argument("--out", type=Path, required=True, help="catalogue directory to write")
    ap.add_argument("--metrics", type=Path, required=True)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    params = yaml.safe_load(args.params.read_text())["ingest"]
    start = time.perf_counter()
    log.info("reading Olist CSVs from %s", args.olist)
    tables, metrics = build(args.olist, params)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, df in tables.items():
        df.to_parquet(args.out / f"{name}.parquet", index=False)
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    log.info("joins: %s", {k: v for k, v in metrics.items() if k.endswith("share")})
    log.info(
        "wrote %d products, %d history rows, %d co-purchase pairs, %d reviews to %s in %.1f s",
        metrics["products"],
        metrics["history_rows"],
        metrics["copurchase_pairs"],
        metrics["review_rows"],
        args.out,
        metrics["seconds"],
    )
    return metrics


if __name__ == "__main__":
    main()
