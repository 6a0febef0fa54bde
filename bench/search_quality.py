"""Search quality on the hand-written, labelled shopping queries (tests/fixtures/shopping_queries.yaml).

Two ways to turn a customer's text into results, on the real catalogue (the ingest stage's output):

    plain   catalogue.search(text): the customer's words as the query, no filters (what the bot ran
            before serve/core/shopping_request.py: routing.fallback_command, call_arguments.grounded_arguments'
            query replacement)
    parsed  search_request(catalogue, parse_request(text)): budget and categories as hard
            filters, sort hints, the leftover words ranked (serve/core/shopping_request.py)

Per query set (`queries`: used while writing the lexicon; `held_out`: written after its first
version, then seen while widening it; `held_out_2`: written after that, never tuned on):

    any@3     share of queries where at least one of the top-3 results is in an acceptable category
    share@3   mean over queries of (top-3 results in an acceptable category) / 3; missing results
              (fewer than 3 found) count as wrong
    top1      share of queries whose first result is in an acceptable category
    empty     share of queries with no result
    budget    share of the results of queries with a budget that cost at most that budget, and the
              number of queries with any result over it (target: 100%, 0)
    parse     (parsed only) share of queries whose parsed budget and sort equal the labels
    ms        mean time per query (parse + search)

    python -m bench.search_quality --catalogue /work/main/data/processed/catalogue [--mode plain parsed]
        [--code DIR]  import serve/ from DIR instead (e.g. main's checkout, for the "before" figures;
                      only `plain` works on code without shopping_request.py)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
QUERIES = REPO / "tests" / "fixtures" / "shopping_queries.yaml"
TOP = 3
SETS = ("queries", "held_out", "held_out_2")


def load_queries(path: Path = QUERIES) -> dict[str, list[dict]]:
    """{"queries": [...], "held_out": [...], "held_out_2": [...]}: each {text, cats, budget?, sort?}."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {name: data.get(name) or [] for name in SETS}


def run_mode(catalogue, mode: str, queries: list[dict]) -> dict:
    if mode == "parsed":
        from serve.core.shopping_request import parse_request, search_request
    rows, budget_results, budget_ok, over_budget, parse_ok, times = [], 0, 0, [], 0, []
    for q in queries:
        started = time.perf_counter()
        if mode == "parsed":
            request = parse_request(q["text"])
            found = search_request(catalogue, request, limit=TOP)
            parse_ok += request.max_price_cents == q.get("budget") and request.sort == q.get("sort")
        else:
            found = catalogue.search(q["text"], limit=TOP)
        times.append((time.perf_counter() - started) * 1000)
        right = [p.category in q["cats"] for p in found[:TOP]]
        rows.append(
            {"any": any(right), "share": sum(right) / TOP, "top1": bool(right and right[0]), "empty": not found}
        )
        if q.get("budget") is not None:
            budget_results += len(found)
            budget_ok += sum(p.price_cents <= q["budget"] for p in found)
            if any(p.price_cents > q["budget"] for p in found):
                over_budget.append(q["text"])
        q[f"_found_{mode}"] = [(p.name, p.category, p.price_cents) for p in found]
    n = len(queries)
    return {
        "n": n,
        "any@3": sum(r["any"] for r in rows) / n,
        "share@3": statistics.mean(r["share"] for r in rows),
        "top1": sum(r["top1"] for r in rows) / n,
        "empty": sum(r["empty"] for r in rows) / n,
        "budget_queries": sum(q.get("budget") is not None for q in queries),
        "budget_results_ok": budget_ok / budget_results if budget_results else 1.0,
        "budget_queries_over": len(over_budget),
        "parse_ok": parse_ok / n if mode == "parsed" else None,
        "ms": statistics.mean(times),
        "misses": [q["text"] for q, r in zip(queries, rows) if not r["any"]],
        "over_budget": over_budget,
    }


def table(results: dict[tuple[str, str], dict]) -> str:
    lines = [
        "| set | mode | n | any@3 | share@3 | top1 | empty | budget ok (results) | queries over budget | parse ok | ms/query |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (name, mode), r in results.items():
        parse = "" if r["parse_ok"] is None else f"{r['parse_ok']:.3f}"
        lines.append(
            f"| {name} | {mode} | {r['n']} | {r['any@3']:.3f} | {r['share@3']:.3f} | {r['top1']:.3f} | "
            f"{r['empty']:.3f} | {r['budget_results_ok']:.3f} | {r['budget_queries_over']}/{r['budget_queries']} | "
            f"{parse} | {r['ms']:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalogue", type=Path, default=REPO / "data" / "processed" / "catalogue")
    ap.add_argument("--queries", type=Path, default=QUERIES)
    ap.add_argument("--mode", nargs="+", choices=("plain", "parsed"), default=["plain", "parsed"])
    ap.add_argument("--code", type=Path, help="import serve/ from this checkout instead of this one")
    ap.add_argument("--json", type=Path, help="write the figures (and each miss) here")
    ap.add_argument("--show-misses", action="store_true")
    args = ap.parse_args(argv)
    if args.code:
        sys.path.insert(0, str(args.code.resolve()))
    from serve.core.catalog import Catalogue

    catalogue = Catalogue.load(args.catalogue)
    sets = load_queries(args.queries)
    known = {c.slug for c in catalogue.categories()}
    for name, queries in sets.items():
        for q in queries:
            unknown = set(q["cats"]) - known
            if unknown == set(q["cats"]):
                print(f"warning: {name}: no acceptable category of {q['text']!r} is in this catalogue", file=sys.stderr)
    results = {}
    for name, queries in sets.items():
        if queries:
            for mode in args.mode:
                results[(name, mode)] = run_mode(catalogue, mode, queries)
    print(f"catalogue: {args.catalogue} ({len(catalogue)} products); code: {args.code or REPO}")
    print(table(results))
    if args.show_misses:
        for (name, mode), r in results.items():
            for text in r["misses"]:
                q = next(q for q in sets[name] if q["text"] == text)
                print(f"miss [{name}/{mode}] {text!r} want {q['cats'][:3]}: {q[f'_found_{mode}']}")
    if args.json:
        args.json.write_text(json.dumps({f"{n}/{m}": r for (n, m), r in results.items()}, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
