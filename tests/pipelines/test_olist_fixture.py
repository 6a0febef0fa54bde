"""pipelines/olist_fixture.py: the made-up Olist release is written on demand, the same bytes every time."""

from pipelines.olist_fixture import ensure_fixture, write_fixture
from pipelines.olist_schema import OLIST_FILES


def test_written_on_demand_and_byte_for_byte_reproducible(tmp_path):
    a = ensure_fixture(tmp_path / "a")  # missing: written
    b = write_fixture(tmp_path / "b")
    assert sorted(p.name for p in a.iterdir()) == sorted(OLIST_FILES.values())
    assert all((a / n).read_bytes() == (b / n).read_bytes() for n in OLIST_FILES.values())
    (a / OLIST_FILES["orders"]).write_text("kept\n")
    assert (ensure_fixture(a) / OLIST_FILES["orders"]).read_text() == "kept\n"  # complete: left alone
