"""Stage promote: the gate between a simulated candidate and the model `make serve` serves.

    python -m pipelines.promote --params params.yaml --export models/export --simulate metrics/simulate.json \
        --promoted models/promoted --metrics metrics/promote.json
    python -m pipelines.promote --champion-path      # the champion's directory (exit 1 when there is none)

The candidate is models/export, with the figures of the model metrics/simulate.json names as its
`candidate`; the champion is the registry's (pipelines/registry.py), with the figures stored as tags
on its version (`simulate.<figure>.<rate|low|high|n>`). The candidate is refused (exit 1, nothing
registered) when it is worse beyond the 95% intervals: its task-success interval lies wholly below
the champion's, or its ungrounded-claim interval wholly above. `promote.force: true`
(`dvc exp run -S promote.force=true`) promotes it anyway. A promoted candidate becomes a new version
with lineage tags (git commit, dvc.lock md5s of models/export and the data, the export, training and
simulate runs, the figures) and the alias; one whose models/export md5 is the champion's is not
registered again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

from pipelines import registry, tracking
from pipelines.train_utils import file_digest, write_json

# gated figure → the direction that is better (+1: higher, -1: lower)
GATES = {"task_success": +1, "ungrounded_claim_rate": -1}
TAGGED = ("task_success", "ungrounded_claim_rate", "conversion", "cart_abandonment")
FIELDS = ("rate", "low", "high", "n")
EXPORT_MD5 = "zapvendas.export_md5"
OVERRIDE = (
    "To promote it anyway: `bin/dvc exp run -S promote.force=true`"
    " (or set `promote: force: true` in params.yaml and `bin/dvc repro promote`)"
)


class Refused(Exception):
    def __init__(self, summary: dict, message: str):
        super().__init__(message)
        self.summary = summary


def figure_tags(figures: dict) -> dict[str, str]:
    tags = {f"simulate.{name}.{f}": str(figures[name][f]) for name in TAGGED if name in figures for f in FIELDS}
    tags.update({f"simulate.pass_hat_{k}": str(v) for k, v in figures.get("pass_hat_k", {}).items()})
    tags.update(
        {f"simulate.{k}": str(figures[k]) for k in ("avg_order_value_cents", "items_per_order") if k in figures}
    )
    return tags


def tagged_figures(tags: dict) -> dict | None:
    """The gated figures back from a version's tags; None when a version lacks them."""
    try:
        return {name: {f: float(tags[f"simulate.{name}.{f}"]) for f in FIELDS} for name in GATES}
    except KeyError:
        return None


def describe(figure: dict) -> str:
    return f"{figure['rate']:.3f} [{figure['low']:.3f}, {figure['high']:.3f}] (n={int(figure['n'])})"


def worse(candidate: dict, champion: dict) -> list[str]:
    """One line per gated figure on which the candidate's interval lies wholly on the worse side."""
    lines = []
    for name, better in GATES.items():
        cand, champ = candidate[name], champion[name]
        if better > 0 and cand["high"] < champ["low"]:
            why = "the candidate's upper bound is below the champion's lower bound"
        elif better < 0 and cand["low"] > champ["high"]:
            why = "the candidate's lower bound is above the champion's upper bound"
        else:
            continue
        lines.append(f"  {name}: candidate {describe(cand)} vs champion {describe(champ)}: {why}")
    return lines


def export_md5(export: Path, lock: Path) -> str:
    """models/export's md5 in dvc.lock (what DVC compares); its content md5 when DVC did not record it."""
    rel = os.path.relpath(export.resolve(), tracking.REPO)
    return tracking.dvc_lock_md5s(lock).get(rel) or file_digest(export)


