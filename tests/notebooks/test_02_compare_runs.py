"""notebooks/02_compare_runs.ipynb runs top to bottom on a throwaway MLflow store holding two pipeline
runs (DVC experiments) whose evaluate and simulate stages log the way pipelines/tracking.py does."""

from __future__ import annotations

import time
from pathlib import Path

import mlflow
import nbformat
from nbclient import NotebookClient

from pipelines import tracking

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "02_compare_runs.ipynb"
MODELS = {"router": 0.30, "base": 0.10, "sft": 0.45, "dpo": 0.55}  # task success of the second run
SCENARIOS = ["quick_purchase", "support", "cart_edits"]


def simulate_metrics(shift: float) -> dict[str, float]:
    metrics = {}
    for model, rate in MODELS.items():
        rate = max(rate - shift, 0.0)
        metrics |= {
            f"{model}.task_success": rate,
            f"{model}.task_success_low": max(rate - 0.1, 0.0),
            f"{model}.task_success_high": rate + 0.1,
            f"{model}.ungrounded_claim_rate": 0.02,
            f"{model}.conversion": rate * 0.8,
        }
        metrics |= {f"{model}.pass_hat_{k}": rate / k for k in range(1, 5)}
        metrics |= {f"{model}.{s}.task_success": rate * (i + 1) / len(SCENARIOS) for i, s in enumerate(SCENARIOS)}
    return metrics


def log_pipeline_run(name: str, shift: float, tmp_path: Path, monkeypatch) -> None:
    """An experiment `name`: evaluate, then simulate nested under the same parent run."""
    monkeypatch.setenv("DVC_EXP_NAME", name)
    params = ROOT / "params.yaml"
    with tracking.stage_run("evaluate", inputs={}, params_path=params) as run:
        mlflow.log_metrics({f"{m}.correct_tool_rate": 0.2 + 0.2 * i for i, m in enumerate(["base", "sft", "dpo"])})
        tracking.run_file(tmp_path / name, run)
    with tracking.stage_run("simulate", inputs={}, params_path=params, upstream=tmp_path / name):
        mlflow.log_metrics(simulate_metrics(shift))


def test_notebook_compares_the_simulated_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.delenv("DVC_EXP_BASELINE_REV", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    log_pipeline_run("older-exp", 0.05, tmp_path, monkeypatch)
    log_pipeline_run("newer-exp", 0.0, tmp_path, monkeypatch)
    monkeypatch.delenv("DVC_EXP_NAME")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert not [c for c in nb.cells if c.cell_type == "code" and c.outputs], "commit the notebook with outputs cleared"
    start = time.perf_counter()
    # raises CellExecutionError (with the cell and traceback) if any cell fails
    NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
    ).execute()
    assert time.perf_counter() - start < 60
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "pipeline runs with simulated customers: 2; latest: newer-exp" in text
    assert "models: router, base, sft, dpo" in text
    assert "highest task success in newer-exp: dpo (55.0%)" in text
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs if o.output_type == "execute_result")
    html += "".join(o.get("data", {}).get("text/html", "") for o in outputs if o.output_type == "display_data")
    assert "cart_edits" in html and "correct_tool_rate" in html  # the scenario and evaluate tables
    assert sum("image/png" in o.get("data", {}) for o in outputs) == 4  # runs, pass^k, scenarios, evaluate
