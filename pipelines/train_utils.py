"""What sft and dpo share: recipe parsing, data loading, resumable checkpoints, progress and curves.

Recipe resolution, lowest to highest priority (one rule for every training stage):
  configs/<stage>.yaml (the TRL recipe, flat keys of SFTConfig/DPOConfig + ModelConfig + ours)
  < configs/profiles/<profile>.yaml, block <stage>
  < params.yaml, block <stage> (non-null keys; what `dvc exp run -S sft.learning_rate=...` sets)
  < command-line flags (`python -m pipelines.sft ... --learning_rate 1e-4`).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import random
import resource
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml
from transformers import TrainerCallback
from transformers.trainer_utils import get_last_checkpoint
from trl import TrlParser

from serve.contract import TOOLS, read_jsonl


@dataclass
class StageArguments:
    """Paths and files, set in dvc.yaml (never in a recipe)."""

    base: str = field(metadata={"help": "base model directory (models/base)"})
    data: str = field(metadata={"help": "dataset directory with train/validation/test.jsonl"})
    out: str = field(metadata={"help": "output directory (the adapter)"})
    checkpoints: str = field(metadata={"help": "checkpoint directory, kept between runs to resume"})
    adapter: str | None = field(default=None, metadata={"help": "adapter to start from (dpo: models/sft)"})
    mix: str | None = field(
        default=None,
        metadata={"help": "another dataset directory whose train rows join the data's (round2: DPO's pairs)"},
    )
    metrics: str | None = field(default=None, metadata={"help": "DVC metrics JSON to write"})
    plots: str | None = field(default=None, metadata={"help": "DVC plots JSON (per-step curves) to write"})
    params: str = field(default="params.yaml")
    profiles: str = field(default="configs/profiles")


@dataclass
class DataArguments:
    """Recipe keys of ours (next to TRL's)."""

    max_train_samples: int | None = field(
        default=None, metadata={"help": "use the first N training rows (after shuffling)"}
    )
    max_eval_samples: int | None = field(default=None, metadata={"help": "use the first N validation rows"})
    mix_samples: int | None = field(default=None, metadata={"help": "rows drawn from --mix's train split"})
    shared_prefix: bool = field(default=True, metadata={"help": "pipelines.prefix_sharing forward (single process)"})


def parse_stage_args(stage: str, dataclass_types: tuple, argv: list[str] | None = None):
    """(*dataclasses, resolved recipe dict); `--config` names the recipe file. `--block` names the
    params.yaml and profile block when it is not the stage's own (round2 trains with dpo's code)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if "-h" in argv or "--help" in argv:
        TrlParser(dataclass_types).parse_args_into_dataclasses(["--help"])  # prints every key, exits
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", required=True)
    pre.add_argument("--params", default="params.yaml")
    pre.add_argument("--profiles", default="configs/profiles")
    pre.add_argument("--block", default=stage)
    known, rest = pre.parse_known_args(argv)
    stage = known.block
    recipe = _yaml(known.config)
    params = _yaml(known.params)
    profile = params.get("profile", "cpu")
    profile_file = Path(known.profiles) / f"{profile}.yaml"
    if not profile_file.is_file():
        raise SystemExit(f"{known.params}: profile {profile!r} has no file {profile_file}")
    recipe.update(_yaml(profile_file).get(stage) or {})
    recipe.update({k: v for k, v in (params.get(stage) or {}).items() if v is not None})
    parser = TrlParser(dataclass_types)
    unknown = parser.set_defaults_with_config(**recipe)
    if unknown:
        raise SystemExit(
            f"{stage} recipe ({known.config}, {profile_file}, {known.params}): unknown keys {unknown[::2]}"
        )
    parsed = parser.parse_args_into_dataclasses(args=rest + ["--params", known.params, "--profiles", known.profiles])
    # the recipe as it ends up, for logging: recipe keys plus what the command line set
    resolved = dict(recipe)
    for flag in (a[2:].split("=")[0] for a in rest if a.startswith("--")):
        for obj in parsed:
            if hasattr(obj, flag):
                resolved[flag] = getattr(obj, flag)
                break
    return (*parsed, {"profile": profile, "block": stage, **resolved})


def cpu_has_native_bf16() -> bool:
    """bf16 matmuls in hardware (AVX512-BF16 or AMX). Elsewhere oneDNN emulates them, far slower
    than fp32 (bench/RESULTS.md, "Figures behind settings")."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def resolve_kernels(args, model_args) -> None:
    """Optional kernels and precisions a profile asks for: used where this machine has them,
    otherwise said and turned off (the result is the same model, trained in fp32)."""
    if getattr(args, "bf16", False) and args.use_cpu and not cpu_has_native_bf16():
        print("this CPU has no native bf16 (AVX512-BF16/AMX): training in fp32 instead of bf16 autocast", flush=True)
        args.bf16, args.mixed_precision = False, "no"
    if model_args.attn_implementation == "flash_attention_2" and importlib.util.find_spec("flash_attn") is None:
        print("flash-attn is not installed: attention falls back to sdpa", flush=True)
        model_args.attn_implementation = "sdpa"
    if getattr(args, "use_liger_kernel", False) and importlib.util.find_spec("liger_kernel") is None:
        print("liger-kernel is not installed: Liger kernels are off", flush=True)
        args.use_liger_kernel = False


def _yaml(path: str | Path) -> dict:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise SystemExit(f"missing file: {path}") from None
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: expected a YAML mapping")
    return data


def load_split(data_dir: str | Path, split: str, required: tuple[str, ...], limit: int | None, seed: int) -> list[dict]:
    """Rows of <data_dir>/<split>.jsonl with the contract's tools attached (as JSON text: TRL accepts it,
    and Arrow cannot hold nine differently shaped schemas in one column)."""
    path = Path(data_dir) / f"{split}.jsonl"
    if not path.is_file():
        raise SystemExit(f"missing dataset file {path} (run the build_datasets stage)")
    rows = read_jsonl(path)
    for i, row in enumerate(rows):
        missing = [k for k in required if k not in row]
        if missing:
            raise SystemExit(f"{path}: line {i + 1} lacks {missing}")
    if limit is not None and limit < len(rows):
        rows = random.Random(seed).sample(rows, limit)  # a seeded subset that still mixes scenarios
    tools = json.dumps(TOOLS, ensure_ascii=False)
    return [{**{k: row[k] for k in required}, "tools": tools} for row in rows]


def file_digest(path: str | Path) -> str:
    """md5 of a file, or of a directory's (relative path, file md5) list: a content fingerprint."""
    path = Path(path)
    h = hashlib.md5()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if f != path else f.name).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


