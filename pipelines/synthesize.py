"""Stage `synthesize`: seeded synthetic WhatsApp sales conversations (contract records) grounded in the catalogue.

Every tool result in a conversation is computed by the real shared logic (serve.core.catalog,
serve.core.cart_math, serve.core.tool_results) on an in-memory cart, so training data and the serving bot
see identical results; every price/total/stock/date the assistant states is copied from one.
Conversation i is generated from random.Random(f"{seed}:{i}") alone: same params → same bytes.

World and Dialogue: pipelines/synth_world.py; reusable steps: synth_steps.py; the ten scenarios:
synth_flows.py; phrase banks: phrases_pt.py / phrases_en.py (data only).
Ethics encoded in the flows: social proof only from real review data in a tool result, scarcity
only when the result says `low_stock`, no product push after the customer says no.

  python -m pipelines.synthesize --catalogue data/processed/catalogue --support data/processed/support \
      --out data/interim/conversations.jsonl --metrics metrics/synthesize.json
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml
from tqdm import tqdm

from pipelines.synth_flows import DEFAULT_WEIGHTS, FLOWS
from pipelines.synth_world import Dialogue, World
from serve.contract import Conversation, parse_brl_cents, write_jsonl
from serve.core.catalog import Catalogue

log = logging.getLogger("synthesize")
HISTORY_COLUMNS = (
    "customer_unique_id",
    "order_id",
    "product_id",
    "purchased_at",
    "order_status",
    "estimated_delivery",
    "delivered_at",
)
SUPPORT_COLUMNS = ("text", "intent", "language")  # + optional original_intent


def ungrounded_amounts(row: dict) -> list[tuple[int, int]]:
    """(message index, cents) of every R$ amount an assistant states that no earlier tool result holds."""
    known: set[int] = set()
    bad = []
    for i, m in enumerate(row["messages"]):
        if m["role"] == "tool":
            known.update(parse_brl_cents(m["content"]))
        elif m["role"] == "assistant" and m.get("content"):
            bad += [(i, c) for c in parse_brl_cents(m["content"]) if c not in known]
    return bad


def trim(msgs: list[dict], max_replies: int) -> list[dict]:
    """Cut before the (max_replies+1)-th customer message: at most max_replies assistant replies."""
    users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    return msgs[: users[max_replies]] if len(users) > max_replies else msgs


def generate(world: World, n: int, english_share: float, seed: int, weights: dict[str, float], max_replies: int = 5):
    """Yield n contract records; conversation i depends only on (seed, i) and the world."""
    names, w = list(weights), list(weights.values())
    for i in tqdm(range(n), desc="synthesize", unit="conv", mininterval=2):
        rng = random.Random(f"{seed}:{i}")
        lang = "en" if rng.random() < english_share else "pt"
        scenario = rng.choices(names, w)[0]
        d = Dialogue(world, rng, lang)
        FLOWS[scenario](d)
        ctx = d.context.model_dump() if d.context is not None else None
        yield {
            "id": f"c{i:06d}",
            "scenario": scenario,
            "language": lang,
            "context": ctx,
            "messages": trim(d.msgs, max_replies),
        }


def metrics(rows: list[dict], seconds: float) -> dict:
    c = {k: Counter() for k in ("scenario", "language", "technique", "intent", "tool")}
    turns, replies = [], []
    for r in rows:
        c["scenario"][r["scenario"]] += 1
        c["language"][r["language"]] += 1
        turns.append(sum(m["role"] == "assistant" for m in r["messages"]))
        replies.append(sum(m["role"] == "user" for m in r["messages"]))  # one reply per customer message
        for m in r["messages"]:
            for key in ("technique", "intent"):
                if m.get(key):
                    c[key][m[key]] += 1
            for call in m.get("tool_calls") or []:
                c["tool"][call["function"]["name"]] += 1
    n = max(len(rows), 1)
    return {
        "conversations": len(rows),
        "seconds": round(seconds, 2),
        "mean_assistant_replies": round(sum(replies) / n, 3),
        "max_assistant_replies": max(replies, default=0),
        "mean_assistant_messages": round(sum(turns) / n, 3),
        "max_assistant_messages": max(turns, default=0),
        **{k: dict(sorted(v.items())) for k, v in c.items()},
    }


def read_inputs(catalogue_dir: Path, support_dir: Path | None):
    catalogue = Catalogue.load(catalogue_dir)
    hist_path = catalogue_dir / "histories.parquet"
    histories = pd.read_parquet(hist_path) if hist_path.exists() else None
    if histories is not None and (missing := [c for c in HISTORY_COLUMNS if c not in histories.columns]):
        raise ValueError(f"{hist_path}: missing column(s) {', '.join(missing)}")
    support = None
    if support_dir is not None:
        path = support_dir / "examples.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path}: not found (run the support stage first)")
        support = pd.read_parquet(path)
        if missing := [c for c in SUPPORT_COLUMNS if c not in support.columns]:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
    return catalogue, histories, support


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalogue", type=Path, required=True)
    ap.add_argument("--support", type=Path, default=None, help="support stage dir (examples.parquet)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--n", type=int, default=None, help="override synthesize.n_conversations")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    p = yaml.safe_load(args.params.read_text())["synthesize"]
    weights = {**DEFAULT_WEIGHTS, **(p.get("scenario_weights") or {})}
    t0 = time.perf_counter()
    world = World(*read_inputs(args.catalogue, args.support), pool_size=int(p.get("pool_size", 1500)))
    rows = []
    n = args.n or int(p["n_conversations"])
    for row in generate(world, n, float(p["english_share"]), int(p["seed"]), weights, int(p.get("max_replies", 5))):
        Conversation.model_validate(row)  # every record passes the contract, or the stage fails here
        if bad := ungrounded_amounts(row):
            raise AssertionError(f"{row['id']}: assistant states amounts no tool returned: {bad}")
        rows.append(row)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out, rows)
    m = metrics(rows, time.perf_counter() - t0)
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(m, indent=2, ensure_ascii=False) + "\n")
    log.info("wrote %d conversations to %s in %.1f s", len(rows), args.out, m["seconds"])


if __name__ == "__main__":
    main()
