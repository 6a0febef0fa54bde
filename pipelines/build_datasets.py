"""Stage build_datasets: conversation records → SFT, preference and labelled-record splits + stats.

    python -m pipelines.build_datasets --conversations data/interim/conversations.jsonl \
        --out data/processed/datasets --metrics metrics/datasets.json

1. read + validate every record (`Conversation`), errors name the file and line;
2. PII scrub of free text (user/assistant content, tool results, free-text tool arguments);
3. split BY CONVERSATION with no (search query, product) pair in two splits: each conversation
   gets the keys {(q, p)} for every normalised query q (search text, or the category asked for in
   `recommend`) × every product id p it names in a tool call ("*" when it names none; no query,
   no key: there is no pair to leak); conversations sharing a key are joined
   (union-find), and whole groups are dealt to test/validation/train in a seeded order;
4. write sft/, preference/, records/ (one JSONL per split) and stats.json, plus DVC metrics.

Preference pairs: for each conversation and kind, one assistant turn is drawn among the eligible
ones; `chosen` is the real turn and `rejected` a corrupted copy (row functions in
`pipelines/preference.py`); kinds are then balanced per split (the rarest kind sets the count).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path

import yaml
from pydantic import ValidationError
from tqdm import tqdm

from pipelines.pii import scrub_pii
from pipelines.preference import DEFAULT_BANK, balance, preference_candidates
from serve.contract import Conversation, chat_messages, write_jsonl

SPLITS = ("train", "validation", "test")
ID_KEY_LEN = 8  # product ids may be written in full (32 hex) or as a unique prefix ("ref", >= 8)
FREE_TEXT_ARGS = ("query", "reason")  # tool arguments the model writes as free text


def load_conversations(path: str | Path) -> list[dict]:
    """Every record of a JSONL file, validated; a bad line raises ValueError naming file:line."""
    records, seen = [], {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                conv = Conversation.model_validate(row)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            except ValidationError as exc:
                err = exc.errors()[0]
                where = ".".join(map(str, err["loc"])) or "record"
                rid = row.get("id") if isinstance(row, dict) else None
                raise ValueError(
                    f"{path}:{lineno}: invalid conversation record (id={rid!r}): {where}: {err['msg']}"
                ) from None
            if conv.id in seen:
                raise ValueError(f"{path}:{lineno}: duplicate id {conv.id!r} (first on line {seen[conv.id]})")
            seen[conv.id] = lineno
            records.append({**conv.model_dump(mode="json", exclude_none=True), "context": row.get("context")})
    if not records:
        raise ValueError(f"{path}: no conversation records")
    return records


def scrub_record(record: dict, counts: Counter | None = None) -> dict:
    """A copy of `record` with PII replaced in every free-text field (re-validated)."""
    messages = []
    for msg in record["messages"]:
        msg = {**msg, "content": scrub_pii(msg.get("content"), counts)}
        if msg["content"] is None:
            del msg["content"]
        if msg.get("tool_calls"):
            calls = []
            for call in msg["tool_calls"]:
                args = json.loads(call["function"]["arguments"] or "{}")
                clean = {
                    k: scrub_pii(v, counts) if k in FREE_TEXT_ARGS and isinstance(v, str) else v
                    for k, v in args.items()
                }
                if clean != args:  # re-serialise only when changed: keeps the record byte-identical
                    call = {
                        **call,
                        "function": {**call["function"], "arguments": json.dumps(clean, ensure_ascii=False)},
                    }
                calls.append(call)
            msg["tool_calls"] = calls
        messages.append(msg)
    out = {**record, "messages": messages}
    Conversation.model_validate(out)
    return out


# ---------------------------------------------------------------- split without leakage


def normalize_query(text: str) -> str:
    """Accent-free, lowercase, sorted unique words: 'Toalha  de BANHO' == 'banho toalha de'."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return " ".join(sorted(set(re.findall(r"[a-z0-9]+", text))))


def tool_calls(record: dict):
    """(name, args dict) of every tool call in the record."""
    for msg in record["messages"]:
        for call in msg.get("tool_calls") or []:
            yield call["function"]["name"], json.loads(call["function"]["arguments"] or "{}")


def leakage_keys(record: dict) -> set[tuple[str, str]]:
    """The (query, product) pairs a conversation is about; empty for talk without product or search."""
    queries, products = set(), set()
    for name, args in tool_calls(record):
        if name == "search_products":
            queries.add(normalize_query(args["query"]))
        elif name == "recommend" and args.get("category"):  # the customer's words for what they want
            queries.add(normalize_query(args["category"]))
        if args.get("product_id"):
            products.add(str(args["product_id"]).lower()[:ID_KEY_LEN])
    if not queries:
        # No query, no product-query pair: browsing best sellers shares products with most
        # conversations, and keying it on products alone would chain them into one giant group.
        return set()
    return {(q, p) for q in queries for p in products or {"*"}}