def resume_point(checkpoints: str | Path, fingerprint: dict) -> str | None:
    """The last checkpoint when it was written by this exact recipe + inputs; otherwise start clean.

    A checkpoint of another recipe or dataset would silently mix two trainings, so it is removed.
    """
    checkpoints = Path(checkpoints)
    stamp = checkpoints / "fingerprint.json"
    wanted = json.dumps(fingerprint, sort_keys=True, default=str)
    if stamp.is_file() and stamp.read_text() == wanted:
        last = get_last_checkpoint(str(checkpoints))
        if last:
            print(f"resuming from {last}", flush=True)
            return last
    if checkpoints.exists():
        shutil.rmtree(checkpoints)
    checkpoints.mkdir(parents=True)
    stamp.write_text(wanted)
    return None


def finish_checkpoints(checkpoints: str | Path) -> None:
    """A finished training's checkpoints go: resuming is for interrupted runs, and a later run of the
    stage (DVC reruns it when code or inputs change) must train afresh, not resume the final step."""
    shutil.rmtree(checkpoints, ignore_errors=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


class ProgressCallback(TrainerCallback):
    """One line per logging step: loss, lr, grad norm, tokens/s (from TRL's cumulative `num_tokens`), ETA.

    Keeps the rows for the DVC plots file and forwards each to `sink(step, metrics)` (MLflow).
    """

    def __init__(self, stage: str, sink=None):
        self.stage, self.sink, self.rows = stage, sink, []
        self._t0 = self._last_t = None
        self._last_tokens = self._first_step = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._t0 = self._last_t = time.perf_counter()
        self._first_step = state.global_step  # > 0 when resuming
        self._last_tokens = 0

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        now = time.perf_counter()
        row = {
            "step": state.global_step,
            **{k: v for k, v in logs.items() if isinstance(v, (int, float)) and math.isfinite(v)},
        }
        if "loss" in logs and "num_tokens" in logs:
            tokens = logs["num_tokens"]
            row["tokens_per_second"] = (tokens - self._last_tokens) / max(now - self._last_t, 1e-9)
            self._last_tokens, self._last_t = tokens, now
        row["peak_rss_mb"] = peak_rss_mb()
        done = state.global_step - self._first_step
        eta = (now - self._t0) / done * (state.max_steps - state.global_step) if done else float("nan")
        if "loss" in logs or "eval_loss" in logs:
            shown = {
                k: row[k] for k in ("loss", "eval_loss", "learning_rate", "grad_norm", "tokens_per_second") if k in row
            }
            text = " ".join(f"{k}={v:.4g}" for k, v in shown.items())
            print(f"[{self.stage}] step {state.global_step}/{state.max_steps} {text} ETA {eta:.0f}s", flush=True)
            self.rows.append(row)
            if self.sink:
                self.sink(state.global_step, row)

    def train_rows(self) -> list[dict]:
        return [r for r in self.rows if "loss" in r]


def train_summary(trainer, result, wall_s: float, **extra) -> dict:
    """The figures every training stage reports: losses, size, time, tokens/s and peak memory."""
    return {
        "train_loss": result.training_loss,
        **extra,
        "train_rows": len(trainer.train_dataset),
        "steps": result.global_step,
        "train_seconds": wall_s,
        "tokens_per_second": trainer._total_train_tokens / wall_s if wall_s else None,
        "peak_rss_mb": peak_rss_mb(),
    }


def write_json(path: str | Path | None, data) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, indent=2, default=float) + "\n", encoding="utf-8")
