"""Put the Olist CSVs in place for the DVC pipeline (run by `make run` before `dvc repro`).

    python -m pipelines.olist_source --dest data/raw/olist [--source DIR]

Source: `--source`, else the OLIST_DIR environment variable. With neither, CSVs already in
`--dest` are kept; with none there either, the small made-up fixture the tests use
(pipelines/olist_fixture.py, written to tests/assets/olist_fixture/) is copied, after saying how
to get the real Kaggle release.
Only files whose size or mtime differ are copied (mtimes are preserved), so a re-run leaves
`--dest` byte-identical and DVC sees no change. `SOURCE.txt` in `--dest` names the origin; it is
rewritten only when the origin changes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from pipelines.olist_fixture import FIXTURE_DIR, ensure_fixture
from pipelines.olist_schema import KAGGLE_HINT, OLIST_FILES, OPTIONAL_FILES

SOURCE_FILE = "SOURCE.txt"
REQUIRED = [name for key, name in OLIST_FILES.items() if key not in OPTIONAL_FILES]
OPTIONAL = [OLIST_FILES[key] for key in OPTIONAL_FILES]
HOW_TO_GET = (
    f"To use the full Olist release: `{KAGGLE_HINT}`, unzip it into data/raw/olist/ "
    "(or anywhere, then `make run OLIST_DIR=/that/dir` or `export OLIST_DIR=/that/dir`)."
)


class OlistSourceError(SystemExit):
    """A source that cannot be used; the message says which files are missing and where."""

    def __init__(self, message: str):
        super().__init__(f"olist_source: {message}")


def unchanged(src: Path, dst: Path) -> bool:
    """Same size and modification time (seconds); `sync` copies the mtime along, so a copy matches."""
    if not dst.exists():
        return False
    a, b = src.stat(), dst.stat()
    return a.st_size == b.st_size and int(a.st_mtime) == int(b.st_mtime)


def sync(src_dir: Path, dest: Path, origin: str) -> dict[str, list[str]]:
    """Mirror the nine Olist files from `src_dir` into `dest`; files absent at the source are removed
    from `dest` (they would belong to another origin). Returns the file names per action."""
    dest.mkdir(parents=True, exist_ok=True)
    done: dict[str, list[str]] = {"copied": [], "unchanged": [], "removed": [], "absent": []}
    for name in REQUIRED + OPTIONAL:
        src, dst = src_dir / name, dest / name
        if src.exists():
            if unchanged(src, dst):
                done["unchanged"].append(name)
            else:
                # copy bytes and mtime but not the mode: a read-only source must not leave a file
                # that the next copy cannot replace
                dst.unlink(missing_ok=True)
                shutil.copyfile(src, dst)
                os.utime(dst, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns))
                done["copied"].append(name)
            continue
        done["absent"].append(name)
        if dst.exists():
            dst.unlink()
            done["removed"].append(name)
    marker = dest / SOURCE_FILE
    if not marker.exists() or marker.read_text(encoding="utf-8").strip() != origin:
        marker.write_text(origin + "\n", encoding="utf-8")
    return done


def missing_required(directory: Path) -> list[str]:
    return [name for name in REQUIRED if not (directory / name).exists()]


def main(argv: list[str] | None = None) -> dict[str, list[str]] | None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, required=True, help="where the pipeline reads the CSVs")
    ap.add_argument("--source", type=Path, help="directory with the Kaggle CSVs (default: $OLIST_DIR)")
    args = ap.parse_args(argv)
    source = args.source or (Path(os.environ["OLIST_DIR"]) if os.environ.get("OLIST_DIR") else None)
    dest: Path = args.dest

    if source is not None:
        if not source.is_dir():
            raise OlistSourceError(f"Olist source {source} is not a directory. {HOW_TO_GET}")
        missing = missing_required(source)
        if missing:
            raise OlistSourceError(f"{source} lacks {len(missing)} Olist file(s): {', '.join(missing)}. {HOW_TO_GET}")
        # the path as given (normalised), not resolved: a relative OLIST_DIR such as ../shared/data/olist
        # reads the same in every clone, so SOURCE.txt (part of the DVC dependency) does not churn
        src_dir, origin = source, os.path.normpath(source)
    else:
        present = [n for n in REQUIRED + OPTIONAL if (dest / n).exists()]
        if present and not missing_required(dest):
            marker = dest / SOURCE_FILE
            origin = marker.read_text(encoding="utf-8").strip() if marker.exists() else "files placed there by hand"
            print(f"olist_source: keeping the Olist CSVs in {dest} (origin: {origin})")
            if origin.startswith("fixture"):
                print(f"olist_source: that is the small test fixture, not the real data. {HOW_TO_GET}")
            return None
        if present:
            raise OlistSourceError(
                f"{dest} holds only part of the Olist files (missing: {', '.join(missing_required(dest))}). "
                f"Complete it or remove it. {HOW_TO_GET}"
            )
        print(
            f"olist_source: no Olist CSVs found (no --source, OLIST_DIR unset, {dest} empty).\n"
            f"olist_source: running on the small made-up fixture {FIXTURE_DIR.name}/ (~40 products). {HOW_TO_GET}",
            file=sys.stderr,
        )
        src_dir = ensure_fixture()
        origin = f"fixture: {src_dir.relative_to(FIXTURE_DIR.parents[2])} (made-up sample, not Olist data)"

    done = sync(src_dir, dest, origin)
    for name in done["absent"]:
        if name in OPTIONAL:
            print(
                f"olist_source: warning: {src_dir} has no {name}; the support stage runs without Olist complaints",
                file=sys.stderr,
            )
    print(
        f"olist_source: {origin} → {dest}: copied {len(done['copied'])}, unchanged {len(done['unchanged'])}, "
        f"removed {len(done['removed'])}"
    )
    return done


if __name__ == "__main__":
    main()
