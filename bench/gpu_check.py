"""One prepared check of the GPU training path: SFT then DPO steps of the real stage code.

    bash bench/gpu_check.sh --out build/gpu_check                 # on a CUDA machine (≤ 8 minutes)
    python -m bench.gpu_check --dry-run --out /tmp/gpu_check      # same code paths on the CPU, tiny model

The `gpu` profile (QLoRA 4-bit, bf16, Liger kernels, padding-free batches, FlashAttention 2 where
installed) and `gpu-llama3-8b` had never run. This builds a model of Llama-3-8B's shape initialised
at random from its config (no weights can be downloaded there; a step's cost does not depend on the
weights) with the contract's tokenizer and chat template, writes literal conversations
(bench/literal_data.py), then runs pipelines.sft.build_trainer and pipelines.dpo.build_trainer
with the profile's recipe, as the stages do, minus MLflow (not installed on the GPU machine).

What is missing is said, never silently skipped: without bitsandbytes the profile's 4-bit load
falls back to bf16 LoRA; without flash-attn or liger-kernel, pipelines.train_utils.resolve_kernels
falls back to sdpa and plain kernels. Without trl or datasets nothing can run: the report says so.

Writes OUT/gpu_check.json: the environment, and per stage the losses (asserted finite, the last
below the first), tokens/s, peak GPU memory, and MFU = 6 · N · tokens/s / peak bf16 FLOP/s, with
N the model's parameters (the 6·N·tokens convention: forward 2N, backward 4N per token; a LoRA
step skips the frozen weights' gradients, so this overstates its work: it is the usual yardstick,
not the FLOPs the step did).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import platform
import shutil
import sys
import time
from pathlib import Path

import torch
import yaml

from bench.literal_data import write_datasets

REPO = Path(__file__).resolve().parents[1]
# Llama-3.x-8B (meta-llama/Llama-3.1-8B config.json); the vocabulary is the tokenizer's own
LLAMA3_8B = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
}
SMOKE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 2,
         "num_key_value_heads": 1, "tie_word_embeddings": True}  # fmt: skip
# Dense bf16 tensor-core peak, FLOP/s, from NVIDIA's datasheets (no sparsity)
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12}
CHECK_BATCH = 8  # rows per step
CHECK_LR = 1e-3  # LoRA on a random model: a rate that moves the loss within a few steps
OPTIONAL = ("trl", "datasets", "peft", "accelerate", "bitsandbytes", "flash_attn", "liger_kernel")


def environment() -> dict:
    cuda = torch.cuda.is_available()
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.processor() or platform.machine()})",
        "packages": {name: importlib.util.find_spec(name) is not None for name in OPTIONAL},
        "date": time.strftime("%Y-%m-%d"),
    }


def peak_flops(device: str) -> float | None:
    return next((flops for name, flops in PEAK_BF16.items() if name in device), None)


def build_base(tokenizer_dir: Path, shape: dict, out: Path, device: str, dtype: torch.dtype) -> int:
    """A random Llama of `shape` with the tokenizer of `tokenizer_dir`, saved like models/base."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from pipelines.base_model import set_end_of_turn
    from serve.contract import chat_template

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=4096, **shape)
    with torch.device(device):  # built where it trains: an 8B model initialised on the CPU takes minutes
        model = LlamaForCausalLM(config).to(dtype)
    set_end_of_turn(model, tokenizer)
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    (out / "chat_template.jinja").write_text(chat_template(), encoding="utf-8")
    n = sum(p.numel() for p in model.parameters())
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return n


def stage_argv(stage: str, work: Path, params: Path, steps: int, four_bit: bool) -> list[str]:
    """The stage's arguments as dvc.yaml gives them, on the check's files, with a few steps only."""
    argv = [
        "--config", str(REPO / f"configs/{stage}.yaml"), "--params", str(params),
        "--profiles", str(REPO / "configs/profiles"), "--base", str(work / "base"),
        "--data", str(work / "datasets" / ("sft" if stage == "sft" else "preference")),
        "--out", str(work / stage), "--checkpoints", str(work / f"checkpoints-{stage}"),
        "--max_steps", str(steps), "--logging_steps", "1", "--save_strategy", "no", "--eval_strategy", "no",
        "--report_to", "none", "--learning_rate", str(CHECK_LR),
        # one batch of rows, seen every step: the loss must go down on it (an overfit check; the
        # throughput is the same as on fresh rows of that length)
        "--per_device_train_batch_size", str(CHECK_BATCH), "--max_train_samples", str(CHECK_BATCH),
        "--gradient_accumulation_steps", "1", "--num_train_epochs", str(steps),
    ]  # fmt: skip
    if stage == "dpo":
        argv += ["--adapter", str(work / "sft")]
    if not four_bit:
        argv += ["--load_in_4bit", "false"]
    return argv


