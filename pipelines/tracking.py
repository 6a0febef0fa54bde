"""MLflow tracking shared by the stages that train or evaluate (sft, dpo, evaluate, export).

- Store: `sqlite:///mlflow.db` at the repo root (no server; `make mlflow` opens the UI on it);
  MLFLOW_TRACKING_URI overrides. Artifacts go next to the database, in mlartifacts/.
- Grouping: the sft stage opens a parent run ("pipeline") and each stage runs as its child; the
  parent's id travels with the models (`<out>/mlflow_run.json`), so dpo, evaluate and export of the
  same `dvc repro` (or a later `dvc exp run` that reuses that SFT) nest under the same parent and
  carry the tag `zapvendas.pipeline_run`.
- Lineage tags: git commit (+ dirty flag), and for every input directory its content md5 and, when
  DVC produced it, the md5 recorded in dvc.lock (`lineage.<name>.dvc_md5`).
- Params: params.yaml flattened (`params.*`) and the resolved recipe (`recipe.*`).
"""

from __future__ import annotations

import json
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import yaml

from pipelines.train_utils import file_digest
from serve.contract import CHAT_TEMPLATE_PATH

REPO = Path(__file__).resolve().parents[1]
EXPERIMENT = "zapvendas"
RUN_FILE = "mlflow_run.json"


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{REPO / 'mlflow.db'}"


def flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, (list, tuple)) else value
    return flat


def git_tags() -> dict:
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "HEAD")
    return {
        "git.commit": commit or "unknown",
        "git.dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))),
    }


def dvc_lock_md5s(lock_path: Path) -> dict[str, str]:
    """Every output path recorded in dvc.lock → its md5 (directories end in '.dir')."""
    if not lock_path.is_file():
        return {}
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
    return {o["path"]: o.get("md5", "") for stage in (lock.get("stages") or {}).values() for o in stage.get("outs", [])}


def lineage_tags(inputs: dict[str, str | Path], lock_path: Path | None = None) -> dict:
    locked = dvc_lock_md5s(lock_path or REPO / "dvc.lock")
    tags = {}
    for name, path in inputs.items():
        if path is None or not Path(path).exists():
            continue
        tags[f"lineage.{name}.path"] = str(path)
        tags[f"lineage.{name}.md5"] = file_digest(path)
        rel = os.path.relpath(Path(path).resolve(), REPO)
        for candidate, md5 in locked.items():
            if rel == candidate or rel.startswith(candidate.rstrip("/") + "/"):
                tags[f"lineage.{name}.dvc_md5"] = md5
    return tags


def _experiment_id(mlflow) -> str:
    exp = mlflow.get_experiment_by_name(EXPERIMENT)
    if exp is not None:
        return exp.experiment_id
    uri = mlflow.get_tracking_uri()
    location = None
    if uri.startswith("sqlite:///"):  # keep artifacts beside the database, not in the current directory
        location = (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").resolve().as_uri()
    return mlflow.create_experiment(EXPERIMENT, artifact_location=location)


def read_run_file(model_dir: str | Path | None) -> dict:
    path = Path(model_dir) / RUN_FILE if model_dir else None
    return json.loads(path.read_text()) if path and path.is_file() else {}


@contextmanager
def stage_run(
    stage: str, *, inputs: dict, params_path: str | Path, recipe: dict | None = None, upstream: str | Path | None = None
):
    """An MLflow child run for `stage` under the pipeline parent found in `upstream` (or a new one).

    Yields the active run; writes nothing itself: call `run_file(...)` to hand the ids downstream.
    """
    import mlflow

    mlflow.set_tracking_uri(tracking_uri())
    experiment_id = _experiment_id(mlflow)
    parent_id = read_run_file(upstream).get("pipeline_run")
    client = mlflow.MlflowClient()
    if parent_id:
        try:
            client.get_run(parent_id)
        except Exception:  # another store (MLFLOW_TRACKING_URI changed) or a deleted run
            parent_id = None
    if not parent_id:
        parent = client.create_run(
            experiment_id, run_name="pipeline", tags={"zapvendas.stage": "pipeline", **git_tags()}
        )
        parent_id = parent.info.run_id
        client.set_terminated(parent_id)
    params = yaml.safe_load(Path(params_path).read_text(encoding="utf-8")) or {}
    tags = {
        "zapvendas.stage": stage,
        "zapvendas.pipeline_run": parent_id,
        "zapvendas.profile": str(params.get("profile")),
        **git_tags(),
        **lineage_tags(inputs),
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=stage, parent_run_id=parent_id, tags=tags) as run:
        logged = {f"params.{k}": v for k, v in flatten(params).items()}
        logged.update({f"recipe.{k}": v for k, v in flatten(recipe or {}).items()})
        items = [(k, str(v)[:6000]) for k, v in logged.items()]
        for i in range(0, len(items), 100):  # MLflow takes at most 100 params per call
            mlflow.log_params(dict(items[i : i + 100]))
        yield run


def run_file(out_dir: str | Path, run) -> None:
    """Record the pipeline parent and this run in the stage's output, for the next stage to nest under."""
    data = {
        "pipeline_run": run.data.tags["zapvendas.pipeline_run"],
        "run_id": run.info.run_id,
        "experiment_id": run.info.experiment_id,
        "tracking_uri": tracking_uri(),
    }
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    (Path(out_dir) / RUN_FILE).write_text(json.dumps(data, indent=2) + "\n")


def log_trained_adapter(run, summary: dict, recipe: dict, adapter_dir: str | Path) -> None:
    """End of a training stage: its summary metrics, recipe, chat template and adapter into `run`,
    and the run file into the adapter directory (the next stage nests under the same parent)."""
    import mlflow

    mlflow.log_metrics({k: float(v) for k, v in summary.items() if v is not None})
    mlflow.log_artifact(str(CHAT_TEMPLATE_PATH))
    mlflow.log_dict(recipe, "recipe.json")
    mlflow.log_artifacts(str(adapter_dir), "adapter")
    run_file(adapter_dir, run)


def step_logger(prefix: str = ""):
    """A sink for ProgressCallback: per-step metrics into the active run."""
    import mlflow

    def sink(step: int, row: dict) -> None:
        mlflow.log_metrics({f"{prefix}{k}": float(v) for k, v in row.items() if k != "step"}, step=step)

    return sink
