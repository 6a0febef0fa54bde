"""Stage outcome_pairs: preference pairs from what happened to simulated customers (issue 11).

    python -m simulator.outcome_pairs_stage --catalogue data/processed/catalogue --nlu models/nlu \
        --base models/base --adapter models/dpo --params params.yaml --out data/processed/outcome_pairs \
        --metrics metrics/outcome_pairs.json

Serves the policy (the DPO adapter merged into the base, pipelines/merge.py) on vLLM, draws training goals from `outcome_pairs.seed` (never a
seed the evaluation reads), and at the model's decision points of each conversation samples
candidate turns, plays each out with the same simulated customer and keeps the best and the worst
where their outcomes differ clearly (simulator/rollouts.py, simulator/outcomes.py). Writes the
pairs in build_datasets' preference format (prompt, chosen, rejected; plus the rewards) to
<out>/train.jsonl, every scored decision with all its candidates to <out>/decisions.jsonl, and the counts and time to the metrics and to an MLflow run nested under the
DPO adapter's pipeline run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import yaml

from pipelines import tracking
from pipelines.merge import merge_adapter
from pipelines.train_utils import write_json
from serve.contract import write_jsonl
from serve.core.catalog import Catalogue
from serve.core.engine import keep_off_engine_cores, vllm_servers
from simulator.goals import draw_goals
from simulator.rollouts import outcome_pairs
from simulator.stage import settings_for


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("--catalogue", "--nlu", "--base", "--adapter", "--out", "--metrics"):
        parser.add_argument(name, required=True)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # dvc stops with SIGTERM: vLLM stops with it
    cfg = (yaml.safe_load(Path(args.params).read_text(encoding="utf-8")) or {})["outcome_pairs"]
    logging.basicConfig(level=logging.WARNING)
    goals = draw_goals(Catalogue.load(args.catalogue), cfg["n_goals"], cfg["seed"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with (
        tracking.stage_run(
            "outcome_pairs",
            inputs={"catalogue": args.catalogue, "policy_adapter": args.adapter},
            params_path=args.params,
            recipe={"outcome_pairs": cfg},
            upstream=args.adapter,
        ) as run,
        tempfile.TemporaryDirectory(prefix="outcome-pairs-") as tmp,
    ):
        policy = merge_adapter(args.base, args.adapter, Path(tmp) / "policy")
        pairs, stats, decisions = serve_and_pair(cfg, args, policy, goals, Path(tmp), log_dir=out)
        write_jsonl(out / "train.jsonl", pairs)
        write_jsonl(out / "decisions.jsonl", decisions)  # every candidate and its reward: pairs at other gaps
        stats |= {"seconds": round(time.perf_counter() - started, 1), "goals": len(goals)}
        import mlflow

        mlflow.log_metrics({k: float(v) for k, v in stats.items()})
        tracking.run_file(out, run)
    write_json(args.metrics, stats)
    print(f"outcome_pairs: {stats}", flush=True)


def serve_and_pair(cfg: dict, args, policy: Path, goals, tmp: Path, log_dir: Path):
    """Pairs from a vLLM server on the policy; its log stays in log_dir (the stage's output)."""
    with vllm_servers({"policy": policy}, log_dir) as servers:
        server = servers["policy"]
        waited = server.ready(cfg["start_timeout_s"])
        print(f"outcome_pairs: vLLM ready after {waited:.0f} s; {len(goals)} goals", flush=True)
        keep_off_engine_cores()
        paths = SimpleNamespace(catalogue=args.catalogue, nlu=args.nlu)
        settings = settings_for("policy", f"{server.url}/v1", tmp / "pairs.db", paths)
        settings.AGENT_PREFILL_BETWEEN_TURNS = False  # every model call of a replay is a decision
        # the model decides the requests for products too (the server's search answers them when
        # served): more decisions per conversation, on the turns where its arguments matter most
        settings.AGENT_SERVER_SEARCH = cfg["server_search"]
        # an outcome must be the candidate's doing, not the machine's load: a turn that times out
        # on a busy CPU would lose its conversation and make a false pair
        settings.LLM_TIMEOUT_S = cfg["llm_timeout_s"]
        pairs, stats, decisions = asyncio.run(
            outcome_pairs(
                settings,
                goals,
                seed=cfg["seed"],
                noise=cfg["noise"],
                candidates=cfg["candidates"],
                temperature=cfg["temperature"],
                decisions=cfg["decisions"],
                weights=cfg.get("reward") or {},
                min_gap=cfg["min_gap"],
                concurrency=cfg["concurrency"],
                progress=lambda s: print(
                    f"[outcome_pairs] {s['goals_done']}/{len(goals)} goals, {s['rollouts']} rollouts, "
                    f"{s['pairs']} pairs",
                    flush=True,
                ),
            )
        )
        if server.proc.poll() is not None:  # the pairs of a dead server are the router's, not the policy's
            raise SystemExit(f"vLLM stopped during the rollouts (exit {server.proc.returncode}); see {server.log_path}")
        return pairs, stats, decisions


if __name__ == "__main__":
    main()
