"""The ML engineer's journey of the README on a fresh clone of this working tree, on the smoke profile:
`make data`, the README's experiment (`bin/dvc exp run -S profile=smoke -S sft.learning_rate=1e-4 sft`)
without the virtualenv on PATH, `dvc exp show`, the experiment's MLflow runs, `dvc push` to the default
remote and `dvc pull` into a second clone. The whole pipeline and a queued sweep: test_sweep (slow)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from pipelines import experiments
from pipelines.train_utils import file_digest
from tests.pipelines.test_support import write_bitext

REPO = Path(__file__).resolve().parents[1]
README_EXPERIMENT = ["bin/dvc", "exp", "run", "-S", "profile=smoke", "-S", "sft.learning_rate=1e-4"]
PULLED = ["data/raw/olist", "data/raw/support", "data/processed/datasets", "models/base", "models/sft"]


def clean_env() -> dict[str, str]:
    """A shell without the virtualenv: not activated, not on PATH; no MLflow/DVC/Olist settings."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVC_", "MLFLOW_", "VIRTUAL_ENV", "OLIST_"))}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != venv_bin)
    for who in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{who}_NAME"], env[f"GIT_{who}_EMAIL"] = "test", "test@example.com"
    return env


def sh(cwd: Path, *cmd: str, timeout: int = 300) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)} (rc {proc.returncode})\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


def fresh_clone(dest: Path) -> Path:
    """This working tree as a fresh clone has it (tracked and untracked, not ignored, files; one commit on
    main), with `.venv` standing for `make venv`: a link to the virtualenv running the tests."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO, capture_output=True
    ).stdout
    dest.mkdir(parents=True)
    for name in filter(None, listed.decode().split("\0")):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    sh(dest, "git", "init", "-q", "-b", "main")
    sh(dest, "git", "add", "-A")
    sh(dest, "git", "commit", "-q", "-m", "fresh clone")
    (dest / ".venv").symlink_to(sys.prefix)
    return dest


def tree_md5s(root: Path, path: str) -> dict[str, str]:
    base = root / path
    files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
    return {p.relative_to(root).as_posix(): file_digest(p) for p in files}


@pytest.fixture(scope="module")
def journey(tmp_path_factory) -> dict:
    """One clone runs the README's experiment and pushes; a second clone pulls. Times in `seconds`."""
    top = tmp_path_factory.mktemp("journey")
    first = fresh_clone(top / "zapvendas")
    bitext = write_bitext(top / "bitext_customer_support.csv")
    seconds = {}
    start = time.perf_counter()
    # `make data` without reinstalling the linked virtualenv (-o: its stamp counts as up to date)
    sh(first, "make", "-o", ".venv/.installed", "data", f"BITEXT={bitext}")
    sh(first, *README_EXPERIMENT, "sft", timeout=600)
    seconds["exp_run"] = time.perf_counter() - start
    exp_show = json.loads(sh(first, "bin/dvc", "exp", "show", "--json"))
    sh(first, "git", "add", "-A")
    sh(first, "git", "commit", "-q", "-m", "the experiment's results")
    start = time.perf_counter()
    pushed = sh(first, "bin/dvc", "push")
    seconds["push"] = time.perf_counter() - start

    second = top / "zapvendas-second"  # a sibling: the default remote ../zapvendas-dvc-remote is shared
    sh(top, "git", "clone", "-q", str(first), str(second))
    (second / ".venv").symlink_to(sys.prefix)
    start = time.perf_counter()
    pulled = sh(second, "bin/dvc", "pull", "--with-deps", "sft")  # the other stages never ran here
    seconds["pull"] = time.perf_counter() - start
    print(f"journey seconds: {seconds}")
    return {
        "first": first,
        "second": second,
        "remote": top / "zapvendas-dvc-remote",
        "exp_show": exp_show,
        "pushed": pushed,
        "pulled": pulled,
        "seconds": seconds,
    }


def experiment_rows(exp_show: list[dict]) -> list[dict]:
    return [e for b in exp_show for e in (b.get("experiments") or []) for e in e.get("revs", [])]


