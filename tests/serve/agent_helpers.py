"""Shared helpers for the agent-side tests (customers, tools, recommend, agent, app).

The catalogue is the shipped CSV fixture (tests/assets/catalogue_fixture, 24 real-looking Olist
products); the database is a real SQLite file (WAL) per test, schema from serve.storage.tables.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from serve.core.catalog import Catalogue

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "assets" / "catalogue_fixture"
PHONE = "5511987654321"
HASH_KEY = "test-phone-hash-key"


def fixture_frames() -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_csv(FIXTURE_DIR / f"{name}.csv", dtype={"product_id": str, "other_product_id": str})
        for name in ("products", "reviews", "copurchase", "histories")
    }


def fixture_catalogue() -> Catalogue:
    f = fixture_frames()
    return Catalogue(f["products"], reviews=f["reviews"], copurchase=f["copurchase"], source=str(FIXTURE_DIR))


def write_catalogue_dir(dest: Path) -> Path:
    """The fixture as the parquet directory the ingest stage writes (what Settings.CATALOGUE_DIR points at)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, df in fixture_frames().items():
        if name == "histories":
            for col in ("purchased_at", "estimated_delivery", "delivered_at"):
                df[col] = pd.to_datetime(df[col])
        df.to_parquet(dest / f"{name}.parquet", index=False)
    return dest


def sqlite_factory(tmp_path: Path):
    from serve.storage.db import create_schema, make_engine, make_session_factory

    engine = make_engine(f"sqlite:///{tmp_path / 'bot.db'}")
    create_schema(engine)
    return engine, make_session_factory(engine)
