"""The preference rounds compared on simulated customers no round trained on and nobody tuned on.

    bin/python -m bench.heldout_rounds --seeds 8128 1618 --n-goals 32 --models sft dpo round2 \
        --out /tmp/heldout [--candidate models/export]

For each seed, the simulate stage (simulator/stage.py) runs on a copy of params.yaml whose
`simulate` block names the seed, the goal count and the models; the transcripts of every seed are
then pooled per model. Printed and written to <out>/summary.json: task success with its 95% Wilson
interval, pass^k per seed, conversion, the share of turns the router and the model answered, and,
for each model against the one before it in --models, the paired difference: the same goals, the
same phrasing and the same noise, so a conversation one model won and the other lost is the
evidence (exact McNemar test on those discordant conversations, two-sided).

The seeds must be ones no round read: bench/RESULTS.md lists the seeds already used.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import yaml
from scipy.stats import binomtest

from simulator import stage
from simulator.stats import summarise


def run_seed(seed: int, args, out: Path) -> None:
    params = yaml.safe_load(Path(args.params).read_text(encoding="utf-8"))
    params["simulate"] |= {"seed": seed, "n_goals": args.n_goals, "models": args.models, "trials": args.trials}
    seed_dir = out / f"seed-{seed}"
    seed_dir.mkdir(parents=True, exist_ok=True)
    (seed_dir / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    stage.main(
        [
            *("--catalogue", args.catalogue, "--nlu", args.nlu, "--base", args.base, "--sft", args.sft),
            *("--dpo", args.dpo, "--candidate", args.candidate, "--params", str(seed_dir / "params.yaml")),
            *("--out", str(seed_dir / "reports"), "--metrics", str(seed_dir / "metrics.json")),
            *("--plots", str(seed_dir / "plots")),
        ]
    )


def load_rows(out: Path, seeds: list[int], model: str) -> list[dict]:
    rows = []
    for seed in seeds:
        path = out / f"seed-{seed}" / "reports" / f"{model}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            rows.append(json.loads(line) | {"seed": seed})
    return rows


def paired(before: list[dict], after: list[dict]) -> dict:
    """Conversations one model won and the other lost, and McNemar's exact two-sided p."""

    def key(r: dict) -> tuple:
        return r["seed"], r["goal_id"], r["trial"]

    won = {key(r): r["success"] for r in before}
    pairs = [(won[key(r)], r["success"]) for r in after if key(r) in won]
    gained = sum(1 for b, a in pairs if a and not b)
    lost = sum(1 for b, a in pairs if b and not a)
    p = binomtest(gained, gained + lost).pvalue if gained + lost else 1.0
    return {"conversations": len(pairs), "gained": gained, "lost": lost, "mcnemar_p": p}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--models", nargs="+", default=["sft", "dpo", "round2"])
    parser.add_argument("--n-goals", type=int, default=32)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--catalogue", default="data/processed/catalogue")
    parser.add_argument("--nlu", default="models/nlu")
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--sft", default="models/sft")
    parser.add_argument("--dpo", default="models/dpo")
    parser.add_argument("--candidate", default="models/export", help="the round-2 model, merged")
    parser.add_argument("--reuse", action="store_true", help="pool the transcripts already in --out")
    parser.add_argument(
        "--model-search",
        action="store_true",
        help="requests for products are the model's to answer (AGENT_SERVER_SEARCH=false), as in the "
        "outcome rollouts: the condition where the model, not the server, decides most turns",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.model_search:
        os.environ["AGENT_SERVER_SEARCH"] = "false"  # Settings reads it from the environment
    os.environ.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{(args.out / 'mlflow.db').resolve()}")
    if not args.reuse:
        for seed in args.seeds:
            run_seed(seed, args, args.out)
    rows = {m: load_rows(args.out, args.seeds, m) for m in args.models}
    summary = {"seeds": args.seeds, "models": {}, "paired": {}}
    for m, model_rows in rows.items():
        pooled = summarise(model_rows, args.trials)
        per_seed = {
            s: summarise([r for r in model_rows if r["seed"] == s], args.trials)["pass_hat_k"] for s in args.seeds
        }
        summary["models"][m] = {
            "task_success": pooled["task_success"],
            "conversion": pooled["conversion"],
            "pass_hat_k_by_seed": per_seed,
            "answered_by": pooled["answered_by"]["share"],
            "by_scenario": {s: v["task_success"] for s, v in pooled["by_scenario"].items()},
            "ungrounded_claim_rate": pooled["ungrounded_claim_rate"],
        }
        ts = pooled["task_success"]
        print(
            f"{m:8s} task success {ts['rate']:.1%} [{ts['low']:.1%}–{ts['high']:.1%}] "
            f"({ts['successes']}/{ts['n']}); pass^{args.trials} by seed "
            + ", ".join(f"{s}: {v[str(args.trials)]:.2f}" for s, v in per_seed.items())
        )
    for before, after in zip(args.models, args.models[1:]):
        diff = paired(rows[before], rows[after])
        summary["paired"][f"{after}_vs_{before}"] = diff
        print(
            f"{after} vs {before}: +{diff['gained']} / -{diff['lost']} conversations, McNemar p = {diff['mcnemar_p']:.3f}"
        )
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
