"""support stage: Bitext (en) + Olist classified complaint reviews (pt) → support/ intents and examples.

    python -m pipelines.support --bitext .../bitext_customer_support.csv \
        --complaints data/raw/olist/olist_classified_public_dataset.csv \
        --out data/processed/support --metrics metrics/support.json

Source labels are mapped onto the contract's intent vocabulary (`serve.contract.records.INTENTS`)
where the meaning matches; the rest (account, invoice, newsletter, address, ...) has no
counterpart in a sales chat and is counted in the metrics but not kept. The source label stays
in `original_intent`. The complaints file is optional: the Kaggle download does not include it.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import yaml

from pipelines.ingest import scrub_comment
from pipelines.olist_schema import SCHEMAS, read_checked
from serve.contract.records import INTENTS

log = logging.getLogger("support")
BITEXT_SCHEMA = {"instruction": "str", "intent": "id", "category": "str", "response": "text?"}
COLUMNS = ["text", "intent", "language", "source", "response", "original_intent"]

BITEXT_INTENTS = {
    "track_order": "order_status",
    "track_refund": "order_status",
    "cancel_order": "complaint",
    "complaint": "complaint",
    "get_refund": "complaint",
    "contact_human_agent": "human_request",
    "contact_customer_service": "human_request",
    "place_order": "checkout",
    "check_payment_methods": "payment_question",
    "payment_issue": "payment_question",
    "delivery_options": "objection_shipping",
    "delivery_period": "objection_shipping",
    "delete_account": "lgpd",  # "delete my data": the LGPD right to erasure
}
# most_voted_subclass → intent: praise reads as a thank-you in a chat; every problem is a complaint
COMPLAINT_INTENTS = {
    "satisfeito": "thanks_goodbye",
    "antes_prazo": "thanks_goodbye",
    "atrasado": "complaint",
    "entrega_parcial": "complaint",
    "outro_entrega": "complaint",
    "baixa_qualidade": "complaint",
    "diferente_do_anunciado": "complaint",
    "devolucao": "complaint",
    "outro_pedido": "complaint",
}
INTENT_INFO = {  # intent → (description, category)
    "order_status": ("Where is my order / my refund, when does it arrive", "post_sale"),
    "complaint": ("A problem with an order (late, partial, wrong, faulty) or a cancel/refund request", "post_sale"),
    "human_request": ("Wants to talk to a person", "service"),
    "checkout": ("Wants to place or finish an order", "sales"),
    "payment_question": ("Payment methods or a payment problem", "sales"),
    "objection_shipping": ("Delivery options, times or cost", "sales"),
    "lgpd": ("Wants their account or personal data deleted", "privacy"),
    "thanks_goodbye": ("Praise, thanks or goodbye", "conversation"),
}
assert set(BITEXT_INTENTS.values()) | set(COMPLAINT_INTENTS.values()) <= set(INTENT_INFO) <= set(INTENTS)


def bitext_example(instruction: str, intent: str, response: str | None) -> dict | None:
    """One Bitext row as an example, or None when its intent has no contract counterpart."""
    mapped = BITEXT_INTENTS.get(intent)
    if mapped is None:
        return None
    text = scrub_comment(None, instruction)
    return {
        "text": text,
        "intent": mapped,
        "language": "en",
        "source": "bitext",
        "response": (response or "").replace("\r\n", "\n").strip(),
        "original_intent": intent,
    }


def complaint_example(message: str | None, klass: str | None, subclass: str | None) -> dict | None:
    """One classified Olist review as a pt example, or None without text or label."""
    text = scrub_comment(None, message)
    mapped = COMPLAINT_INTENTS.get(subclass or "")
    if not text or mapped is None:
        return None
    return {
        "text": text,
        "intent": mapped,
        "language": "pt",
        "source": "olist_complaints",
        "response": "",
        "original_intent": f"{klass}/{subclass}",
    }


def cap(examples: pd.DataFrame, per_group: int, seed: int) -> pd.DataFrame:
    """At most `per_group` examples per (intent, source), a seeded sample, so pt examples are not
    crowded out of an intent by the larger English set."""
    parts = [g.sample(n=min(len(g), per_group), random_state=seed) for _, g in examples.groupby(["intent", "source"])]
    out = pd.concat(parts) if parts else examples
    return out.sort_values(["intent", "source", "text"], ignore_index=True)


def build(bitext: Path, complaints: Path, params: dict) -> tuple[pd.DataFrame, dict, dict]:
    raw = read_checked(bitext, BITEXT_SCHEMA)
    rows = [bitext_example(t, i, r) for t, i, r in zip(raw["instruction"], raw["intent"], raw["response"])]
    unmapped = Counter(i for i, r in zip(raw["intent"], rows) if r is None)
    input_rows = {"bitext": len(raw)}
    if complaints.exists():
        comp = read_checked(complaints, SCHEMAS["classified"])
        got = [
            complaint_example(m, c, s)
            for m, c, s in zip(comp["review_comment_message"], comp["most_voted_class"], comp["most_voted_subclass"])
        ]
        unmapped["olist_complaints:unlabelled_or_empty"] = sum(r is None for r in got)
        rows += got
        input_rows["olist_complaints"] = len(comp)
    else:
        log.warning("%s not found: support examples are English only (Bitext)", complaints)
    examples = pd.DataFrame([r for r in rows if r is not None], columns=COLUMNS)
    examples = examples.drop_duplicates(["text", "intent"])
    examples = cap(examples, params["max_examples_per_intent"], params["seed"])

    counts = examples.groupby("intent").size()
    intents = {
        intent: {
            "description": INTENT_INFO[intent][0],
            "count": int(counts[intent]),
            "category": INTENT_INFO[intent][1],
            "sources": examples[examples["intent"] == intent].groupby("source").size().astype(int).to_dict(),
        }
        for intent in counts.index
    }
    metrics = {
        "examples": len(examples),
        "input_rows": input_rows,
        "by_intent": {k: int(v) for k, v in counts.items()},
        "by_source": {k: int(v) for k, v in examples.groupby("source").size().items()},
        "by_language": {k: int(v) for k, v in examples.groupby("language").size().items()},
        "by_intent_source": {f"{i}/{s}": int(v) for (i, s), v in examples.groupby(["intent", "source"]).size().items()},
        "dropped_unmapped": dict(sorted(unmapped.items())),
    }
    return examples, intents, metrics


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bitext", type=Path, required=True, help="Bitext customer-support CSV")
    ap.add_argument(
        "--complaints", type=Path, required=True, help="olist_classified_public_dataset.csv (optional file)"
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--metrics", type=Path, required=True)
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    params = yaml.safe_load(args.params.read_text())["support"]
    start = time.perf_counter()
    examples, intents, metrics = build(args.bitext, args.complaints, params)
    args.out.mkdir(parents=True, exist_ok=True)
    examples.to_parquet(args.out / "examples.parquet", index=False)
    (args.out / "intents.json").write_text(json.dumps(intents, indent=2, ensure_ascii=False) + "\n")
    metrics["seconds"] = round(time.perf_counter() - start, 2)
    args.metrics.parent.mkdir(parents=True, exist_ok=True)
    args.metrics.write_text(json.dumps(metrics, indent=2, ensure_ascii=False) + "\n")
    log.info(
        "wrote %d examples (%s) to %s in %.1f s", len(examples), metrics["by_source"], args.out, metrics["seconds"]
    )
    return metrics


if __name__ == "__main__":
    main()
