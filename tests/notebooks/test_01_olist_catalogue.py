"""notebooks/01_olist_catalogue.ipynb runs top to bottom on a catalogue built from the fixture."""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from pipelines.ingest import main as ingest
from pipelines.olist_fixture import ensure_fixture

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_olist_catalogue.ipynb"
FIXTURE = ensure_fixture()  # the made-up Olist release (pipelines/olist_fixture.py), written once


def test_notebook_runs_on_fixture_catalogue(tmp_path, monkeypatch):
    catalogue = tmp_path / "catalogue"
    ingest(["--olist", str(FIXTURE), "--out", str(catalogue), "--metrics", str(tmp_path / "m.json"),
            "--params", str(ROOT / "params.yaml")])
    monkeypatch.setenv("CATALOGUE_DIR", str(catalogue))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    start = time.perf_counter()
    # raises CellExecutionError (with the cell and traceback) if any cell fails
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    assert time.perf_counter() - start < 60
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"catalogue: {catalogue}" in text and "produtos com avaliação" in text
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 5  # one figure per section
