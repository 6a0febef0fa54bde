"""Stages dpo and round2: preference tuning with TRL's DPOTrainer, starting from an adapter.

The SFT adapter is loaded trainable; TRL copies it into a frozen "ref" adapter and computes the
reference log-probs with it, so the reference is the SFT policy (not the raw base). The output is
one adapter (the SFT adapter moved by DPO) that export merges into the base. Pairs come from
build_datasets: prompt (messages up to the last user/tool turn) + chosen / rejected assistant
message (wrong tool, wrong arguments, invented price, pushy, fake scarcity, wrong language).

    python -m pipelines.dpo --config configs/dpo.yaml --base models/base --adapter models/sft \
        --data data/processed/datasets/preference --out models/dpo --checkpoints models/checkpoints/dpo \
        --metrics metrics/dpo.json --plots plots/dpo.json [--beta 0.2 ...]

round2 (issue 11) is the same training from the DPO adapter on the outcome pairs of simulated
conversations (simulator/outcome_pairs_stage.py), with `--block round2` (its params and profile
blocks) and `--mix data/processed/datasets/preference`: `mix_samples` of DPO's own pairs join the
few outcome pairs, so that a round on a handful of pairs does not undo what DPO taught. The
reference is then the DPO policy.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from peft import PeftModel
from transformers import AutoTokenizer, set_seed
from trl import DPOConfig, DPOTrainer, ModelConfig

from pipelines import prefix_sharing, tracking
from pipelines.sft import load_model
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

COLUMNS = ("prompt", "chosen", "rejected")


def build_trainer(
    stage: StageArguments, data_args: DataArguments, args: DPOConfig, model_args: ModelConfig, callbacks=()
):
    from datasets import Dataset

    tokenizer = AutoTokenizer.from_pretrained(stage.base)
    policy = PeftModel.from_pretrained(load_model(stage.base, model_args), stage.adapter, is_trainable=True)
    # TRL drops pairs whose prompt fills max_length; draw spares so that max_train_samples pairs remain
    limit = data_args.max_train_samples
    train = load_split(stage.data, "train", COLUMNS, None if limit is None else 4 * limit, args.seed)
    if stage.mix:
        train += mixed_rows(stage.mix, data_args.mix_samples, tokenizer, args.max_length, args.seed)
        random.Random(args.seed).shuffle(train)  # max_train_samples below keeps the first rows
    evals = (
        load_split(stage.data, "validation", COLUMNS, data_args.max_eval_samples, args.seed)
        if args.eval_strategy != "no"
        else []
    )
    trainer = DPOTrainer(
        model=policy,
        args=args,
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(evals) if evals and args.eval_strategy != "no" else None,
        processing_class=tokenizer,
        callbacks=list(callbacks),
    )
    if len(trainer.train_dataset) < len(train):
        print(
            f"{stage.data}: TRL left out {len(train) - len(trainer.train_dataset)} pairs longer than max_length",
            flush=True,
        )
    if limit is not None and len(trainer.train_dataset) > limit:
        trainer.train_dataset = trainer.train_dataset.select(range(limit))
    if "ref" not in trainer.model.peft_config:
        raise RuntimeError("TRL did not keep a frozen copy of the SFT adapter: the reference would be the raw base")
    if data_args.shared_prefix and trainer.accelerator.num_processes == 1 and not args.gradient_checkpointing:
        outputs = ("log_probs", "entropy", "mean_logits", "is_top1") + (
            ("log_sum_sq_probs",) if args.use_weighting else ()
        )
        prefix_sharing.install(trainer.model.get_base_model(), outputs=outputs)  # what DPOTrainer requests
    return trainer


def mixed_rows(data_dir: str, n: int | None, tokenizer, max_length: int, seed: int) -> list[dict]:
    """n rows of another preference set (round2: DPO's pairs), each short enough that TRL keeps it:
    most synthetic prompts fill a CPU max_length, so spares are drawn and the long ones left out."""
    rows = load_split(data_dir, "train", COLUMNS, None, seed)
    random.Random(seed).shuffle(rows)
    tools = json.loads(rows[0]["tools"]) if rows else None
    kept = []
    for row in rows:
        if n is not None and len(kept) == n:
            break
        longest = max(
            len(tokenizer.apply_chat_template(row["prompt"] + row[side], tools=tools, return_dict=True)["input_ids"])
            for side in ("chosen", "rejected")
        )
        if longest <= max_length:
            kept.append(row)
    if n is not None and len(kept) < n:
        print(f"{data_dir}: only {len(kept)} of the {n} mixed pairs asked for fit max_length {max_length}", flush=True)
    return kept


def restore_policy(model, checkpoint: str) -> None:
    """Load the policy adapter of a DPO checkpoint before resuming.

    The checkpoint holds the policy at its root and the frozen reference in ref/; transformers'
    resume loads only sub-directory adapters when there are any, so without this the policy would
    restart from the SFT weights while the optimiser state and step count say otherwise.
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(Path(checkpoint) / "adapter_model.safetensors"))
    result = set_peft_model_state_dict(model, weights, adapter_name="default")
    if result.unexpected_keys:
        raise RuntimeError(f"{checkpoint}: adapter keys the policy does not have: {result.unexpected_keys[:3]}")