def run_stage(stage: str, argv: list[str], n_params: int, device: str) -> dict:
    """build_trainer of the stage, a few steps, and the figures."""
    import importlib

    from trl import DPOConfig, ModelConfig, SFTConfig

    from pipelines.train_utils import DataArguments, StageArguments, parse_stage_args, resolve_kernels

    module = importlib.import_module(f"pipelines.{stage}")
    config = {"sft": SFTConfig, "dpo": DPOConfig}[stage]
    kinds = (StageArguments, DataArguments, config, ModelConfig)
    stage_args, data_args, args, model_args, _ = parse_stage_args(stage, kinds, argv)
    args.output_dir = stage_args.checkpoints
    resolve_kernels(args, model_args)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    trainer = module.build_trainer(stage_args, data_args, args, model_args)
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    if stage == "dpo":
        trainer.model.delete_adapter("ref")
    trainer.save_model(stage_args.out)  # the DPO step starts from this adapter
    losses = [row["loss"] for row in trainer.state.log_history if "loss" in row]
    tokens_per_s = trainer._total_train_tokens / wall if wall else 0.0
    peak = peak_flops(torch.cuda.get_device_name(0)) if torch.cuda.is_available() else None
    return {
        "losses": losses,
        "steps": trainer.state.global_step,
        "seconds": round(wall, 2),
        "tokens_per_second": round(tokens_per_s, 1),
        "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None,
        "mfu": round(6 * n_params * tokens_per_s / peak, 4) if peak else None,
        "kernels": {"attn": model_args.attn_implementation, "liger": bool(getattr(args, "use_liger_kernel", False))},
        "load_in_4bit": bool(model_args.load_in_4bit),
    }


def check_losses(stage: str, losses: list[float]) -> None:
    if not losses or not all(math.isfinite(x) for x in losses):
        raise SystemExit(f"{stage}: losses not finite: {losses}")
    if len(losses) > 1 and not losses[-1] < losses[0]:
        raise SystemExit(f"{stage}: the loss did not go down over {len(losses)} steps: {losses}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--dry-run", action="store_true", help="CPU, smoke-shaped model and profile")
    parser.add_argument("--tokenizer", type=Path, default=REPO / "models/base", help="a models/base directory")
    parser.add_argument("--steps", type=int, default=None, help="steps per stage (default 8; dry run 4)")
    opts = parser.parse_args(argv)
    env = environment()
    report = {"environment": env, "dry_run": opts.dry_run}
    opts.out.mkdir(parents=True, exist_ok=True)
    missing = [p for p in ("trl", "datasets", "peft") if not env["packages"][p]]
    if missing or not (opts.dry_run or torch.cuda.is_available()):
        report["status"] = f"not run: missing {missing or 'a CUDA device'} (bench/gpu_check.sh installs wheels)"
        (opts.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        raise SystemExit(report["status"])
    device = "cpu" if opts.dry_run else "cuda"
    profile = "smoke" if opts.dry_run else "gpu"
    steps = opts.steps or (4 if opts.dry_run else 8)
    four_bit = not opts.dry_run and env["packages"]["bitsandbytes"]
    work = opts.out / "work"
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8")) | {"profile": profile}
    (work / "params.yaml").parent.mkdir(parents=True, exist_ok=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    write_datasets(work / "datasets", n_train=4 * CHECK_BATCH, n_eval=8)
    shape = SMOKE if opts.dry_run else LLAMA3_8B
    dtype = torch.float32 if opts.dry_run else torch.bfloat16
    started = time.perf_counter()
    n_params = build_base(opts.tokenizer, shape, work / "base", device, dtype)
    report |= {"model": "smoke" if opts.dry_run else "llama3-8b shape", "parameters": n_params, "profile": profile,
               "build_seconds": round(time.perf_counter() - started, 1),
               "fallbacks": [] if four_bit or opts.dry_run else ["bitsandbytes missing: bf16 LoRA, no 4-bit"]}  # fmt: skip
    for stage in ("sft", "dpo"):
        report[stage] = run_stage(
            stage, stage_argv(stage, work, work / "params.yaml", steps, four_bit), n_params, device
        )
        (opts.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        check_losses(stage, report[stage]["losses"])
    report["status"] = "ok"
    (opts.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(work / "base")  # an 8B checkpoint is 16 GB: nothing to bring back
    print(json.dumps({k: report[k] for k in ("status", "parameters", "sft", "dpo")}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
