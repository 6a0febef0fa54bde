"""Stage build_datasets: conversation records → SFT, preference and labelled-record splits + stats.

    python -m pipelines.build_datasets --conversations data/interim/conversations.jsonl \
        --out data/processed/datasets --metrics metrics/datasets.json

1. read + validate every record (`Conversation`), errors name the file and line;
2. PII scrub of free text (user/assistant content, tool results, free-text tool arguments);
3. split BY CONVERSATION with no (search query, product) pair in two splits: each conversation
   gets the keys {(q, p)} for every normalised search query q × every product id p it names in
   a tool call ("*" stands in when it has only one side); conversations sharing a key are joined
   (union-find), and whole groups are dealt to test/validation/train in a seeded order;
4. write sft/, preference/, records/ (one JSONL per split) and stats.json, plus DVC metrics.

Preference pairs: for each conversation and kind, one assistant turn is drawn among the eligible
ones; `chosen` is the real turn and `rejected` a corrupted copy (see the make_* row functions);
kinds are then balanced per split (same count each, the rarest kind sets it).
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
from serve.contract import (
    TOOL_ARGS,
    Conversation,
    ToolCallError,
    chat_messages,
    format_brl,
    parse_brl_cents,
    parse_tool_arguments,
    write_jsonl,
)
from serve.contract.money import BRL_PATTERN

SPLITS = ("train", "validation", "test")
KINDS = ("wrong_tool", "wrong_arguments", "invented_price", "pushy", "fake_scarcity", "wrong_language")
DEFAULT_BANK = Path(__file__).resolve().parents[1] / "configs" / "preference_bank.yaml"
ID_KEY_LEN = 8  # product ids may be written in full (32 hex) or as a unique prefix ("ref", >= 8)
FREE_TEXT_ARGS = ("query", "reason")  # tool arguments the model writes as free text
SCARCITY_WORDS = re.compile(r"últim|ultim|restam|acabando|poucas unidades|only \d+|last \d+|left in stock|selling out", re.I)


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
                clean = {k: scrub_pii(v, counts) if k in FREE_TEXT_ARGS and isinstance(v, str) else v
                         for k, v in args.items()}  # fmt: skip
                if clean != args:  # re-serialise only when changed: keeps the record byte-identical
                    call = {**call, "function": {**call["function"], "arguments": json.dumps(clean, ensure_ascii=False)}}
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
        if args.get("product_id"):
            products.add(str(args["product_id"]).lower()[:ID_KEY_LEN])
    if not queries and not products:
        return set()
    return {(q, p) for q in queries or {"*"} for p in products or {"*"}}


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
    return assignment, {"groups": len(sizes), "largest_group": sizes[0], "keyed_conversations": sum(
        1 for r in records if leakage_keys(r))}


# ---------------------------------------------------------------- preference pairs


def _walk(obj):
    """Every dict nested in a parsed tool result."""
    if isinstance(obj, dict):
        yield obj
        obj = list(obj.values())
    if isinstance(obj, list):
        for item in obj:
            yield from _walk(item)


def turn_context(prompt: list[dict], raw_user: dict | None) -> dict:
    """What the rejected-makers need to know about the conversation before one assistant turn."""
    since_user = []
    for msg in reversed(prompt):
        if msg["role"] == "user":
            break
        if msg["role"] == "tool":
            try:
                since_user.append(json.loads(msg["content"]))
            except json.JSONDecodeError:
                pass
    ids, amounts = [], set()
    for msg in prompt:
        amounts.update(parse_brl_cents(msg.get("content") or ""))
        if msg["role"] == "tool":
            try:
                ids += [d["id"] for d in _walk(json.loads(msg["content"])) if isinstance(d.get("id"), str)]
            except json.JSONDecodeError:
                pass
    # serve.tool_results product summaries: {"id", "name", "price", ..., "low_stock"?, "sold_out"?};
    # the flags appear only when stock is really low / zero, so their absence means plenty in stock.
    shown = [d for r in since_user for d in _walk(r) if "id" in d and "price" in d]
    plenty = bool(shown) and not any(d.get("low_stock") or d.get("sold_out") for d in shown)
    return {"intent": (raw_user or {}).get("intent"), "product_ids": ids, "amounts": amounts, "plenty_in_stock": plenty}


def _first_call(msg: dict):
    call = (msg.get("tool_calls") or [None])[0]
    return (call, call["function"]["name"], json.loads(call["function"]["arguments"] or "{}")) if call else (None, None, None)


def _with_call(msg: dict, name: str, args: dict) -> dict:
    """`msg` with its first tool call replaced by name(args) (same call id, JSON-string arguments)."""
    first = {**msg["tool_calls"][0], "function": {"name": name, "arguments": json.dumps(args, ensure_ascii=False)}}
    return {**msg, "tool_calls": [first] + msg["tool_calls"][1:]}


WRONG_TOOL = {  # a plausible confusion for each tool, with arguments valid for the wrong tool
    "search_products": lambda a: ("recommend", {"category": a["category"]} if a.get("category") else {}),
    "get_product": lambda a: ("add_to_cart", {"product_id": a["product_id"], "quantity": 1}),
    "add_to_cart": lambda a: ("get_product", {"product_id": a["product_id"]}),
    "remove_from_cart": lambda a: ("add_to_cart", {"product_id": a["product_id"], "quantity": a.get("quantity") or 1}),
    "view_cart": lambda a: ("checkout", {"payment_method": "pix"}),
    "recommend": lambda a: ("get_product", {"product_id": a["product_id"]}) if a.get("product_id")
    else ("search_products", {"query": a.get("category") or "mais vendidos", "sort": "best_selling"}),
    "checkout": lambda a: ("view_cart", {}),
    "order_status": lambda a: ("view_cart", {}),
    "handoff_to_human": lambda a: ("order_status", {}),
}


def make_wrong_tool(msg, ctx, lang, bank, rng, pool):
    call, name, args = _first_call(msg)
    if call is None:
        return None
    wrong, wrong_args = WRONG_TOOL[name](args)
    parse_tool_arguments(wrong, wrong_args)  # the wrong call is still a valid call of the wrong tool
    return _with_call(msg, wrong, wrong_args), f"{name}->{wrong}"


def make_wrong_arguments(msg, ctx, lang, bank, rng, pool):
    call, name, args = _first_call(msg)
    if call is None:
        return None
    options = []
    if pid := args.get("product_id"):
        others = [p for p in dict.fromkeys(ctx["product_ids"] + pool["product_ids"])
                  if not (p.startswith(pid) or pid.startswith(p))]  # fmt: skip
        if others:  # prefer a product the customer just saw: the realistic slip
            seen = [p for p in others if p in ctx["product_ids"]]
            options.append(("wrong_product", {**args, "product_id": rng.choice(seen or others)}))
    if name == "add_to_cart" or (name == "remove_from_cart" and args.get("quantity")):
        q = args.get("quantity") or 1
        options.append(("wrong_quantity", {**args, "quantity": q + rng.choice((1, 2, 4)) if q < 95 else 1}))
    if name == "checkout":
        options.append(("wrong_payment", {"payment_method": rng.choice([m for m in ("pix", "card", "boleto") if m != args["payment_method"]])}))
    if name == "search_products":
        if args.get("max_price"):
            options.append(("wrong_max_price", {**args, "max_price": args["max_price"] * 10}))
        queries = [q for q in pool["queries"] if normalize_query(q) != normalize_query(args["query"])]
        if queries:
            options.append(("wrong_query", {**args, "query": rng.choice(queries)}))
    required = [k for k, f in TOOL_ARGS[name].model_fields.items() if f.is_required() and k in args]
    if required:  # still valid JSON naming the right tool, but the server would refuse it
        dropped = rng.choice(required)
        options.append(("missing_argument", {k: v for k, v in args.items() if k != dropped}))
    if not options:
        return None
    variant, wrong_args = rng.choice(options)
    return _with_call(msg, name, wrong_args), variant


def make_invented_price(msg, ctx, lang, bank, rng, pool):
    text = msg.get("content") or ""
    if not any(a in ctx["amounts"] for a in parse_brl_cents(text)):
        return None

    def invent(match: re.Match) -> str:
        old = parse_brl_cents(match.group())[0]
        if old not in ctx["amounts"]:  # e.g. the customer's own budget: not a catalogue price
            return match.group()
        base, factor = old, rng.choice((0.5, 0.7, 0.8, 1.2, 1.5))
        while True:  # a "R$ xx,90" price that no message in the prompt ever stated
            new = round(base * factor / 100) * 100 - 10
            if new > 0 and new != old and new not in ctx["amounts"]:
                return format_brl(new)
            base += 100

    return {**msg, "content": BRL_PATTERN.sub(invent, text)}, "price"


def make_pushy(msg, ctx, lang, bank, rng, pool):
    if ctx["intent"] not in pool["pushy_after"]:
        return None
    return {"role": "assistant", "content": rng.choice(bank["pushy"][lang])}, ctx["intent"]


def make_fake_scarcity(msg, ctx, lang, bank, rng, pool):
    text = msg.get("content")
    if not text or msg.get("tool_calls") or not ctx["plenty_in_stock"] or SCARCITY_WORDS.search(text):
        return None
    n = rng.randint(2, 3)  # "only 2 left": plural in both banks
    return {**msg, "content": f"{text} {rng.choice(bank['scarcity'][lang]).format(n=n)}"}, "scarcity"


def make_wrong_language(msg, ctx, lang, bank, rng, pool):
    if not msg.get("content") or msg.get("tool_calls"):
        return None
    other = bank["wrong_language"]["en" if lang == "pt" else "pt"]
    return {"role": "assistant", "content": rng.choice(other.get(ctx["intent"]) or other["default"])}, ctx["intent"] or "default"


MAKERS = {kind: globals()[f"make_{kind}"] for kind in KINDS}


def preference_candidates(record: dict, bank: dict, pool: dict, seed: int) -> list[tuple[dict, str]]:
    """At most one (row, variant) per kind for this conversation, drawn among eligible assistant turns."""
    rng = random.Random(f"{seed}:{record['id']}")  # per record: independent of file order
    msgs = chat_messages(record)
    raw = [None] + record["messages"]  # aligned with msgs (system first); keeps the intent labels
    eligible = defaultdict(list)
    last_user = None
    for k, msg in enumerate(msgs):
        if msg["role"] == "user":
            last_user = raw[k]
        if msg["role"] != "assistant" or msgs[k - 1]["role"] not in ("user", "tool"):
            continue
        ctx = turn_context(msgs[:k], last_user)
        for kind, make in MAKERS.items():
            try:
                made = make(msg, ctx, record["language"], bank, rng, pool)
            except ToolCallError:
                made = None
            if made:
                eligible[kind].append((k, *made))
    rows = []
    for kind in KINDS:
        if eligible[kind]:
            k, rejected, variant = rng.choice(eligible[kind])
            row = {"id": f"{record['id']}:{k}:{kind}", "kind": kind, "prompt": msgs[:k], "chosen": [msgs[k]], "rejected": [rejected]}
            rows.append((row, variant))
    return rows


def balance(candidates: list[tuple[dict, str]], max_per_kind: int | None, seed: int) -> list[tuple[dict, str]]:
    """The same number of pairs for every kind present (the rarest kind's count, capped), shuffled."""
    by_kind = defaultdict(list)
    for cand in candidates:
        by_kind[cand[0]["kind"]].append(cand)
    if not by_kind:
        return []
    n = min(len(v) for v in by_kind.values())
    n = min(n, max_per_kind) if max_per_kind else n
    rng = random.Random(seed)
    rows = [c for kind in KINDS if kind in by_kind for c in rng.sample(by_kind[kind], n)]
    rng.shuffle(rows)
    return rows


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
        "mean_user_chars": round(sum(len(m["content"]) for m in msgs if m["role"] == "user")
                                 / max(1, sum(m["role"] == "user" for m in msgs)), 1),  # fmt: skip
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
        cands = [c for r in tqdm(part, desc=f"preference {split}", mininterval=5)
                 for c in preference_candidates(r, bank, pool, seed)]  # fmt: skip
        pairs = balance(cands, params.get("max_pairs_per_kind"), seed)
        for sub, rows in (("sft", [{"id": r["id"], "scenario": r["scenario"], "language": r["language"],
                                    "messages": chat_messages(r)} for r in part]),
                          ("preference", [row for row, _ in pairs]), ("records", part)):  # fmt: skip
            (out / sub).mkdir(parents=True, exist_ok=True)
            write_jsonl(out / sub / f"{split}.jsonl", rows)
        stats["splits"][split] = {**conversation_stats(part), "preference": dict(Counter(row["kind"] for row, _ in pairs)),
                                  "preference_candidates": dict(Counter(row["kind"] for row, _ in cands))}  # fmt: skip
        for row, variant in pairs:
            stats["preference_variants"].setdefault(row["kind"], Counter())[variant] += 1
    # the invariant the split exists for, checked on the output rather than assumed
    shared = [(a, b) for a in SPLITS for b in SPLITS if a < b and keys_by_split[a] & keys_by_split[b]]
    if shared:
        raise RuntimeError(f"leakage: splits {shared} share (query, product) pairs")
    stats["grouping"]["leaked_pairs"] = 0
    (out / "stats.json").write_text(json.dumps(stats, ensure_ascii=False, indent=2, default=dict), encoding="utf-8")

    overall = conversation_stats(records)
    metrics = {"conversations": len(records), "pii_replacements": sum(pii.values()), **groups,
               **{f"{s}_conversations": stats["splits"][s]["conversations"] for s in SPLITS},
               **{f"{s}_preference_pairs": sum(stats["splits"][s]["preference"].values()) for s in SPLITS},
               "mean_messages": overall["mean_messages"], "mean_tool_calls": overall["mean_tool_calls"]}  # fmt: skip
    Path(args.metrics).parent.mkdir(parents=True, exist_ok=True)
    Path(args.metrics).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(metrics))
    return stats


if __name__ == "__main__":
    main()
