"""The layers of serve/ and the seam with pipelines/, checked on the import graph (ast, no execution).

Arrows point down only (README, "Layers"): a module imports its own layer or the ones below it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.import_graph import ImportGraph

REPO_ROOT = Path(__file__).resolve().parents[1]
# Bottom to top. settings and logs are configuration leaves: any layer may read them.
LAYERS = {
    "serve.contract": 0,
    "serve.settings": 0,
    "serve.logs": 0,
    "serve.core": 1,
    "serve.storage": 2,
    "serve.commerce": 3,
    "serve.ops": 4,
    "serve.conversation": 5,
    "serve.whatsapp": 6,
    "serve.deps": 7,
    "serve.routers": 7,
    "serve.app": 8,
    "serve.__main__": 9,
    "serve.devtools": 9,
}
# Imports inside functions between project modules, allowed only for an optional heavy extra
# (module → why). None today: everything the bot and the stages need is installed with them.
DEFERRED_IMPORTS: dict[tuple[str, str], str] = {}


@pytest.fixture(scope="module")
def graph() -> ImportGraph:
    return ImportGraph.of(REPO_ROOT)


def layer(module: str) -> int | None:
    for prefix, rank in LAYERS.items():
        if module == prefix or module.startswith(prefix + "."):
            return rank
    return None


def test_every_serving_module_has_a_layer(graph):
    unplaced = [m for m in graph.files if m.startswith("serve.") and layer(m) is None]
    assert not unplaced, f"put these modules in a layer (tests/test_architecture.py LAYERS): {unplaced}"


def test_arrows_point_down(graph):
    upward = [
        f"{m}:{i.line} imports {i.target}"
        for m in graph.files
        if m.startswith("serve.")
        for i in graph.imports[m]
        if i.target.startswith("serve.") and layer(i.target) > layer(m)
    ]
    assert not upward, "imports of a higher layer:\n" + "\n".join(sorted(upward))


def test_no_import_circles(graph):
    assert graph.cycles() == []


def test_no_imports_inside_functions(graph):
    deferred = [
        f"{m}:{i.line} imports {i.target}"
        for m in graph.files
        for i in graph.imports[m]
        if not i.top and (m, i.target) not in DEFERRED_IMPORTS
    ]
    assert not deferred, "move these imports to the top of the module:\n" + "\n".join(sorted(deferred))


def test_the_contract_and_configuration_stand_alone(graph):
    for m in graph.files:
        if m.startswith("serve.contract"):
            assert all(t.startswith("serve.contract") for t in graph.targets(m)), m
        if m in ("serve.settings", "serve.logs"):
            assert graph.targets(m) == set(), m


def test_training_sees_only_the_contract_and_the_core(graph):
    for m in graph.files:
        targets = graph.targets(m)
        if m.startswith("pipelines."):
            serving = {t for t in targets if t.startswith("serve.")}
            assert all(t.startswith(("serve.contract", "serve.core")) for t in serving), (m, serving)
        elif m.startswith("serve."):
            assert not any(t.startswith("pipelines.") for t in targets), (m, targets)


def test_the_simulator_sits_on_top(graph):
    """simulator/ drives the whole bot and reports into the pipeline's tracking: it may import
    serve (not its devtools) and pipelines; neither of them imports it."""
    for m in graph.files:
        targets = graph.targets(m)
        if m.startswith("simulator."):
            assert not any(t.startswith("serve.devtools") for t in targets), (m, targets)
        else:
            assert not any(t.startswith("simulator") for t in targets), (m, targets)


def test_devtools_are_not_part_of_the_app(graph):
    users = [
        m
        for m in graph.files
        if not m.startswith("serve.devtools") and any(t.startswith("serve.devtools") for t in graph.targets(m))
    ]
    assert users == []


def test_the_graph_reader_sees_what_it_must(graph):
    """The rules above are only as good as the reader: it resolves `from serve.x import name`,
    `from serve.x import module`, relative imports and function-level imports."""
    cart = graph.targets("serve.commerce.cart")
    assert {"serve.core.cart_math", "serve.storage.db", "serve.storage.tables"} <= cart
    assert "serve.core.tool_results" in graph.targets("pipelines.synth_world")
    assert "serve.commerce.payments.sandbox" in graph.targets("serve.commerce.payments")
    fake = ImportGraph(REPO_ROOT, files={"pkg.a": Path("a.py"), "pkg.b": Path("b.py")})
    fake.imports = {"pkg.a": set(), "pkg.b": set()}
    assert fake.cycles() == []
