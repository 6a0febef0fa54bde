"""The promoted model: the MLflow model registry's `champion` and the durable copies of its files.

The registered model `zapvendas-sales-agent` lives in the store of pipelines/tracking.py; the
version carrying the alias `champion` is the model `make serve` serves. Each version's source is a
copy of models/export in <promoted>/v<version>/ (models/promoted/ by default: git-ignored and no
DVC output, so `dvc repro` and `dvc checkout` never replace it); the newest few copies are kept,
the registry keeps every version.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from pipelines import tracking

MODEL_NAME = "zapvendas-sales-agent"
ALIAS = "champion"
VERSION_DIR = re.compile(r"^v(\d+)$")
MAX_TRIES = 20  # version numbers given back when deleted versions or old copies hold them


def client():
    import mlflow

    return mlflow.MlflowClient(tracking.tracking_uri())


def store_exists() -> bool:
    """False for a sqlite store whose file is missing (opening it would create an empty database)."""
    uri = tracking.tracking_uri()
    return not uri.startswith("sqlite:///") or Path(uri.removeprefix("sqlite:///")).is_file()


def champion(mlflow_client):
    """The version carrying the alias, or None (no registered model, or no alias yet)."""
    from mlflow.exceptions import MlflowException

    try:
        model = mlflow_client.get_registered_model(MODEL_NAME)
    except MlflowException as e:
        if e.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return mlflow_client.get_model_version_by_alias(MODEL_NAME, ALIAS) if ALIAS in model.aliases else None


def version_path(version) -> Path:
    return Path(unquote(urlparse(version.source).path))


def champion_path() -> Path | None:
    """The champion's directory when there is one and it is on this machine."""
    if not store_exists():
        return None
    version = champion(client())
    path = version_path(version) if version else None
    return path if path and path.is_dir() else None


def upstream_runs(mlflow_client, export_run: dict) -> dict[str, str]:
    """`run.<stage>` → run id: the export run (its run file's), each run whose output it used (dpo,
    sft: the `zapvendas.upstream_run` tags), the simulate run that scored it and the pipeline parent."""
    runs, run_id = {}, export_run.get("run_id")
    if export_run.get("pipeline_run"):
        runs["run.pipeline"] = export_run["pipeline_run"]
    while run_id and len(runs) < 8:
        try:
            tags = mlflow_client.get_run(run_id).data.tags
        except Exception:  # a run of another store (MLFLOW_TRACKING_URI changed) or a deleted one
            break
        runs[f"run.{tags.get('zapvendas.stage', 'unknown')}"] = run_id
        run_id = tags.get("zapvendas.upstream_run")
    if export_run.get("run_id") and (exp := mlflow_client.get_experiment_by_name(tracking.EXPERIMENT)):
        scored = mlflow_client.search_runs(
            [exp.experiment_id],
            f"tags.`zapvendas.stage` = 'simulate' and tags.`zapvendas.upstream_run` = '{export_run['run_id']}'",
            order_by=["start_time DESC"],
            max_results=1,
        )
        if scored:
            runs["run.simulate"] = scored[0].info.run_id
    return runs


def version_dirs(root: Path) -> list[tuple[int, Path]]:
    return sorted((int(m[1]), p) for p in root.iterdir() if (m := VERSION_DIR.match(p.name)) and p.is_dir())


def _new_version(mlflow_client, incoming: Path, root: Path, tags: dict, run_id: str | None):
    """The version number is known only once the version exists, so the copy waits in `incoming`
    and is renamed; a number the search cannot see (a deleted version) or whose directory is taken
    (a store started afresh) is given back and the next one tried."""
    seen = [int(v.version) for v in mlflow_client.search_model_versions(f"name = '{MODEL_NAME}'")]
    want = max(seen + [n for n, _ in version_dirs(root)], default=0) + 1
    for _ in range(MAX_TRIES):
        target = root / f"v{want}"
        version = mlflow_client.create_model_version(
            MODEL_NAME, target.resolve().as_uri(), run_id=run_id, tags=tags, description=f"files: {target}"
        )
        if int(version.version) == want:
            incoming.rename(target)
            return version
        mlflow_client.delete_model_version(MODEL_NAME, version.version)
        want = max(want, int(version.version) + 1)
    raise SystemExit(f"promote: no free version number in {MAX_TRIES} tries (directories under {root})")


def register(mlflow_client, model_dir: Path, root: Path, tags: dict, run_id: str | None):
    """Copy `model_dir` to <root>/v<N>, register it as version N with `tags` and make it the champion."""
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.create_registered_model(MODEL_NAME, description="zapvendas WhatsApp sales agent (models/export)")
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    root.mkdir(parents=True, exist_ok=True)
    incoming = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
    try:
        shutil.copytree(model_dir, incoming, dirs_exist_ok=True)
        version = _new_version(mlflow_client, incoming, root, tags, run_id)
    finally:
        shutil.rmtree(incoming, ignore_errors=True)
    mlflow_client.set_registered_model_alias(MODEL_NAME, ALIAS, version.version)
    return version


def prune(mlflow_client, root: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` version directories (the champion's is the newest)."""
    from mlflow.exceptions import MlflowException

    removed = []
    for number, path in version_dirs(root)[: -max(keep, 1)]:
        shutil.rmtree(path)
        removed.append(path)
        try:
            mlflow_client.set_model_version_tag(MODEL_NAME, str(number), "zapvendas.files", "removed (keep_versions)")
        except MlflowException:  # a directory left by a store started afresh: no version to note it on
            pass
    return removed
