"""pipelines/tracking.py under `dvc exp run`: the stages of one DVC experiment nest under one parent run
named after it, carry its name, baseline and params diff, and name the run whose output they reused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelines import experiments, tracking


@pytest.fixture
def store(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    for name in ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "DVC_ROOT"):
        monkeypatch.delenv(name, raising=False)
    return uri


def params_file(tmp_path, **changes) -> str:
    """params.yaml as committed at HEAD (the baseline), with `block__key=value` changes."""
    params = yaml.safe_load(tracking.git("show", "HEAD:params.yaml"))
    for key, value in changes.items():
        block, _, name = key.partition("__")
        if name:
            params[block][name] = value
        else:
            params[block] = value
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return str(path)


def run_stage(stage: str, params: str, out, upstream=None) -> str:
    with tracking.stage_run(stage, inputs={}, params_path=params, upstream=upstream) as run:
        tracking.run_file(out, run)
    return run.info.run_id


def test_an_experiment_groups_its_stages_under_one_parent_named_after_it(store, tmp_path, monkeypatch):
    params = params_file(tmp_path, sft__learning_rate=1e-4)
    sft_main = run_stage("sft", params, tmp_path / "sft")  # `dvc repro` on the baseline
    head = tracking.git("rev-parse", "HEAD")
    monkeypatch.setenv("DVC_EXP_NAME", "bally-tusk")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", head)
    dpo = run_stage("dpo", params, tmp_path / "dpo", upstream=tmp_path / "sft")  # reuses main's SFT adapter
    evaluate = run_stage("evaluate", params, tmp_path / "evaluate", upstream=tmp_path / "dpo")

    frame = experiments.runs(store)
    assert sorted(frame["run"]) == sorted(
        ["bally-tusk", f"{tracking.git('rev-parse', '--abbrev-ref', 'HEAD')}@{head[:7]}"]
    )
    [row] = frame[frame["exp_name"] == "bally-tusk"].to_dict("records")
    assert (row["dpo.run_id"], row["evaluate.run_id"]) == (dpo, evaluate)
    assert row["baseline_rev"] == head and row["params_diff"]["sft.learning_rate"] == [None, 0.0001]

    import mlflow

    client = mlflow.MlflowClient(store)
    runs = {r: client.get_run(r).data.tags for r in (sft_main, dpo, evaluate)}
    assert runs[dpo]["mlflow.parentRunId"] == runs[evaluate]["mlflow.parentRunId"] == row["run_id"]
    assert runs[sft_main]["mlflow.parentRunId"] != row["run_id"] and "dvc.exp_name" not in runs[sft_main]
    assert runs[dpo]["zapvendas.upstream_run"] == sft_main and runs[evaluate]["zapvendas.upstream_run"] == dpo
    assert json.loads(runs[evaluate]["dvc.params_diff"]) == row["params_diff"]


def test_params_diff_names_what_changed_against_a_commit(tmp_path):
    def load(path):
        return yaml.safe_load(Path(path).read_text(encoding="utf-8"))

    head = tracking.git("rev-parse", "HEAD")
    assert tracking.params_diff(load(params_file(tmp_path)), head) == {}
    changed = load(params_file(tmp_path, profile="smoke", dpo__beta=0.2))
    assert tracking.params_diff(changed, head) == {"dpo.beta": [None, 0.2], "profile": ["cpu", "smoke"]}
    no_baseline = tracking.params_diff(changed, "")  # no commit to compare with: every value set
    assert set(no_baseline) == {k for k, v in tracking.flatten(changed).items() if v is not None}
