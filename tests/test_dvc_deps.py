"""Every DVC stage lists what its command loads: the project modules it imports (transitively) and
the files those modules read, so a change to any of them reruns the stage and nothing else does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.import_graph import ImportGraph

REPO_ROOT = Path(__file__).resolve().parents[1]
STAGE_MODULE = re.compile(r"\bpython -m ([\w.]+)")
# Files a module reads at import or run time (the stage must list them too).
READS = {
    "serve.contract.template": ["configs/chat_template.jinja"],
    "serve.core.shopping_request": ["serve/core/shopping_lexicon.yaml"],
    "serve.conversation.knowledge": ["configs/store.yaml"],
}


def stages() -> dict[str, dict]:
    return yaml.safe_load((REPO_ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph.of(REPO_ROOT)


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


def loaded_files(graph: ImportGraph, cmd: str) -> set[str]:
    match = STAGE_MODULE.search(cmd)
    assert match, f"stage command does not run a project module: {cmd!r}"
    files = set()
    for module in graph.closure(match.group(1)):
        files.add(graph.files[module].relative_to(REPO_ROOT).as_posix())
        files.update(READS.get(module, []))
    return files


@pytest.mark.parametrize("stage", sorted(stages()))
def test_stage_deps_cover_every_module_it_imports(stage, graph):
    spec = stages()[stage]
    deps = [str(d) for d in spec.get("deps", [])]
    missing = sorted(f for f in loaded_files(graph, spec["cmd"]) if not covered(f, deps))
    assert not missing, f"stage {stage}: add to its deps in dvc.yaml: {missing}"


@pytest.mark.parametrize("stage", sorted(stages()))
def test_stage_deps_list_no_code_it_does_not_load(stage, graph):
    spec = stages()[stage]
    loaded = loaded_files(graph, spec["cmd"])
    code = [str(d) for d in spec.get("deps", []) if str(d).startswith(("serve/", "pipelines/"))]
    stale = [d for d in code if not any(covered(f, [d]) for f in loaded)]
    assert not stale, f"stage {stage}: its deps name code it never imports: {stale}"


def test_a_change_to_the_contract_retrains():
    """The reason for the check: sft and dpo attach the contract's tools to every training row."""
    for stage in ("synthesize", "build_datasets", "sft", "dpo", "evaluate", "export"):
        assert covered("serve/contract/tools.py", [str(d) for d in stages()[stage]["deps"]]), stage


def test_every_stage_runs_the_projects_interpreter():
    """bin/python (the repo's .venv whether or not it is activated; README "Experiments"), never a
    bare `python` (whatever PATH finds first); one relative path, so dvc.lock reads the same everywhere."""
    for stage, spec in stages().items():
        assert spec["cmd"].startswith("bin/python -m "), (stage, spec["cmd"])
    lock = yaml.safe_load((REPO_ROOT / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    assert all(entry["cmd"].startswith("bin/python -m ") for entry in lock.values())
