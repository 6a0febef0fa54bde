"""pipelines/promote.py and pipelines/registry.py: the promotion gate on simulated figures, the
registry's `champion` alias and the durable copies, on a throwaway MLflow store and a made-up
models/export of a few bytes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
import yaml

from pipelines import promote, registry, tracking

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory) -> Path:
    """A migrated MLflow sqlite store, made once: creating the tables takes seconds, a copy does not."""
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    mlflow.MlflowClient(f"sqlite:///{path}").search_registered_models()
    return path


@pytest.fixture
def store(empty_store, tmp_path, monkeypatch) -> mlflow.MlflowClient:
    path = tmp_path / "mlflow.db"
    shutil.copy(empty_store, path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{path}")
    for name in ("DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "DVC_ROOT"):
        monkeypatch.delenv(name, raising=False)
    return mlflow.MlflowClient(f"sqlite:///{path}")


def interval(rate: float, low: float, high: float, n: int = 64) -> dict:
    return {"rate": rate, "low": low, "high": high, "n": n, "successes": round(rate * n)}


def simulate(success=(0.5, 0.38, 0.62), ungrounded=(0.03, 0.01, 0.11)) -> dict:
    row = {
        "task_success": interval(*success),
        "ungrounded_claim_rate": interval(*ungrounded),
        "conversion": interval(0.4, 0.29, 0.52),
        "cart_abandonment": interval(0.2, 0.12, 0.31),
        "pass_hat_k": {"1": 0.5, "2": 0.4, "3": 0.3, "4": 0.25},
        "avg_order_value_cents": 12990,
        "items_per_order": 1.2,
    }
    return {"models": {"router": row, "dpo": row}, "candidate": "dpo", "n_goals": 16, "trials_per_goal": 4}


class Stage:
    """One models/export, one metrics/simulate.json and the promote stage's command on them."""

    def __init__(self, tmp_path: Path, **params):
        self.tmp = tmp_path
        self.export = tmp_path / "export"
        self.promoted = tmp_path / "promoted"
        self.metrics = tmp_path / "promote.json"
        self.lock = tmp_path / "dvc.lock"
        settings = yaml.safe_load((REPO_ROOT / "params.yaml").read_text(encoding="utf-8"))
        settings["promote"].update(params)
        self.params = tmp_path / "params.yaml"
        self.params.write_text(yaml.safe_dump(settings), encoding="utf-8")

    def run(self, weights: bytes, figures: dict, run_file: Path | None = None) -> dict:
        """Promote a models/export holding `weights` (and the export stage's run file, when given)."""
        shutil.rmtree(self.export, ignore_errors=True)
        self.export.mkdir()
        if run_file:
            shutil.copy(run_file, self.export / tracking.RUN_FILE)
        (self.export / "model.safetensors").write_bytes(weights)
        (self.export / "config.json").write_text('{"model_type": "llama"}')
        (self.tmp / "simulate.json").write_text(json.dumps(figures))
        promote.main(
            ["--params", str(self.params), "--export", str(self.export), "--simulate", str(self.tmp / "simulate.json")]
            + ["--promoted", str(self.promoted), "--lock", str(self.lock), "--metrics", str(self.metrics)]
        )
        return json.loads(self.metrics.read_text())


def champion_version(client) -> int:
    return int(client.get_model_version_by_alias(registry.MODEL_NAME, registry.ALIAS).version)