def assign_splits(records: list[dict], validation_share: float, test_share: float, seed: int):
    """Map record id → split, whole leakage groups at a time; returns (assignment, group stats)."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[tuple[str, str], int] = {}
    for i, rec in enumerate(records):
        for key in sorted(leakage_keys(rec)):
            if key in owner:
                parent[find(i)] = find(owner[key])
            else:
                owner[key] = i
    groups: dict[int, list[str]] = defaultdict(list)
    for i, rec in enumerate(records):
        groups[find(i)].append(rec["id"])
    ordered = sorted(groups.values(), key=min)
    random.Random(seed).shuffle(ordered)
    n = len(records)
    room = {"test": round(test_share * n), "validation": round(validation_share * n)}
    assignment = {}
    for group in ordered:  # deal small groups to test/validation until full; the rest (and any giant group) trains
        split = next((s for s in ("test", "validation") if len(group) <= room[s]), "train")
        if split != "train":
            room[split] -= len(group)
        assignment.update((rid, split) for rid in group)
    sizes = sorted((len(g) for g in ordered), reverse=True)
    return assignment, {
        "groups": len(sizes),
        "largest_group": sizes[0],
        "keyed_conversations": sum(1 for r in records if leakage_keys(r)),
    }


# ---------------------------------------------------------------- stage


def conversation_stats(records: list[dict]) -> dict:
    n = len(records) or 1
    msgs = [m for r in records for m in r["messages"]]
    return {
        "conversations": len(records),
        "scenario": dict(sorted(Counter(r["scenario"] for r in records).items())),
        "language": dict(sorted(Counter(r["language"] for r in records).items())),
        "mean_messages": round(len(msgs) / n, 2),
        "mean_user_turns": round(sum(m["role"] == "user" for m in msgs) / n, 2),
        "mean_tool_calls": round(sum(len(m.get("tool_calls") or []) for m in msgs) / n, 2),
        "mean_user_chars": round(
            sum(len(m["content"]) for m in msgs if m["role"] == "user")
            / max(1, sum(m["role"] == "user" for m in msgs)),
            1,
        ),
        "tools": dict(sorted(Counter(name for r in records for name, _ in tool_calls(r)).items())),
        "intents": dict(sorted(Counter(m["intent"] for m in msgs if m.get("intent")).items())),
        "techniques": dict(sorted(Counter(m["technique"] for m in msgs if m.get("technique")).items())),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--conversations", required=True, help="contract records JSONL (synthesize output)")
    ap.add_argument("--out", required=True, help="datasets directory to write")
    ap.add_argument("--metrics", required=True, help="DVC metrics JSON to write")
    ap.add_argument("--bank", default=str(DEFAULT_BANK), help="text banks for rejected replies (YAML)")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    params = yaml.safe_load(Path(args.params).read_text(encoding="utf-8"))["build_datasets"]
    bank = yaml.safe_load(Path(args.bank).read_text(encoding="utf-8"))
    seed = int(params["seed"])

    records = load_conversations(args.conversations)
    pii = Counter()
    records = [scrub_record(r, pii) for r in tqdm(records, desc="pii scrub", mininterval=5)]
    assignment, groups = assign_splits(records, params["validation_share"], params["test_share"], seed)
    pool = {
        "product_ids": sorted({a["product_id"] for r in records for _, a in tool_calls(r) if a.get("product_id")}),
        "queries": sorted({a["query"] for r in records for n, a in tool_calls(r) if n == "search_products"}),
        "pushy_after": set(params["pushy_after_intents"]),
    }

    out = Path(args.out)
    stats = {"splits": {}, "pii_replacements": dict(pii), "grouping": groups, "preference_variants": {}}
    keys_by_split = {}
    for split in SPLITS:
        part = [r for r in records if assignment[r["id"]] == split]
        keys_by_split[split] = set().union(*(leakage_keys(r) for r in part)) if part else set()
        cands = [
            c
            for r in tqdm(part, desc=f"preference {split}", mininterval=5)
            for c in preference_candidates(r, bank, pool, seed)
        ]
        pairs = balance(cands, params.get("max_pairs_per_kind"), seed)
        for sub, rows in (
            (
                "sft",
                [
                    {"id": r["id"], "scenario": r["scenario"], "language": r["language"], "messages": chat_messages(r)}
                    for r in part
                ],
            ),
            ("preference", [row for row, _ in pairs]),
            ("records", part),
        ):
            (out / sub).mkdir(parents=True, exist_ok=True)
            write_jsonl(out / sub / f"{split}.jsonl", rows)
        stats["splits"][split] = {
            **conversation_stats(part),
            "preference": dict(Counter(row["kind"] for row, _ in pairs)),
            "preference_candidates": dict(Counter(row["kind"] for row, _ in cands)),
        }
        for row, variant in pairs:
            stats["preference_variants"].setdefault(row["kind"], Counter())[variant] += 1
        missing = sorted({r["scenario"] for r in records} - {r["scenario"] for r in part})
        if missing:  # whole groups only: a scenario whose conversations all sit in big groups stays in train
            stats["splits"][split]["missing_scenarios"] = missing
            print(
                f"build_datasets: warning: {split} has no {missing} conversations (their leakage groups are "
                f"larger than the split; largest group {groups['largest_group']})"
            )
    # the invariant the split exists for, checked on the output rather than assumed
    shared = [(a, b) for a in SPLITS for b in SPLITS if a < b and keys_by_split[a] & keys_by_split[b]]
    if shared:
        raise RuntimeError(f"leakage: splits {shared} share (query, product) pairs")
    stats["grouping"]["leaked_pairs"] = 0
    (out / "stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=2, default=dict), encoding="utf-8")

    overall = conversation_stats(records)
    metrics = {
        "conversations": len(records),
        "pii_replacements": sum(pii.values()),
        **groups,
        **{f"{s}_conversations": stats["splits"][s]["conversations"] for s in SPLITS},
        **{f"{s}_preference_pairs": sum(stats["splits"][s]["preference"].values()) for s in SPLITS},
        "mean_messages": overall["mean_messages"],
        "mean_tool_calls": overall["mean_tool_calls"],
    }
    Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
    Path(args.metrics).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(metrics))
    return stats


if __name__ == "__main__":
    main()
