"""DVC experiments beside their MLflow runs: what an analyst compares, where an engineer jumps to.

    bin/python -m pipelines.experiments [--ui http://127.0.0.1:5000]      (make experiments)

- `runs()`: one row per pipeline (parent) run, that is per DVC experiment or `dvc repro`: its name,
  the DVC experiment's name, baseline commit and own commit, the params it changed against the
  baseline, the profile, the datasets it trained on (`<stage>.lineage.<input>.md5`) and each stage's
  metrics prefixed by the stage (`sft.train_loss`, `evaluate.dpo.valid_tool_call_rate`). Notebooks
  compare experiments with it; every value comes from the tags pipelines/tracking.py writes.
- `main`: prints those rows with a link into the MLflow UI, after tagging the runs of every finished
  experiment with its commit (`dvc.exp_rev`, read from git's refs/exps/), which no stage can know:
  DVC commits an experiment after its last stage.
"""

from __future__ import annotations

import argparse
import json

import pandas as pd

from pipelines import tracking

HEADLINE = ["sft.train_loss", "dpo.train_loss", "evaluate.dpo.valid_tool_call_rate", "evaluate.dpo.correct_tool_rate"]


def exp_refs(root=None) -> dict[tuple[str, str], str]:
    """(baseline commit, experiment name) → the experiment's commit, from refs/exps/<ba>/<seline>/<name>."""
    out = tracking.git(
        "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps", cwd=root or tracking.repo_root()
    )
    refs = {}
    for line in out.splitlines():
        ref, rev = line.split()
        parts = ref.split("/")
        if len(parts) == 5:
            refs[(parts[2] + parts[3], parts[4])] = rev
    return refs


def _client(tracking_uri: str | None):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri or tracking.tracking_uri())
    experiment = client.get_experiment_by_name(tracking.EXPERIMENT)
    return client, experiment.experiment_id if experiment else None


def _all_runs(client, experiment_id: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], max_results=1000, page_token=token, order_by=["start_time ASC"])
        runs += list(page)
        token = page.token
        if not token:
            return runs


def runs(tracking_uri: str | None = None) -> pd.DataFrame:
    """One row per pipeline run (see the module's docstring), oldest first; empty without runs."""
    client, experiment_id = _client(tracking_uri)
    if experiment_id is None:
        return pd.DataFrame()
    everything = _all_runs(client, experiment_id)
    rows = {}
    for run in everything:
        tags = run.data.tags
        if tags.get("zapvendas.stage") == tracking.PIPELINE:
            rows[run.info.run_id] = {
                "run": run.info.run_name,
                "run_id": run.info.run_id,
                "experiment_id": experiment_id,
                "exp_name": tags.get("dvc.exp_name"),
                "exp_rev": tags.get("dvc.exp_rev"),
                "baseline_rev": tags.get("dvc.baseline_rev"),
                "params_diff": json.loads(tags.get("dvc.params_diff") or "{}"),
                "profile": tags.get("zapvendas.profile"),
                "git_commit": tags.get("git.commit"),
                "started": pd.Timestamp(run.info.start_time, unit="ms"),
            }
    for run in everything:  # oldest first: a stage rerun under the same parent overwrites its values
        tags = run.data.tags
        row = rows.get(tags.get("zapvendas.pipeline_run"))
        stage = tags.get("zapvendas.stage")
        if row is None or stage == tracking.PIPELINE:
            continue
        row[f"{stage}.run_id"] = run.info.run_id
        row.update({f"{stage}.{k}": v for k, v in tags.items() if k.startswith("lineage.") and k.endswith("md5")})
        row.update({f"{stage}.{k}": v for k, v in run.data.metrics.items()})
    return pd.DataFrame(list(rows.values()))


def tag_exp_revs(tracking_uri: str | None = None, root=None) -> int:
    """Tag every run of a committed DVC experiment with the experiment's commit (`dvc.exp_rev`)."""
    refs = exp_refs(root)
    client, experiment_id = _client(tracking_uri)
    if experiment_id is None or not refs:
        return 0
    tagged = 0
    for run in _all_runs(client, experiment_id):
        tags = run.data.tags
        rev = refs.get((tags.get("dvc.baseline_rev", ""), tags.get("dvc.exp_name", "")))
        if rev and tags.get("dvc.exp_rev") != rev:
            client.set_tag(run.info.run_id, "dvc.exp_rev", rev)
            tagged += 1
    return tagged


def changed(diff: dict) -> str:
    return ", ".join(f"{k}={json.dumps(new)}" for k, (_, new) in diff.items()) or "-"


def table(frame: pd.DataFrame, ui: str) -> str:
    lines = []
    for _, row in frame.iterrows():
        figures = "  ".join(f"{name}={row[name]:.4g}" for name in HEADLINE if name in row and pd.notna(row[name]))
        rev = (row["exp_rev"] or "")[:7] if isinstance(row["exp_rev"], str) else "-"
        lines.append(
            f"{row['run']:<24} exp commit {rev:<7}  baseline {str(row['baseline_rev'])[:7]}  "
            f"profile {row['profile']}\n  params: {changed(row['params_diff'])}\n  {figures}\n"
            f"  {ui}/#/experiments/{row['experiment_id']}/runs/{row['run_id']}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ui", default="http://127.0.0.1:5000", help="the MLflow UI (`make mlflow`)")
    ap.add_argument("--tracking-uri", default=None, help="default: MLFLOW_TRACKING_URI, else mlflow.db")
    args = ap.parse_args(argv)
    tag_exp_revs(args.tracking_uri)
    frame = runs(args.tracking_uri)
    if frame.empty:
        print("no MLflow runs yet: `make run` or `bin/dvc exp run` first")
    else:
        print(table(frame, args.ui.rstrip("/")))
    return frame


if __name__ == "__main__":
    main()
