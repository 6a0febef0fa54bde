"""SFT throughput: our step (pipelines/sft.py recipe + shared-prefix forward) vs a plain TRL SFTTrainer.

Both variants train the same LoRA on the same rows in the same order with the same optimiser
settings (learning rate, schedule, batch, steps, seed, LoRA shape, assistant-only loss), so their
loss curves must agree within noise; they differ only in how a step is computed:

- plain: `SFTTrainer` with SFTConfig defaults for everything else (bf16 autocast, gradient
  checkpointing on, TRL's fused LM head, which scores every position off CUDA);
- ours:  the cpu profile's recipe (`configs/sft.yaml` + `configs/profiles/cpu.yaml`): shared-prefix
  forward (pipelines/prefix_sharing.py), no gradient checkpointing;
- ours-no-prefix (ablation): the same recipe with `--shared_prefix false` (TRL's own forward), to
  show how much of the gain is the shared-prefix forward and how much the recipe.

Each variant runs in its own subprocess (peak RSS is per process), one after the other.

    python -m bench.train_throughput --base models/base --data data/processed/datasets/sft/train.jsonl \
        [--rows 16 --batch 4 --steps 4] [--out bench/train_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("plain", "ours", "ours-no-prefix")
# What is learned: shared by both variants (the rest of each config is the variant's own).
SAME = (
    "learning_rate",
    "lr_scheduler_type",
    "warmup_steps",
    "weight_decay",
    "max_grad_norm",
    "seed",
    "max_length",
    "assistant_only_loss",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "lora_target_modules",
    "use_peft",
)


def write_rows(src: Path, n: int, dst: Path) -> None:
    """First n rows as SFT rows (accepts build_datasets' sft rows or raw contract records)."""
    from serve.contract import chat_messages, read_jsonl, write_jsonl

    rows = read_jsonl(src)[:n]
    out = []
    for row in rows:
        messages = row["messages"] if row["messages"][0]["role"] == "system" else chat_messages(row)
        out.append({"id": row["id"], "messages": messages})
    dst.mkdir(parents=True, exist_ok=True)
    write_jsonl(dst / "train.jsonl", out)
    write_jsonl(dst / "validation.jsonl", out[:1])


def run_variant(variant: str, base: str, data: Path, batch: int, steps: int, workdir: Path) -> dict:
    """In this process: build the variant's trainer, train, return timings and the loss curve."""
    from trl import ModelConfig, SFTConfig, SFTTrainer, get_peft_config

    from pipelines import sft
    from pipelines.train_utils import (
        DataArguments,
        ProgressCallback,
        StageArguments,
        parse_stage_args,
        peak_rss_mb,
    )

    params = workdir / f"params-{variant}.yaml"
    params.write_text("profile: cpu\n")
    argv = [
        "--config",
        str(REPO / "configs/sft.yaml"),
        "--profiles",
        str(REPO / "configs/profiles"),
        "--params",
        str(params),
        "--base",
        base,
        "--data",
        str(data),
        "--out",
        str(workdir / variant),
        "--checkpoints",
        str(workdir / f"ck-{variant}"),
        "--max_steps",
        str(steps),
        "--per_device_train_batch_size",
        str(batch),
        "--gradient_accumulation_steps",
        "1",
        "--logging_steps",
        "1",
        "--save_strategy",
        "no",
        "--eval_strategy",
        "no",
        "--max_train_samples",
        str(batch * steps),
        "--disable_tqdm",
        "true",
    ]
    stage, data_args, args, model_args, recipe = parse_stage_args(
        "sft", (StageArguments, DataArguments, SFTConfig, ModelConfig), argv
    )
    args.output_dir = str(workdir / f"ck-{variant}")
    progress = ProgressCallback(variant)
    if variant == "ours-no-prefix":
        data_args.shared_prefix = False
    if variant in ("ours", "ours-no-prefix"):
        trainer = sft.build_trainer(stage, data_args, args, model_args, callbacks=[progress])
    else:
        from datasets import Dataset
        from transformers import AutoTokenizer

        from pipelines.train_utils import load_split

        plain = SFTConfig(
            output_dir=args.output_dir,
            per_device_train_batch_size=batch,
            max_steps=steps,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=True,
            **{k: getattr(args, k) for k in SAME if hasattr(args, k)},
        )
        rows = load_split(data, "train", ("messages",), batch * steps, args.seed)
        trainer = SFTTrainer(
            model=sft.load_model(base, ModelConfig()),
            args=plain,
            train_dataset=Dataset.from_list(rows),
            processing_class=AutoTokenizer.from_pretrained(base),
            peft_config=get_peft_config(model_args),
            callbacks=[progress],
        )
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    rows = progress.train_rows()
    steady = [r["tokens_per_second"] for r in rows[1:] if "tokens_per_second" in r]  # step 1 includes warm-up
    return {
        "variant": variant,
        "wall_s": wall,
        "tokens": trainer._total_train_tokens,
        "tokens_per_second": trainer._total_train_tokens / wall,
        "steady_tokens_per_second": sum(steady) / len(steady) if steady else None,
        "peak_rss_mb": peak_rss_mb(),
        "losses": [r["loss"] for r in rows],
        "bf16": trainer.args.bf16,
        "gradient_checkpointing": trainer.args.gradient_checkpointing,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", default="models/base")
    parser.add_argument("--data", default="data/processed/datasets/sft/train.jsonl", type=Path)
    parser.add_argument("--rows", type=int, default=16)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("bench/train_throughput.json"))
    parser.add_argument("--variant", choices=VARIANTS, help="internal: run one variant, print its JSON")
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args(argv)
    if args.variant:
        result = run_variant(args.variant, args.base, args.workdir / "data", args.batch, args.steps, args.workdir)
        print("RESULT " + json.dumps(result))
        return
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        write_rows(args.data, max(args.rows, args.batch * args.steps), Path(tmp) / "data")
        for variant in VARIANTS:
            cmd = [
                sys.executable,
                "-m",
                "bench.train_throughput",
                "--variant",
                variant,
                "--base",
                args.base,
                "--batch",
                str(args.batch),
                "--steps",
                str(args.steps),
                "--workdir",
                tmp,
            ]
            proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
            line = next((out for out in proc.stdout.splitlines() if out.startswith("RESULT ")), None)
            if proc.returncode or line is None:
                raise SystemExit(f"{variant} failed:\n{proc.stderr[-3000:]}")
            results[variant] = json.loads(line.removeprefix("RESULT "))
            print(
                f"{variant}: {results[variant]['tokens_per_second']:.0f} tokens/s, peak RSS {results[variant]['peak_rss_mb']:.0f} MB, "
                f"losses {[round(x, 4) for x in results[variant]['losses']]}",
                flush=True,
            )
    plain, ours = results["plain"], results["ours"]
    summary = {
        "speedup": ours["tokens_per_second"] / plain["tokens_per_second"],
        "steady_speedup": (
            ours["steady_tokens_per_second"] / plain["steady_tokens_per_second"]
            if ours["steady_tokens_per_second"] and plain["steady_tokens_per_second"]
            else None
        ),
        "max_abs_loss_diff": max(abs(a - b) for a, b in zip(plain["losses"], ours["losses"])),
        "memory_ratio": ours["peak_rss_mb"] / plain["peak_rss_mb"],
        "no_prefix_speedup": results["ours-no-prefix"]["tokens_per_second"] / plain["tokens_per_second"],
        "rows": args.batch * args.steps,
        "batch": args.batch,
        "steps": args.steps,
        "base": args.base,
    }
    args.out.write_text(json.dumps({"summary": summary, **results}, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