def gate(current, figures: dict, summary: dict, force: bool) -> None:
    """Raise Refused when the candidate is worse than the champion `current` beyond the intervals
    (unless forced); fill the summary's comparison."""
    champion = tagged_figures(current.tags)
    if champion is None:
        print(f"promote: {registry.ALIAS} v{current.version} has no simulated figures to compare")
        return
    summary |= {g: {"candidate": figures[g], "champion": champion[g]} for g in GATES}
    lines = worse(figures, champion)
    if not lines:
        return
    head = f"{summary['candidate']} is worse than {registry.ALIAS} v{current.version} beyond the 95% intervals:"
    if not force:
        raise Refused(summary | {"decision": "refused"}, "\n".join([f"promote: refused: {head}", *lines, OVERRIDE]))
    print("\n".join([f"promote: promoted although (promote.force=true) {head}", *lines]))


def promote(export: Path, simulate: dict, root: Path, lock: Path, settings: dict, params: dict) -> dict:
    """Gate, then register and copy; returns the summary for metrics/promote.json."""
    name = simulate["candidate"]
    if name not in simulate["models"]:
        raise SystemExit(
            f"promote: the candidate {name!r} was not simulated (simulate.models: {sorted(simulate['models'])});"
            f" add it to params.yaml's simulate.models"
        )
    figures = simulate["models"][name]
    force = bool(settings.get("force"))
    client = registry.client()
    current = registry.champion(client)
    md5 = export_md5(export, lock)
    summary = {"candidate": name, "export_md5": md5, "forced": force} | {g: {"candidate": figures[g]} for g in GATES}
    if current is None:
        print(f"promote: no {registry.ALIAS} yet; {name} ({export}) becomes the first")
    else:
        summary["champion_version"] = int(current.version)
        if current.tags.get(EXPORT_MD5) == md5:
            print(f"promote: {export} is identical to {registry.ALIAS} v{current.version} (md5 {md5}); not registered")
            return summary | {"decision": "unchanged", "version": int(current.version)}
        gate(current, figures, summary, force)
    export_run = tracking.read_run_file(export)
    locked = tracking.dvc_lock_md5s(lock)
    tags = {
        **tracking.git_tags(),
        **tracking.dvc_tags(params),
        **{f"lineage.{path}.dvc_md5": v for path, v in locked.items() if path.startswith("data/")},
        EXPORT_MD5: md5,
        "zapvendas.candidate": name,
        "zapvendas.forced": str(force),
        **registry.upstream_runs(client, export_run),
        **figure_tags(figures),
    }
    version = registry.register(client, export, root, tags, export_run.get("run_id"))
    removed = registry.prune(client, root, int(settings.get("keep_versions", 2)))
    path = root / f"v{version.version}"
    print(f"promote: {name} is {registry.MODEL_NAME} v{version.version} ({registry.ALIAS}); files in {path}")
    if removed:
        print(f"promote: removed the older copies {', '.join(p.name for p in removed)} (promote.keep_versions)")
    return summary | {"decision": "promoted", "version": int(version.version), "path": str(path)}


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--champion-path", action="store_true", help="print the champion's directory and exit")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--export", type=Path, help="the candidate (models/export)")
    parser.add_argument("--simulate", type=Path, help="the simulate stage's metrics (metrics/simulate.json)")
    parser.add_argument("--promoted", type=Path, help="where promoted copies live; relative: to the repository")
    parser.add_argument("--lock", type=Path, default=tracking.REPO / "dvc.lock")
    parser.add_argument("--metrics", type=Path)
    args = parser.parse_args(argv)
    if args.champion_path:
        path = registry.champion_path()
        if path is None:
            sys.exit(1)
        print(path)
        return None
    if not (args.export and args.simulate and args.promoted and args.metrics):
        parser.error("--export, --simulate, --promoted and --metrics are required")
    params = yaml.safe_load(Path(args.params).read_text(encoding="utf-8")) or {}
    # a queued `dvc exp run` works in a copy under .dvc/tmp/exps/: the copies belong to the repository
    root = args.promoted if args.promoted.is_absolute() else tracking.repo_root() / args.promoted
    simulate = json.loads(args.simulate.read_text(encoding="utf-8"))
    try:
        summary = promote(args.export, simulate, root, args.lock, params.get("promote") or {}, params)
    except Refused as refused:
        write_json(args.metrics, refused.summary)
        raise SystemExit(str(refused)) from None
    write_json(args.metrics, summary)
    return summary


if __name__ == "__main__":
    main()