def test_the_first_candidate_becomes_champion_v1_with_its_figures_and_a_copy(store, tmp_path, capsys):
    stage = Stage(tmp_path)
    summary = stage.run(b"weights-1", simulate())
    version = store.get_model_version_by_alias(registry.MODEL_NAME, registry.ALIAS)
    assert (summary["decision"], summary["version"], int(version.version)) == ("promoted", 1, 1)
    copy = stage.promoted / "v1"
    assert registry.version_path(version) == copy.resolve()
    assert (copy / "model.safetensors").read_bytes() == b"weights-1" and (copy / "config.json").is_file()
    assert [p.name for p in stage.promoted.iterdir()] == ["v1"]  # the staging directory is gone
    tags = version.tags
    assert tags["simulate.task_success.low"] == "0.38" and tags["simulate.ungrounded_claim_rate.high"] == "0.11"
    assert tags["simulate.pass_hat_4"] == "0.25" and tags["zapvendas.candidate"] == "dpo"
    assert tags["git.commit"] == tracking.git("rev-parse", "HEAD")
    assert tags[promote.EXPORT_MD5] == tracking.file_digest(stage.export)  # no dvc.lock: the content md5

    capsys.readouterr()
    promote.main(["--champion-path"])
    assert capsys.readouterr().out.strip() == str(copy.resolve())


def test_a_candidate_worse_beyond_the_interval_is_refused_and_the_champion_stays(store, tmp_path):
    stage = Stage(tmp_path)
    stage.run(b"weights-1", simulate(success=(0.6, 0.48, 0.71)))
    with pytest.raises(SystemExit) as refused:
        stage.run(b"weights-2", simulate(success=(0.3, 0.2, 0.42)))
    message = str(refused.value.code)
    assert "task_success: candidate 0.300 [0.200, 0.420] (n=64) vs champion 0.600 [0.480, 0.710] (n=64)" in message
    assert "ungrounded_claim_rate" not in message and "-S promote.force=true" in message
    assert champion_version(store) == 1 and sorted(p.name for p in stage.promoted.iterdir()) == ["v1"]
    assert len(store.search_model_versions(f"name = '{registry.MODEL_NAME}'")) == 1
    assert json.loads(stage.metrics.read_text())["decision"] == "refused"


def test_force_promotes_a_worse_candidate(store, tmp_path, capsys):
    Stage(tmp_path).run(b"weights-1", simulate(success=(0.6, 0.48, 0.71)))
    summary = Stage(tmp_path, force=True).run(b"weights-2", simulate(success=(0.3, 0.2, 0.42)))
    assert (summary["decision"], summary["forced"], champion_version(store)) == ("promoted", True, 2)
    assert "promoted although (promote.force=true) dpo is worse" in capsys.readouterr().out
    assert store.get_model_version(registry.MODEL_NAME, "2").tags["zapvendas.forced"] == "True"


def test_a_lower_rate_within_the_interval_is_promoted(store, tmp_path):
    stage = Stage(tmp_path)
    stage.run(b"weights-1", simulate(success=(0.6, 0.48, 0.71)))
    summary = stage.run(b"weights-2", simulate(success=(0.5, 0.38, 0.62)))  # overlaps the champion's interval
    assert summary["decision"] == "promoted" and champion_version(store) == 2
    assert summary["task_success"]["champion"]["low"] == 0.48


def test_more_ungrounded_claims_beyond_the_interval_are_refused_fewer_are_not(store, tmp_path):
    stage = Stage(tmp_path)
    stage.run(b"weights-1", simulate(ungrounded=(0.03, 0.01, 0.11)))
    with pytest.raises(SystemExit, match=r"ungrounded_claim_rate: candidate 0.250 \[0.160, 0.370\]"):
        stage.run(b"weights-2", simulate(ungrounded=(0.25, 0.16, 0.37)))
    assert champion_version(store) == 1
    stage.run(b"weights-3", simulate(ungrounded=(0.0, 0.0, 0.0)))  # lower is better
    assert champion_version(store) == 2


