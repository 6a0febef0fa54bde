"""olist_source: where data/raw/olist comes from, and re-runs that leave it untouched (DVC sees no change)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pipelines import olist_source
from pipelines.olist_fixture import ensure_fixture
from pipelines.olist_source import OPTIONAL, REQUIRED, SOURCE_FILE, main

FIXTURE = ensure_fixture()  # what olist_source copies when there is no Olist data

ALL = REQUIRED + OPTIONAL


def snapshot(directory: Path) -> dict[str, tuple[int, int, bytes]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(directory.iterdir())}


@pytest.fixture(autouse=True)
def no_olist_dir(monkeypatch):
    monkeypatch.delenv("OLIST_DIR", raising=False)


def test_fixture_has_the_nine_files():
    assert len(ALL) == 9 and all((FIXTURE / n).exists() for n in ALL)


def test_no_source_anywhere_copies_fixture_and_says_how_to_get_olist(tmp_path, capsys):
    dest = tmp_path / "raw" / "olist"
    done = main(["--dest", str(dest)])
    assert sorted(done["copied"]) == sorted(ALL)
    for name in ALL:
        assert (dest / name).read_bytes() == (FIXTURE / name).read_bytes()
    assert (dest / SOURCE_FILE).read_text().startswith("fixture")
    err = capsys.readouterr().err
    assert "kaggle datasets download -d olistbr/brazilian-ecommerce" in err and "OLIST_DIR" in err


def test_rerun_changes_nothing(tmp_path, capsys):
    dest = tmp_path / "olist"
    main(["--dest", str(dest), "--source", str(FIXTURE)])
    before = snapshot(dest)
    done = main(["--dest", str(dest), "--source", str(FIXTURE)])
    assert done["copied"] == [] and sorted(done["unchanged"]) == sorted(ALL)
    assert main(["--dest", str(dest)]) is None  # no source: keep what is there
    assert snapshot(dest) == before  # same bytes and mtimes, SOURCE.txt included
    assert "keeping the Olist CSVs" in capsys.readouterr().out


def test_changed_file_is_recopied_even_if_read_only(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    shutil.copytree(FIXTURE, src)
    for p in src.iterdir():
        p.chmod(0o444)  # the shared data directory is read-only
    main(["--dest", str(dest), "--source", str(src)])
    target = src / "olist_sellers_dataset.csv"
    target.chmod(0o644)
    target.write_text(target.read_text() + 'ffffffffffffffffffffffffffffffff,"01001",sao paulo,SP\n')
    target.chmod(0o444)
    os.utime(target, (1_700_000_000, 1_700_000_000))
    done = main(["--dest", str(dest), "--source", str(src)])
    assert done["copied"] == ["olist_sellers_dataset.csv"]
    assert (dest / target.name).read_bytes() == target.read_bytes()


def test_env_source_replaces_fixture_and_missing_optional_file_warns(tmp_path, monkeypatch, capsys):
    dest = tmp_path / "dest"
    main(["--dest", str(dest)])  # starts on the fixture
    kaggle = tmp_path / "kaggle"  # a Kaggle download: no classified complaints file
    kaggle.mkdir()
    for name in REQUIRED:
        shutil.copy(FIXTURE / name, kaggle / name)
    monkeypatch.setenv("OLIST_DIR", str(kaggle))
    done = main(["--dest", str(dest)])
    assert done["removed"] == OPTIONAL and not (dest / OPTIONAL[0]).exists()  # no stale fixture file left
    assert (dest / SOURCE_FILE).read_text().strip() == str(kaggle)
    assert "warning" in capsys.readouterr().err


def test_source_missing_a_required_file_fails_clearly(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(FIXTURE, src)
    (src / "olist_order_items_dataset.csv").unlink()
    with pytest.raises(SystemExit) as err:
        main(["--dest", str(tmp_path / "dest"), "--source", str(src)])
    assert "olist_order_items_dataset.csv" in str(err.value) and "kaggle" in str(err.value)
    with pytest.raises(SystemExit, match="not a directory"):
        main(["--dest", str(tmp_path / "dest"), "--source", str(tmp_path / "nowhere")])


def test_half_filled_dest_is_not_overwritten_by_the_fixture(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "olist_products_dataset.csv").write_text("user data\n")
    with pytest.raises(SystemExit, match="only part of the Olist files"):
        main(["--dest", str(dest)])
    assert (dest / "olist_products_dataset.csv").read_text() == "user data\n"
    assert olist_source.missing_required(dest)
