"""Stage sft: supervised fine-tuning with TRL's SFTTrainer and a PEFT LoRA adapter.

Trains on the SFT set (chat messages, system prompt included) rendered with the contract's chat
template and tools; loss on assistant turns only (replies and tool calls, via the template's
generation tags and `assistant_only_loss`). On one process the step runs through
`pipelines.prefix_sharing` (same loss and gradients, ~2-3x fewer FLOPs on our data); on GPUs the
profile turns on padding-free batching instead.

    python -m pipelines.sft --config configs/sft.yaml --base models/base \
        --data data/processed/datasets/sft --out models/sft --checkpoints models/checkpoints/sft \
        --metrics metrics/sft.json --plots plots/sft.json [--learning_rate 1e-4 ...]
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from accelerate import PartialState
from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
from trl import ModelConfig, SFTConfig, SFTTrainer, get_peft_config, get_quantization_config

from pipelines import prefix_sharing, tracking
from pipelines.train_utils import (
    DataArguments,
    ProgressCallback,
    StageArguments,
    file_digest,
    finish_checkpoints,
    load_split,
    parse_stage_args,
    resolve_kernels,
    resume_point,
    train_summary,
    write_json,
)


def load_model(path: str, model_args: ModelConfig):
    quantization = get_quantization_config(model_args)  # 4-bit on the gpu profile (bitsandbytes)
    return AutoModelForCausalLM.from_pretrained(
        path,
        dtype=model_args.dtype if model_args.dtype in (None, "auto") else getattr(torch, model_args.dtype),
        attn_implementation=model_args.attn_implementation,
        quantization_config=quantization,
        # bitsandbytes weights must sit on this process's GPU (one per process under accelerate/DDP)
        device_map={"": PartialState().local_process_index} if quantization is not None else None,
    )


def build_trainer(
    stage: StageArguments, data_args: DataArguments, args: SFTConfig, model_args: ModelConfig, callbacks=()
):
    tokenizer = AutoTokenizer.from_pretrained(stage.base)
    from datasets import Dataset

    train = load_split(stage.data, "train", ("messages",), data_args.max_train_samples, args.seed)
    evals = load_split(stage.data, "validation", ("messages",), data_args.max_eval_samples, args.seed)
    trainer = SFTTrainer(
        model=load_model(stage.base, model_args),
        args=args,
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(evals) if evals and args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        peft_config=get_peft_config(model_args),
        callbacks=list(callbacks),
    )
    single = trainer.accelerator.num_processes == 1
    if data_args.shared_prefix and single and not (args.padding_free or args.packing or args.gradient_checkpointing):
        base = trainer.model.get_base_model() if hasattr(trainer.model, "get_base_model") else trainer.model
        prefix_sharing.install(base, outputs=("log_probs", "entropy", "is_top1"))  # what SFTTrainer requests
    return trainer


def main(argv: list[str] | None = None) -> None:
    stage, data_args, args, model_args, recipe = parse_stage_args(
        "sft", (StageArguments, DataArguments, SFTConfig, ModelConfig), argv
    )
    args.output_dir = stage.checkpoints
    resolve_kernels(args, model_args)
    set_seed(args.seed)
    fingerprint = {
        "recipe": recipe,
        "base": file_digest(Path(stage.base) / "config.json"),
        "data": file_digest(stage.data),
    }
    with tracking.stage_run(
        "sft", inputs={"base": stage.base, "data": stage.data}, params_path=stage.params, recipe=recipe
    ) as run:
        progress = ProgressCallback("sft", tracking.step_logger())
        trainer = build_trainer(stage, data_args, args, model_args, callbacks=[progress])
        start = time.perf_counter()
        result = trainer.train(resume_from_checkpoint=resume_point(stage.checkpoints, fingerprint))
        wall = time.perf_counter() - start
        metrics = trainer.evaluate() if trainer.eval_dataset is not None else {}
        trainer.save_model(stage.out)  # the LoRA adapter + tokenizer (with the chat template)
        finish_checkpoints(stage.checkpoints)
        train_rows = progress.train_rows()
        summary = train_summary(
            trainer,
            result,
            wall,
            final_loss=train_rows[-1]["loss"] if train_rows else None,
            eval_loss=metrics.get("eval_loss"),
            eval_mean_token_accuracy=metrics.get("eval_mean_token_accuracy"),
        )
        tracking.log_trained_adapter(run, summary, recipe, stage.out)
    write_json(stage.metrics, summary)
    write_json(stage.plots, train_rows)
    print(f"sft: adapter in {stage.out}; {summary}")


if __name__ == "__main__":
    main()