def main(argv: list[str] | None = None) -> None:
    stage, data_args, args, model_args, recipe = parse_stage_args(
        "dpo", (StageArguments, DataArguments, DPOConfig, ModelConfig), argv
    )
    name = recipe["block"]
    if not stage.adapter or not (Path(stage.adapter) / "adapter_config.json").is_file():
        raise SystemExit(f"{name} needs --adapter: the adapter to start from (got {stage.adapter!r})")
    args.output_dir = stage.checkpoints
    resolve_kernels(args, model_args)
    set_seed(args.seed)
    fingerprint = {
        "recipe": recipe,
        "adapter": file_digest(Path(stage.adapter) / "adapter_model.safetensors"),
        "data": file_digest(stage.data),
        "mix": stage.mix and file_digest(stage.mix),
    }
    # lineage: the parent adapter's and the pairs' DVC hashes land on the run as tags
    inputs = {"base": stage.base, "parent_adapter": stage.adapter, "data": stage.data, "mix": stage.mix}
    with tracking.stage_run(
        name, inputs=inputs, params_path=stage.params, recipe=recipe, upstream=stage.adapter
    ) as run:
        progress = ProgressCallback(name, tracking.step_logger())
        trainer = build_trainer(stage, data_args, args, model_args, callbacks=[progress])
        start = time.perf_counter()
        last = resume_point(stage.checkpoints, fingerprint)
        if last:
            restore_policy(trainer.model, last)
        result = trainer.train(resume_from_checkpoint=last)
        wall = time.perf_counter() - start
        metrics = trainer.evaluate() if trainer.eval_dataset is not None else {}
        trainer.model.delete_adapter("ref")  # keep only the trained policy adapter in the output
        trainer.save_model(stage.out)
        finish_checkpoints(stage.checkpoints)
        rows = progress.train_rows()
        last = rows[-1] if rows else {}
        summary = train_summary(
            trainer,
            result,
            wall,
            final_loss=last.get("loss"),
            final_reward_accuracy=last.get("rewards/accuracies"),
            final_reward_margin=last.get("rewards/margins"),
            eval_loss=metrics.get("eval_loss"),
            eval_reward_accuracy=metrics.get("eval_rewards/accuracies"),
        )
        tracking.log_trained_adapter(run, summary, recipe, stage.out)
    write_json(stage.metrics, summary)
    write_json(stage.plots, rows)
    print(f"{name}: adapter in {stage.out}; {summary}")


if __name__ == "__main__":
    main()
