"""What one GRPO step costs on this CPU, to weigh it against the outcome round's DPO (issue 11).

    bin/python -m bench.grpo_cost --base models/base --adapter models/dpo \
        --pairs data/processed/outcome_pairs/train.jsonl --rollouts metrics/outcome_pairs.json \
        --steps 3 --generations 4 --out bench/grpo_cost.json

Runs TRL's GRPOTrainer from the DPO adapter on the decision points of the outcome pairs (their
prompts, rendered with the contract's chat template and tools) for a few steps, with a reward that
costs nothing (the completion parses as a tool call or is plain text: 1, else 0), and measures the
seconds per step: sampling `generations` completions per prompt with transformers on the CPU, plus
the policy update. The outcome reward GRPO would need plays every completion out to the end of the
conversation (simulator/rollouts.py); its cost per completion is the outcome_pairs stage's
measured seconds per rollout (`--rollouts`: seconds / rollouts of that stage's metrics). Written
to --out: both, and the projected seconds per step and per 100 prompts with the real reward.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from serve.contract import TOOLS, read_jsonl
from serve.contract.template import extract_tool_calls


def prompt_text(tokenizer, messages: list[dict]) -> str:
    """The prompt as the served model reads it: a server-started call continues, else a new turn."""
    started = messages[-1].get("role") == "assistant"
    return tokenizer.apply_chat_template(
        messages, tools=TOOLS, tokenize=False, add_generation_prompt=not started, continue_final_message=started
    )


def well_formed(completions: list[str], **_) -> list[float]:
    """1 for plain text or a parsable call, 0 for a broken call: free to compute, unlike the outcome."""
    return [0.0 if "<tool_call>" in c and not extract_tool_calls(c)[1] else 1.0 for c in completions]


class StepTimer(TrainerCallback):
    def __init__(self):
        self.seconds: list[float] = []
        self._start = 0.0

    def on_step_begin(self, args, state, control, **kwargs):
        self._start = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.seconds.append(time.perf_counter() - self._start)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("--base", "--adapter", "--pairs", "--rollouts", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--generations", type=int, default=4)
    parser.add_argument("--prompts-per-step", type=int, default=2)
    parser.add_argument("--max-completion-length", type=int, default=64)
    args = parser.parse_args(argv)
    from datasets import Dataset

    tokenizer = AutoTokenizer.from_pretrained(args.base)
    rows = [{"prompt": prompt_text(tokenizer, r["prompt"])} for r in read_jsonl(args.pairs)]
    if not rows:
        raise SystemExit(f"{args.pairs}: no pairs, so no decision points to sample from")
    policy = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(args.base), args.adapter, is_trainable=True)
    config = GRPOConfig(
        output_dir=str(Path(args.out).parent / "grpo-cost-checkpoints"),
        use_cpu=True,
        bf16=False,
        num_generations=args.generations,
        per_device_train_batch_size=args.generations * args.prompts_per_step,
        max_completion_length=args.max_completion_length,
        max_steps=args.steps,
        learning_rate=2e-4,
        temperature=0.9,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
    )
    timer = StepTimer()
    trainer = GRPOTrainer(
        model=policy,
        reward_funcs=[well_formed],
        args=config,
        train_dataset=Dataset.from_list(rows * (1 + args.steps * args.prompts_per_step // len(rows))),
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.train()
    rollouts = json.loads(Path(args.rollouts).read_text(encoding="utf-8"))
    per_rollout = rollouts["seconds"] / max(1, rollouts["rollouts"] + rollouts["conversations"])
    step = sum(timer.seconds[1:]) / max(1, len(timer.seconds) - 1)  # the first step warms up
    completions = args.generations * args.prompts_per_step
    result = {
        "steps": len(timer.seconds),
        "seconds_per_step": timer.seconds,
        "completions_per_step": completions,
        "max_completion_length": args.max_completion_length,
        "grpo_seconds_per_step_without_reward": round(step, 1),
        "outcome_seconds_per_rollout": round(per_rollout, 2),
        "projected_seconds_per_step_with_outcome_reward": round(step + completions * per_rollout, 1),
        "projected_seconds_per_100_prompts": round(100 / args.prompts_per_step * (step + completions * per_rollout)),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
