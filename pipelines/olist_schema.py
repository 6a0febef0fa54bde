"""The Olist Kaggle CSVs: file names, the columns each stage needs, and validated reading.

`read_table` reads one file with every column as text, checks that the required columns exist,
converts each to its kind and fails with a `SchemaError` that names the file, the column, how
many rows are bad and one example row. Columns a stage does not use are not read.

Kinds: id (non-empty text), str (non-empty text), text (free text), num (number >= 0),
int (integer >= 0), score (integer 1..5), time (timestamp); a trailing "?" allows empty cells.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

OLIST_FILES = {
    "customers": "olist_customers_dataset.csv",
    "order_items": "olist_order_items_dataset.csv",
    "order_payments": "olist_order_payments_dataset.csv",
    "order_reviews": "olist_order_reviews_dataset.csv",
    "orders": "olist_orders_dataset.csv",
    "products": "olist_products_dataset.csv",
    "sellers": "olist_sellers_dataset.csv",
    "category_translation": "product_category_name_translation.csv",
    "classified": "olist_classified_public_dataset.csv",  # older public file; not in the Kaggle download
}
OPTIONAL_FILES = ("classified",)
KAGGLE_HINT = "kaggle datasets download -d olistbr/brazilian-ecommerce"

SCHEMAS: dict[str, dict[str, str]] = {
    "products": {
        "product_id": "id",
        "product_category_name": "str?",
        "product_photos_qty": "int?",
        "product_weight_g": "num?",
        "product_length_cm": "num?",
        "product_height_cm": "num?",
        "product_width_cm": "num?",
    },
    "order_items": {
        "order_id": "id",
        "order_item_id": "int",
        "product_id": "id",
        "seller_id": "id",
        "price": "num",
        "freight_value": "num",
    },
    "orders": {
        "order_id": "id",
        "customer_id": "id",
        "order_status": "str",
        "order_purchase_timestamp": "time",
        "order_delivered_customer_date": "time?",
        "order_estimated_delivery_date": "time?",
    },
    "customers": {"customer_id": "id", "customer_unique_id": "id"},
    "order_reviews": {
        "review_id": "id",
        "order_id": "id",
        "review_score": "score",
        "review_comment_title": "text?",
        "review_comment_message": "text?",
        "review_creation_date": "time",
    },
    "category_translation": {"product_category_name": "id", "product_category_name_english": "id"},
    "classified": {
        "review_score": "score",
        "review_comment_message": "text?",
        "most_voted_class": "str?",
        "most_voted_subclass": "str?",
    },
}


class SchemaError(ValueError):
    """Bad input data; the message names the file and the column and shows one offending row."""


def _example(df: pd.DataFrame, raw: pd.Series, bad: pd.Series) -> str:
    pos = int(bad.to_numpy().argmax())
    first = df.columns[0]
    return f"e.g. data row {pos + 1} ({first}={df[first].iloc[pos]!r}): {raw.name}={raw.iloc[pos]!r}"


def convert_column(df: pd.DataFrame, col: str, kind: str, name: str) -> pd.Series:
    """Column `col` of `df` (all text) converted to `kind`; raises SchemaError naming `name` and `col`."""
    raw = df[col]
    nullable = kind.endswith("?")
    kind = kind.rstrip("?")
    text = raw.astype("string").str.strip()
    empty = text.isna() | (text == "")

    def fail(problem: str, bad: pd.Series) -> None:
        raise SchemaError(f"{name}: column '{col}' {problem} in {int(bad.sum())} row(s), {_example(df, raw, bad)}")

    if not nullable and kind != "text" and empty.any():
        fail("is empty", empty)
    if kind in ("id", "str", "text"):
        return text.astype(object).where(~empty, None)  # empty cells → None (not pd.NA)
    if kind == "time":
        value = pd.to_datetime(text.where(~empty), errors="coerce", format="ISO8601")
        if (value.isna() & ~empty).any():
            fail("is not a timestamp (YYYY-MM-DD hh:mm:ss)", value.isna() & ~empty)
        return value
    value = pd.to_numeric(text.where(~empty), errors="coerce")
    if (value.isna() & ~empty).any():
        fail("is not a number", value.isna() & ~empty)
    if kind in ("int", "score") and ((value % 1 != 0) & value.notna()).any():
        fail("is not an integer", (value % 1 != 0) & value.notna())
    low, high = (1, 5) if kind == "score" else (0, float("inf"))
    out_of_range = value.notna() & ((value < low) | (value > high))
    if out_of_range.any():
        fail(f"is out of range (allowed {low}..{high})" if kind == "score" else "is negative", out_of_range)
    return value.astype("Int64") if kind in ("int", "score") else value.astype(float)


def read_checked(path: Path, schema: dict[str, str]) -> pd.DataFrame:
    """The `schema` columns of CSV `path`, converted and validated (other columns are not read)."""
    # utf-8-sig: the translation file starts with a byte-order mark; everything is read as text
    df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", usecols=lambda c: c in schema)
    missing = [c for c in schema if c not in df.columns]
    if missing:
        header = pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns.tolist()
        raise SchemaError(
            f"{path.name}: missing column(s) {', '.join(map(repr, missing))} (found: {', '.join(header)})"
        )
    return pd.DataFrame({col: convert_column(df, col, kind, path.name) for col, kind in schema.items()})


def read_table(directory: str | Path, key: str, optional: bool = False) -> pd.DataFrame | None:
    """The validated columns of Olist table `key` from `directory`; None if absent and `optional`."""
    path = Path(directory) / OLIST_FILES[key]
    if not path.exists():
        if optional:
            return None
        raise SchemaError(f"{path}: file not found (the Olist Kaggle CSVs: `{KAGGLE_HINT}`)")
    return read_checked(path, SCHEMAS[key])
