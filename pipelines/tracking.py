"""MLflow tracking shared by the stages that train or evaluate (sft, dpo, evaluate, export).

- Store: `sqlite:///mlflow.db` at the root of the repository DVC runs from (DVC_ROOT: a queued
  experiment runs in a copy under .dvc/tmp/exps/, its runs still land in the repository's store; no
  server, `make mlflow` opens the UI on it); MLFLOW_TRACKING_URI overrides. Artifacts go next to the
  database, in mlartifacts/.
- Grouping: each stage runs as the child of a parent run (tag `zapvendas.stage` = pipeline), whose
  id every child carries (`zapvendas.pipeline_run`). Under `dvc exp run` the parent is the DVC
  experiment's, named after it (DVC_EXP_NAME): every stage the experiment reruns nests there, and
  `zapvendas.upstream_run` names the run that produced a reused input (an SFT adapter from `main`).
  Under a plain `dvc repro` the first stage opens a parent named `<branch>@<commit>`, and its id
  travels with the models (`<out>/mlflow_run.json`) for the next stages to nest under.
- DVC tags: `dvc.exp_name` (experiments only), `dvc.baseline_rev` (the commit the experiment started
  from; HEAD under `dvc repro`) and `dvc.params_diff` (JSON {key: [baseline value, value]}: params.yaml
  and the profile's file against that commit); `make experiments` adds `dvc.exp_rev` once DVC has
  committed the experiment.
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
PIPELINE = "pipeline"  # zapvendas.stage of the parent runs
PROFILES = "configs/profiles"
MAX_TAG = 5000  # MLflow's limit on a tag value is 8,000 characters (5,000 before MLflow 2.x)


def repo_root() -> Path:
    """The repository DVC runs from: a queued experiment runs in a copy (REPO) under .dvc/tmp/exps/,
    and DVC_ROOT names the original, where mlflow.db and the whole git history are."""
    return Path(os.environ.get("DVC_ROOT") or REPO)


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{repo_root() / 'mlflow.db'}"


def flatten(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = json.dumps(value) if isinstance(value, (list, tuple)) else value
    return flat


def git(*args: str, cwd: Path = REPO) -> str:
    """git's stdout, stripped; "" when git fails (no repository, unknown revision)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else ""


def git_tags() -> dict:
    commit = git("rev-parse", "HEAD")
    return {
        "git.commit": commit or "unknown",
        "git.dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))),
    }


def _yaml_at(rev: str, path: str) -> dict:
    """A YAML file as committed at `rev` in the repository DVC runs from ({} when absent)."""
    text = git("show", f"{rev}:{path}", cwd=repo_root()) if rev else ""
    return (yaml.safe_load(text) or {}) if text else {}


def _changed(before: dict, after: dict) -> dict[str, list]:
    old, new = flatten(before), flatten(after)
    return {k: [old.get(k), new.get(k)] for k in sorted(old.keys() | new.keys()) if old.get(k) != new.get(k)}


def params_diff(params: dict, rev: str) -> dict[str, list]:
    """{key: [value at `rev`, value now]} for params.yaml (`params`) and, when the profile is the same
    at `rev`, the profile's file (keys prefixed `configs/profiles/<profile>.yaml:`)."""
    baseline = _yaml_at(rev, "params.yaml")
    diff = _changed(baseline, params)
    profile = params.get("profile")
    current = REPO / PROFILES / f"{profile}.yaml"
    if profile and profile == baseline.get("profile") and current.is_file():
        rel = f"{PROFILES}/{profile}.yaml"
        now = yaml.safe_load(current.read_text(encoding="utf-8")) or {}
        diff.update({f"{rel}:{k}": v for k, v in _changed(_yaml_at(rev, rel), now).items()})
    return diff


def dvc_tags(params: dict) -> dict:
    """The DVC experiment a stage runs in: `dvc exp run` sets DVC_EXP_NAME and DVC_EXP_BASELINE_REV
    (the commit it started from) in every stage's environment; under `dvc repro` the baseline is HEAD."""
    baseline = os.environ.get("DVC_EXP_BASELINE_REV") or git("rev-parse", "HEAD", cwd=repo_root())
    tags = {
        "dvc.baseline_rev": baseline or "unknown",
        "dvc.params_diff": json.dumps(params_diff(params, baseline), sort_keys=True, default=str)[:MAX_TAG],
    }
    if os.environ.get("DVC_EXP_NAME"):
        tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    return tags


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


def _parent_run(client, experiment_id: str, upstream_parent: str | None, tags: dict) -> str:
    """The parent run a stage nests under: its DVC experiment's (found by name and baseline, else
    opened, named after it); under `dvc repro` the parent of the run that made its input, else a new
    one named `<branch>@<commit>`."""
    exp_name = tags.get("dvc.exp_name")
    if exp_name:
        found = client.search_runs(
            [experiment_id],
            f"tags.`zapvendas.stage` = '{PIPELINE}' and tags.`dvc.exp_name` = '{exp_name}'"
            f" and tags.`dvc.baseline_rev` = '{tags['dvc.baseline_rev']}'",
            max_results=1,
        )
        if found:
            return found[0].info.run_id
        name = exp_name
    else:
        if upstream_parent:
            try:
                return client.get_run(upstream_parent).info.run_id
            except Exception:  # another store (MLFLOW_TRACKING_URI changed) or a deleted run
                pass
        name = f"{git('rev-parse', '--abbrev-ref', 'HEAD') or 'repro'}@{tags['git.commit'][:7]}"
    parent = client.create_run(experiment_id, run_name=name, tags={"zapvendas.stage": PIPELINE, **tags})
    client.set_terminated(parent.info.run_id)
    return parent.info.run_id


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
    client = mlflow.MlflowClient()
    params = yaml.safe_load(Path(params_path).read_text(encoding="utf-8")) or {}
    shared = {"zapvendas.profile": str(params.get("profile")), **git_tags(), **dvc_tags(params)}
    upstream_run = read_run_file(upstream)
    parent_id = _parent_run(client, experiment_id, upstream_run.get("pipeline_run"), shared)
    tags = {
        "zapvendas.stage": stage,
        "zapvendas.pipeline_run": parent_id,
        **shared,
        **lineage_tags(inputs),
    }
    if upstream_run.get("run_id"):
        tags["zapvendas.upstream_run"] = upstream_run["run_id"]
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
