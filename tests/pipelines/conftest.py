"""Fixtures for the training half: literal contract conversations (bench/literal_data.py) and a smoke-profile base model.

The rows follow the formats of build_datasets (brief: sft rows = {"id","scenario","language",
"messages": chat_messages(record)}; preference rows = {"id","kind","prompt","chosen","rejected"}),
built with the contract's helpers so the tests do not depend on the data stages.
"""

from __future__ import annotations

import importlib
import os
import shlex
from pathlib import Path

import pytest
import yaml

from bench.literal_data import preference_rows, sft_rows, write_datasets, write_outcome_pairs
from pipelines.base_model import build, stage_params

REPO = Path(__file__).resolve().parents[2]
TRAINING_STAGES = ("base_model", "sft", "dpo", "round2", "evaluate", "export")
OUTPUT_ROOTS = ("models/", "data/processed/", "metrics/", "plots/", "reports/")


def smoke_params(path: Path) -> Path:
    """params.yaml as the repo has it, on the smoke profile."""
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params["profile"] = "smoke"
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


def stage_argv(stage: str, root: Path, params: Path) -> tuple[str, list[str]]:
    """The stage's command from dvc.yaml, with its outputs and data moved under `root`."""
    cmd = shlex.split(yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"][stage]["cmd"])
    assert cmd[:2] == ["bin/python", "-m"], cmd
    argv = []
    for arg in cmd[3:]:
        if arg == "params.yaml":
            arg = str(params)
        elif arg.startswith(OUTPUT_ROOTS):
            arg = str(root / arg)
        elif arg.startswith("configs/"):
            arg = str(REPO / arg)
        argv.append(arg)
    return cmd[2], argv


def run_stage(stage: str, root: Path, params: Path) -> None:
    module, argv = stage_argv(stage, root, params)
    importlib.import_module(module).main(argv)


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """The training half of dvc.yaml (base_model → sft → dpo → round2 → evaluate → export) on the smoke
    profile, each stage's own command line, on literal datasets (round2's outcome pairs literal too:
    the outcome_pairs stage needs vLLM); MLflow in a temporary SQLite store."""
    root = tmp_path_factory.mktemp("smoke_run")
    write_datasets(root / "data/processed/datasets")
    write_outcome_pairs(root / "data/processed/outcome_pairs")
    params = smoke_params(root / "params.yaml")
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    try:
        for stage in TRAINING_STAGES:
            run_stage(stage, root, params)
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return root


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory) -> Path:
    """The base_model stage's output on the smoke profile alone (tiny random Llama, SmolLM2's
    tokenizer with the contract's template and eos): for tests that need the training tokenizer
    but not the whole training half."""
    root = tmp_path_factory.mktemp("tiny_base")
    _, settings = stage_params(smoke_params(root / "params.yaml"), REPO / "configs/profiles", "base_model")
    build(settings, root / "base")
    return root / "base"


@pytest.fixture(scope="session")
def smoke_base(smoke_run) -> Path:
    return smoke_run / "models/base"


@pytest.fixture(scope="session")
def datasets_dir(smoke_run) -> Path:
    return smoke_run / "data/processed/datasets"


@pytest.fixture
def sft_rows_8() -> list[dict]:
    return sft_rows(8, seed=1)


@pytest.fixture
def preference_rows_3() -> list[dict]:
    return preference_rows(3, seed=1)