def test_an_identical_candidate_is_not_registered_again(store, tmp_path, capsys):
    stage = Stage(tmp_path)
    stage.lock.write_text(
        yaml.safe_dump(
            {
                "schema": "2.0",
                "stages": {
                    "export": {"outs": [{"path": os.path.relpath(stage.export, tracking.REPO), "md5": "abc.dir"}]},
                    "build_datasets": {"outs": [{"path": "data/processed/datasets", "md5": "d47a.dir"}]},
                },
            }
        )
    )
    stage.run(b"weights-1", simulate())
    tags = store.get_model_version(registry.MODEL_NAME, "1").tags
    assert tags[promote.EXPORT_MD5] == "abc.dir" and tags["lineage.data/processed/datasets.dvc_md5"] == "d47a.dir"
    summary = stage.run(b"weights-1", simulate(success=(0.1, 0.05, 0.2)))  # the same md5 in dvc.lock
    assert (summary["decision"], summary["version"]) == ("unchanged", 1)
    assert "identical to champion v1" in capsys.readouterr().out
    assert len(store.search_model_versions(f"name = '{registry.MODEL_NAME}'")) == 1


def test_only_the_newest_copies_are_kept_and_the_registry_notes_the_removed_one(store, tmp_path):
    stage = Stage(tmp_path, keep_versions=2)
    for i in range(3):
        stage.run(f"weights-{i}".encode(), simulate())
    assert sorted(p.name for p in stage.promoted.iterdir()) == ["v2", "v3"]
    assert store.get_model_version(registry.MODEL_NAME, "1").tags["zapvendas.files"] == "removed (keep_versions)"
    assert champion_version(store) == 3


def test_a_deleted_versions_number_never_names_a_new_copy(store, tmp_path):
    stage = Stage(tmp_path)
    stage.run(b"weights-1", simulate())
    store.delete_model_version(registry.MODEL_NAME, "1")  # gone from searches, its number still taken
    shutil.rmtree(stage.promoted / "v1")
    summary = stage.run(b"weights-2", simulate())
    version = store.get_model_version_by_alias(registry.MODEL_NAME, registry.ALIAS)
    assert summary["path"].endswith(f"v{version.version}") and registry.version_path(version).is_dir()


def test_the_version_links_the_export_run_and_the_training_runs_upstream(store, tmp_path):
    runs, upstream = {}, None
    for name in ("sft", "dpo", "export"):  # each stage nests under the last one's run file, as in dvc repro
        with tracking.stage_run(name, inputs={}, params_path=REPO_ROOT / "params.yaml", upstream=upstream) as run:
            tracking.run_file(tmp_path / "runs" / name, run)
        runs[name], upstream = run.info.run_id, tmp_path / "runs" / name
    Stage(tmp_path).run(b"weights", simulate(), run_file=upstream / tracking.RUN_FILE)
    version = store.get_model_version_by_alias(registry.MODEL_NAME, registry.ALIAS)
    assert version.run_id == runs["export"]
    assert {k: version.tags[f"run.{k}"] for k in runs} == runs
    assert version.tags["run.pipeline"] == store.get_run(runs["sft"]).data.tags["zapvendas.pipeline_run"]


def test_champion_path_exits_1_without_a_champion_and_creates_no_store(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'absent.db'}")
    with pytest.raises(SystemExit) as none:
        promote.main(["--champion-path"])
    assert none.value.code == 1 and capsys.readouterr().out == "" and not (tmp_path / "absent.db").exists()


def test_make_serve_serves_the_champion(store, tmp_path):
    stage = Stage(tmp_path)
    summary = stage.run(b"weights-1", simulate())
    env = {**os.environ, "ZAPVENDAS_PYTHON": sys.executable}  # bin/python: this interpreter
    proc = subprocess.run(["make", "-n", "-s", "serve"], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert f"--model {Path(summary['path']).resolve()} " in proc.stdout, proc.stdout + proc.stderr


def test_a_candidate_that_was_not_simulated_is_refused_with_the_fix(tmp_path):
    simulate = {"models": {"router": {}, "dpo": {}}, "candidate": "round2"}
    with pytest.raises(SystemExit, match="candidate 'round2' was not simulated.*simulate.models"):
        promote.promote(tmp_path, simulate, tmp_path, tmp_path / "dvc.lock", {}, {})
