"""Printed at the end of `make run`: where the pipeline's results are, and the headline metrics."""

from __future__ import annotations

import json
from pathlib import Path

OUTPUTS = {
    "data/processed/catalogue": "catalogue, purchase histories, co-purchase table, reviews (parquet)",
    "data/processed/support": "support intents and examples",
    "data/interim/conversations.jsonl": "synthetic pt-BR/English sales conversations (contract records)",
    "data/processed/datasets": "SFT and preference sets, splits, statistics",
    "models/nlu": "intent classifier",
    "models/base": "base model (safetensors + contract chat template)",
    "models/sft": "SFT LoRA adapter",
    "models/dpo": "DPO LoRA adapter",
    "models/export": "merged model for vLLM (make serve)",
}


def _flatten(prefix: str, value) -> list[tuple[str, object]]:
    if isinstance(value, dict):
        return [kv for k, v in value.items() for kv in _flatten(f"{prefix}.{k}" if prefix else k, v)]
    return [(prefix, value)]


def _pct(figure: dict | None) -> str:
    if not figure or figure.get("rate") is None:
        return "—"
    return f"{figure['rate']:.0%} [{figure['low']:.0%}–{figure['high']:.0%}]"


def simulate_table(data: dict) -> str:
    """metrics/simulate.json as the comparison table: rates with their 95% intervals, n per model."""
    head = (
        "model",
        "task success",
        "pass^4",
        "conversion",
        "ungrounded",
        "wrong lang",
        "fallback turns",
        "over budget",
        "p50 ms",
        "p95 ms",
        "n",
    )
    rows = [head]
    for model, f in data["models"].items():
        k = f["pass_hat_k"].get(str(max(map(int, f["pass_hat_k"]))), None) if f["pass_hat_k"] else None
        lat = f["latency_ms"]
        rows.append(
            (
                model,
                _pct(f["task_success"]),
                "—" if k is None else f"{k:.0%}",
                _pct(f["conversion"]),
                _pct(f["ungrounded_claim_rate"]),
                _pct(f["wrong_language_rate"]),
                _pct(f["fallback_turn_rate"]) if "fallback_turn_rate" in f else "—",
                str(f.get("budget_ignored_turns", "—")),
                "—" if lat["p50"] is None else f"{lat['p50']:.0f}",
                "—" if lat["p95"] is None else f"{lat['p95']:.0f}",
                str(f["conversations"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in rows]
    title = f"simulated customers: {data['n_goals']} goals × {data['trials_per_goal']} trials per model (95% Wilson intervals)"
    return "\n".join([title, *lines])


def main() -> None:
    print("\nzapvendas pipeline results")
    for path, what in OUTPUTS.items():
        if Path(path).exists():
            print(f"  {path:<36} {what}")
    metrics = sorted(Path("metrics").glob("*.json"))
    if metrics:
        print("\nheadline metrics (all of them: `bin/dvc metrics show`)")
    for path in metrics:
        flat = [(k, v) for k, v in _flatten("", json.loads(path.read_text())) if isinstance(v, (int, float))]
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in flat[:6])
        print(f"  {path.stem:<16} {shown}")
    if Path("metrics/simulate.json").exists():
        print("\n" + simulate_table(json.loads(Path("metrics/simulate.json").read_text())))
    if Path("mlflow.db").exists():
        print("\nMLflow runs: sqlite:///mlflow.db — `make mlflow` opens the UI on http://127.0.0.1:5000")
    print(
        "\nshare them: `bin/dvc push` (default remote ../zapvendas-dvc-remote; a clone then gets them with"
        " `bin/dvc pull`); experiments: `bin/dvc exp run -S sft.learning_rate=1e-4` (README, ML section)"
    )


if __name__ == "__main__":
    main()