def test_readme_experiment_is_listed_beside_main_and_tracked_in_mlflow(journey):
    first = journey["first"]
    assert [b["name"] for b in journey["exp_show"] if b.get("name")] == ["main"]
    [exp] = experiment_rows(journey["exp_show"])
    name = exp["name"]
    params = exp["data"]["params"]["params.yaml"]["data"]
    assert params["profile"] == "smoke" and params["sft"]["learning_rate"] == 1e-4
    assert {"metrics/sft.json"} <= set(exp["data"]["metrics"])

    baseline = sh(first, "git", "rev-parse", "HEAD~1").strip()  # the commit the experiment started from
    frame = experiments.runs(f"sqlite:///{first / 'mlflow.db'}")
    [row] = frame[frame["exp_name"] == name].to_dict("records")
    assert row["run"] == name and row["baseline_rev"] == baseline
    assert row["params_diff"] == {"profile": ["cpu", "smoke"], "sft.learning_rate": [None, 0.0001]}
    assert row["sft.train_loss"] > 0 and row["sft.lineage.data.md5"] == file_digest(
        first / "data/processed/datasets/sft"
    )
    import mlflow

    sft = mlflow.MlflowClient(f"sqlite:///{first / 'mlflow.db'}").get_run(row["sft.run_id"])
    assert sft.data.tags["mlflow.parentRunId"] == row["run_id"]
    assert sft.data.tags["dvc.exp_name"] == name and sft.data.tags["dvc.baseline_rev"] == baseline
    assert json.loads(sft.data.tags["dvc.params_diff"]) == row["params_diff"]
    assert sft.data.params["params.sft.learning_rate"] == "0.0001"

    # the experiment's commit (refs/exps/...) reaches its runs: dvc exp show's rev → MLflow
    assert experiments.tag_exp_revs(f"sqlite:///{first / 'mlflow.db'}", root=first) == 2
    [row] = experiments.runs(f"sqlite:///{first / 'mlflow.db'}").query("exp_name == @name").to_dict("records")
    assert row["exp_rev"] == exp["rev"]


def test_push_to_the_default_remote_and_pull_into_a_second_clone(journey):
    first, second = journey["first"], journey["second"]
    assert journey["remote"].is_dir() and any(journey["remote"].rglob("*")), journey["pushed"]
    for path in PULLED:
        mine, theirs = tree_md5s(first, path), tree_md5s(second, path)
        assert mine and mine == theirs, path
    # nothing to rerun in the second clone up to SFT: `dvc pull` replaced the training
    assert json.loads(sh(second, "bin/dvc", "status", "sft", "--json")) == {}
    assert journey["seconds"]["pull"] < 60
    lock = yaml.safe_load((second / "dvc.lock").read_text())["stages"]
    assert lock["sft"]["cmd"].startswith("bin/python -m pipelines.sft")


def queue_idle(clone: Path, limit_s: int = 1200) -> str:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        status = sh(clone, "bin/dvc", "queue", "status")
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(10)
    raise AssertionError(f"queue still busy after {limit_s} s:\n{status}")


@pytest.mark.slow
def test_readme_experiment_on_the_whole_pipeline_then_a_queued_sweep(tmp_path):
    """The README's experiment verbatim (whole pipeline, smoke profile; ~3 min), committed as the baseline
    of a queued sweep of two started by `bin/dvc queue start` without the venv on PATH (~2 min each):
    `dvc exp show` lists both, MLflow has one parent per experiment with its four stages, `dvc plots
    diff` renders them."""
    clone = fresh_clone(tmp_path / "zapvendas")
    sh(clone, "make", "-o", ".venv/.installed", "data", f"BITEXT={write_bitext(tmp_path / 'bitext.csv')}")
    sh(clone, *README_EXPERIMENT, timeout=900)
    sh(clone, "git", "add", "-A")
    sh(clone, "git", "commit", "-q", "-m", "smoke-profile baseline")
    sh(clone, "bin/dvc", "exp", "run", "--queue", "-S", "sft.learning_rate=5e-4,1e-3")
    sh(clone, "bin/dvc", "queue", "start")
    status = queue_idle(clone)
    swept = experiment_rows(json.loads(sh(clone, "bin/dvc", "exp", "show", "--json")))
    assert sorted(e["data"]["params"]["params.yaml"]["data"]["sft"]["learning_rate"] for e in swept) == [5e-4, 1e-3]
    assert status.count("Success") == 2, status

    frame = experiments.runs(f"sqlite:///{clone / 'mlflow.db'}")  # queued runs write to the clone's store
    named = frame.dropna(subset=["exp_name"])
    assert len(named) == 3 and set(named["run"]) == set(named["exp_name"])
    for _, row in named.iterrows():
        assert all(isinstance(row[f"{stage}.run_id"], str) for stage in ("sft", "dpo", "evaluate", "export"))
    names = sorted(e["name"] for e in swept)
    assert named.set_index("exp_name").loc[names, "params_diff"].map(list).tolist() == [["sft.learning_rate"]] * 2

    sh(clone, "bin/dvc", "plots", "diff", "main", *names, "-o", "dvc_plots")
    html = (clone / "dvc_plots/index.html").read_text()
    assert all(name in html for name in names)
