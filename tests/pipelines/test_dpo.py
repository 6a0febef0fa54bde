"""Stage dpo: the reference is the SFT policy, the shared-prefix forward gives TRL's DPO loss, the output is one adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from pipelines import dpo, prefix_sharing
from pipelines.train_utils import DataArguments, StageArguments, parse_stage_args

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _trainer(smoke_run, tmp_path, *extra):
    (tmp_path / "params.yaml").write_text("profile: smoke\n")
    argv = [
        "--config",
        str(CONFIGS / "dpo.yaml"),
        "--profiles",
        str(CONFIGS / "profiles"),
        "--params",
        str(tmp_path / "params.yaml"),
        "--base",
        str(smoke_run / "models/base"),
        "--adapter",
        str(smoke_run / "models/sft"),
        "--data",
        str(smoke_run / "data/processed/datasets/preference"),
        "--out",
        str(tmp_path / "out"),
        "--checkpoints",
        str(tmp_path / "ck"),
        *extra,
    ]
    stage, data_args, args, model_args, _ = parse_stage_args(
        "dpo", (StageArguments, DataArguments, dpo.DPOConfig, dpo.ModelConfig), argv
    )
    args.output_dir = stage.checkpoints
    return dpo.build_trainer(stage, data_args, args, model_args)


def _loss_and_grads(trainer, batch):
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, dict(batch))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    trainer.model.zero_grad()
    return loss.detach(), grads


def test_reference_is_the_sft_policy(smoke_run, tmp_path):
    trainer = _trainer(smoke_run, tmp_path, "--shared_prefix", "false")
    sft = load_file(smoke_run / "models/sft/adapter_model.safetensors")
    params = dict(trainer.model.named_parameters())
    for key, value in sft.items():
        name = key.replace(".lora_A.weight", ".lora_A.ref.weight").replace(".lora_B.weight", ".lora_B.ref.weight")
        assert torch.equal(params[name].detach(), value), name
        assert not params[name].requires_grad
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():
        trainer.compute_loss(trainer.model, dict(batch))
    # policy == reference before any update: every implicit reward is zero and the loss is log 2
    assert trainer._metrics["train"]["rewards/chosen"][-1] == pytest.approx(0.0, abs=1e-5)
    assert trainer._metrics["train"]["rewards/margins"][-1] == pytest.approx(0.0, abs=1e-5)


def test_shared_prefix_forward_gives_trls_dpo_loss(smoke_run, tmp_path):
    trainer = _trainer(smoke_run, tmp_path, "--shared_prefix", "false")
    with torch.no_grad():  # move the policy away from the reference so the loss is not log 2
        for p in trainer.model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.05)
    batch = next(iter(trainer.get_train_dataloader()))
    trl_loss, trl_grads = _loss_and_grads(trainer, batch)
    trl_rewards = trainer._metrics["train"]["rewards/margins"][-1]
    prefix_sharing.install(trainer.model.get_base_model(), outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
    our_loss, our_grads = _loss_and_grads(trainer, batch)
    assert abs(trl_loss.item() - 0.6931) > 1e-3
    assert our_loss.item() == pytest.approx(trl_loss.item(), rel=1e-5)
    assert trainer._metrics["train"]["rewards/margins"][-1] == pytest.approx(trl_rewards, rel=1e-4, abs=1e-6)
    assert trl_grads.keys() == our_grads.keys() and trl_grads
    for name, g in trl_grads.items():
        assert torch.allclose(g, our_grads[name], rtol=1e-3, atol=1e-6), name


def test_output_is_the_policy_adapter_only(smoke_run):
    out = load_file(smoke_run / "models/dpo/adapter_model.safetensors")
    assert not any(".ref." in k for k in out)
    assert not (smoke_run / "models/dpo/ref").exists()
    assert load_file(smoke_run / "models/sft/adapter_model.safetensors").keys() == out.keys()


def test_dpo_needs_the_sft_adapter(smoke_run, tmp_path):
    (tmp_path / "params.yaml").write_text("profile: smoke\n")
    with pytest.raises(SystemExit, match="dpo needs --adapter"):
        dpo.main(
            [
                "--config",
                str(CONFIGS / "dpo.yaml"),
                "--profiles",
                str(CONFIGS / "profiles"),
                "--params",
                str(tmp_path / "params.yaml"),
                "--base",
                str(smoke_run / "models/base"),
                "--data",
                str(tmp_path),
                "--out",
                str(tmp_path / "o"),
                "--checkpoints",
                str(tmp_path / "c"),
            ]
        )


def test_resume_restores_the_policy_not_the_sft_weights(smoke_run, tmp_path):
    from transformers import TrainerCallback
    from transformers.trainer_utils import get_last_checkpoint

    class Interrupt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step == 1

    trainer = _trainer(smoke_run, tmp_path, "--max_steps", "2", "--save_steps", "1")
    trainer.add_callback(Interrupt())
    trainer.train()
    checkpoint = get_last_checkpoint(str(tmp_path / "ck"))
    assert checkpoint.endswith("checkpoint-1")
    saved = load_file(f"{checkpoint}/adapter_model.safetensors")
    sft = load_file(smoke_run / "models/sft/adapter_model.safetensors")
    assert any(not torch.equal(saved[k], sft[k]) for k in sft)  # step 1 moved the policy

    seen = {}

    class Check(TrainerCallback):
        def on_step_begin(self, args, state, control, model=None, **kwargs):
            params = dict(model.named_parameters())
            seen[state.global_step] = all(
                torch.equal(params[k.replace(".weight", ".default.weight")].detach(), v) for k, v in saved.items()
            )

    resumed = _trainer(smoke_run, tmp_path, "--max_steps", "2", "--save_steps", "1")
    dpo.restore_policy(resumed.model, checkpoint)
    resumed.add_callback(Check())
    resumed.train(resume_from_checkpoint=checkpoint)
    assert seen == {1: True}


def test_round2_reads_its_own_block_and_mixes_dpo_pairs(smoke_run, tmp_path):
    from bench.literal_data import write_outcome_pairs

    pairs = write_outcome_pairs(tmp_path / "outcome_pairs", n=5)  # train.jsonl only: no validation split
    (tmp_path / "params.yaml").write_text("profile: smoke\nround2:\n  mix_samples: 3\n")
    argv = [
        "--block",
        "round2",
        "--config",
        str(CONFIGS / "dpo.yaml"),
        "--profiles",
        str(CONFIGS / "profiles"),
        "--params",
        str(tmp_path / "params.yaml"),
        "--base",
        str(smoke_run / "models/base"),
        "--adapter",
        str(smoke_run / "models/dpo"),
        "--data",
        str(pairs),
        "--mix",
        str(smoke_run / "data/processed/datasets/preference"),
        "--out",
        str(tmp_path / "out"),
        "--checkpoints",
        str(tmp_path / "ck"),
    ]
    stage, data_args, args, model_args, recipe = parse_stage_args(
        "dpo", (StageArguments, DataArguments, dpo.DPOConfig, dpo.ModelConfig), argv
    )
    assert recipe["block"] == "round2" and data_args.mix_samples == 3  # params.yaml over the profile's 4
    assert args.max_steps == 2  # the smoke profile's round2 block
    args.output_dir = stage.checkpoints
    trainer = dpo.build_trainer(stage, data_args, args, model_args)
    assert len(trainer.train_dataset) == 5 + 3
    # the reference is the DPO policy this round starts from
    start = load_file(smoke_run / "models/dpo/adapter_model.safetensors")
    params = dict(trainer.model.named_parameters())
    key = next(iter(start))
    assert torch.equal(params[key.replace(".weight", ".ref.weight")].detach(), start[key])
