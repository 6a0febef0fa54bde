"""Stage simulate: simulated customers against the router alone, the base, SFT, DPO and round-2 models.

    python -m simulator.stage --catalogue data/processed/catalogue --nlu models/nlu --base models/base \
        --sft models/sft --dpo models/dpo --candidate models/export --params params.yaml \
        --out reports/simulate --metrics metrics/simulate.json --plots plots/simulate

Models (params `simulate.models`), each on the same goals and trials:
  router  the server's intent router and rules with no model at all (LLM_BASE_URL answers nothing)
  base    models/base on vLLM;  sft, dpo  those adapters merged into the base (pipelines/merge.py)
  round2  the exported candidate (models/export: the outcome round's adapter, merged), the model
          `make serve` would serve
Every model's vLLM server starts at once, while the router's conversations run. Before a
model's conversations, the served chat template must tokenise exactly as training did
(pipelines/template_parity.py): a difference fails the stage. Writes metrics/simulate.json, the
plots (success by scenario, pass^k), reports/simulate/<model>.jsonl transcripts, one MLflow run
nested under the training pipeline's, and prints the comparison table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import yaml

from pipelines import tracking
from pipelines.merge import merge_adapter
from pipelines.report import simulate_table
from pipelines.template_parity import check_parity
from pipelines.train_utils import write_json
from serve.core.catalog import Catalogue
from serve.core.engine import free_port, keep_off_engine_cores, stop, vllm_servers
from serve.settings import Settings
from simulator.failures import markdown as failure_report
from simulator.goals import draw_goals
from simulator.runner import run_conversations
from simulator.stats import summarise

MODELS = ("router", "base", "sft", "dpo", "round2")
CANDIDATE = "round2"


def settings_for(model: str, base_url: str, db_path: Path, args) -> Settings:
    return Settings(
        _env_file=None,
        ENV="development",
        DATABASE_URL=f"sqlite:///{db_path}",
        MEDIA_DIR=str(db_path.parent / "media"),  # the cards the bot renders stay in the stage's work dir
        CATALOGUE_DIR=args.catalogue,
        NLU_DIR=args.nlu,
        LLM_BASE_URL=base_url,
        LLM_MODEL=model,
        PUBLIC_BASE_URL="http://simulator.invalid",
        AGENT_PREFILL_BETWEEN_TURNS=model != "router",
        LOG_LEVEL="ERROR" if model == "router" else "WARNING",  # router: every model call fails by design
    )


def simulate(model: str, base_url: str, goals, cfg: dict, args, work: Path) -> list[dict]:
    started = time.perf_counter()

    def progress(done: int, total: int, successes: int) -> None:
        print(f"[simulate {model}] {done}/{total} conversations, success so far {successes}/{done}", flush=True)

    rows = asyncio.run(
        run_conversations(
            settings_for(model, base_url, work / f"{model}.db", args),
            goals,
            trials=cfg["trials"],
            seed=cfg["seed"],
            noise=cfg["noise"],
            concurrency=cfg["concurrency"],
            progress=progress,
        )
    )
    for r in rows:
        r["model"] = model
    print(f"simulate {model}: {len(rows)} conversations in {time.perf_counter() - started:.0f} s", flush=True)
    return rows


def run_all(cfg: dict, args, goals, out: Path) -> dict[str, list[dict]]:
    """The router first, while every model's vLLM server starts (all at once); then each model in
    turn, once its server answers and its chat template passes the parity gate."""
    wanted = [m for m in MODELS if m in cfg["models"]]
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="simulate-") as tmp:
        work = Path(tmp)
        models = {"base": args.base, CANDIDATE: args.candidate}
        for name in ("sft", "dpo"):
            if name in wanted:
                models[name] = merge_adapter(args.base, getattr(args, name), work / f"{name}-merged")
        models = {m: models[m] for m in wanted if m != "router"}
        cores = os.sched_getaffinity(0)
        with vllm_servers(models, out) as servers:
            keep_off_engine_cores()  # the bot's turns run here: off the core vLLM's engines compute on
            try:
                if "router" in wanted:  # nothing listens on this port: every model call fails at once
                    results["router"] = simulate("router", f"http://127.0.0.1:{free_port()}/v1", goals, cfg, args, work)
                for name, server in servers.items():
                    waited = server.ready(cfg["start_timeout_s"])
                    print(f"simulate: vLLM on {models[name]} ready after {waited:.0f} s more", flush=True)
                    parity = check_parity(server.url, name, models[name])
                    print(f"simulate: chat-template parity ok ({parity})", flush=True)
                    results[name] = simulate(name, f"{server.url}/v1", goals, cfg, args, work)
                    stop(server.proc)  # its memory back before the next model's conversations
            finally:
                os.sched_setaffinity(0, cores)
    return results


def plots(summary: dict, plots_dir: Path) -> None:
    by_scenario = [
        {"model": m, "scenario": s, "task_success": v["task_success"]["rate"]}
        for m, figures in summary.items()
        for s, v in figures["by_scenario"].items()
    ]
    pass_k = [
        {"model": m, "k": int(k), "pass_hat_k": v}
        for m, figures in summary.items()
        for k, v in figures["pass_hat_k"].items()
    ]
    write_json(plots_dir / "by_scenario.json", by_scenario)
    write_json(plots_dir / "pass_k.json", pass_k)


def mlflow_metrics(summary: dict) -> dict[str, float]:
    out = {}
    for m, f in summary.items():
        for key in (
            "task_success",
            "conversion",
            "cart_abandonment",
            "ungrounded_claim_rate",
            "wrong_language_rate",
            "fallback_turn_rate",
        ):
            for part, suffix in (("rate", ""), ("low", "_low"), ("high", "_high")):
                if f[key][part] is not None:
                    out[f"{m}.{key}{suffix}"] = f[key][part]
        out |= {f"{m}.pass_hat_{k}": v for k, v in f["pass_hat_k"].items() if v is not None}
        out |= {f"{m}.{s}.task_success": v["task_success"]["rate"] for s, v in f["by_scenario"].items()}
        out |= {f"{m}.latency_p{q}_ms": f["latency_ms"][f"p{q}"] for q in (50, 95) if f["latency_ms"][f"p{q}"]}
        out[f"{m}.budget_ignored_turns"] = f["budget_ignored_turns"]
        out |= {f"{m}.answered_by.{role}": share for role, share in f["answered_by"]["share"].items()}
        if f["avg_order_value_cents"] is not None:
            out[f"{m}.avg_order_value_cents"] = f["avg_order_value_cents"]
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("--catalogue", "--nlu", "--base", "--sft", "--dpo", "--candidate", "--out", "--metrics", "--plots"):
        parser.add_argument(name, required=True)
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    # `dvc` stops a stage with SIGTERM: exit through the `finally` blocks, so no vLLM server outlives it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    cfg = (yaml.safe_load(Path(args.params).read_text(encoding="utf-8")) or {})["simulate"]
    logging.basicConfig(level=logging.WARNING)
    catalogue = Catalogue.load(args.catalogue)
    goals = draw_goals(catalogue, cfg["n_goals"], cfg["seed"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"simulate: {len(goals)} goals × {cfg['trials']} trials per model: {', '.join(cfg['models'])}", flush=True)
    with tracking.stage_run(
        "simulate",
        inputs={"catalogue": args.catalogue, "nlu": args.nlu, "candidate": args.candidate},
        params_path=args.params,
        recipe={"simulate": cfg},
        upstream=args.candidate,
    ) as run:
        results = run_all(cfg, args, goals, out)
        summary = {m: summarise(rows, cfg["trials"]) for m, rows in results.items()}
        for m, rows in results.items():
            with open(out / f"{m}.jsonl", "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        (out / "failures.md").write_text(failure_report(results), encoding="utf-8")
        import mlflow

        mlflow.log_metrics(mlflow_metrics(summary))
        mlflow.log_artifacts(str(out), "simulate")
        tracking.run_file(out, run)
    metrics = {"models": summary, "candidate": CANDIDATE, "n_goals": len(goals), "trials_per_goal": cfg["trials"]}
    write_json(args.metrics, metrics)
    plots(summary, Path(args.plots))
    print(simulate_table(metrics), flush=True)


if __name__ == "__main__":
    main()
