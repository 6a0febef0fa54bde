"""Stage sft: the shared-prefix forward is exact, recipes resolve in order, training resumes, bad data is named."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from transformers import TrainerCallback

from pipelines import prefix_sharing, sft, train_utils
from pipelines.train_utils import DataArguments, StageArguments, load_split, parse_stage_args, resume_point
from serve.contract import TOOLS

REPO_CONFIGS = __import__("pathlib").Path(__file__).resolve().parents[2] / "configs"


def _batch(tokenizer, conversations):
    """Right-padded (input_ids, attention_mask, labels) with labels on assistant tokens, as TRL builds them."""
    rows = []
    for messages in conversations:
        out = tokenizer.apply_chat_template(messages, tools=TOOLS, return_dict=True, return_assistant_tokens_mask=True)
        rows.append((out["input_ids"], [t if m else -100 for t, m in zip(out["input_ids"], out["assistant_masks"])]))
    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), tokenizer.pad_token_id)
    labels = torch.full((len(rows), width), -100)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (i, lab) in enumerate(rows):
        ids[r, : len(i)], labels[r, : len(i)], mask[r, : len(i)] = torch.tensor(i), torch.tensor(lab), 1
    return ids, mask, labels


def _lora_model(base):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM
    from trl.trainer.utils import add_fused_lm_head

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base)
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))  # what SFTTrainer installs
    model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False))
    return model.train()


def _step(model, ids, mask, labels):
    out = model(input_ids=ids, attention_mask=mask, labels=labels, fused_lm_head=True, use_cache=False)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    model.zero_grad()
    return out, grads


def test_shared_prefix_forward_equals_trl_fused_head(smoke_base, request):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smoke_base)
    rows = request.getfixturevalue("sft_rows_8")
    rows = rows[:3] + rows[6:7]  # row 6 has a customer block: its prefix diverges from the others'
    assert any("Cliente:" in r["messages"][0]["content"] for r in rows)  # two different system prompts
    ids, mask, labels = _batch(tokenizer, [r["messages"] for r in rows])
    model = _lora_model(smoke_base)
    trl_out, trl_grads = _step(model, ids, mask, labels)
    prefix_sharing.install(model.get_base_model(), outputs=("log_probs", "entropy", "is_top1"))
    our_out, our_grads = _step(model, ids, mask, labels)
    assert torch.allclose(trl_out.loss, our_out.loss, rtol=1e-5)
    for field in ("log_probs", "entropy"):
        assert torch.allclose(getattr(trl_out, field), getattr(our_out, field), atol=1e-4), field
    assert torch.equal(trl_out.is_top1.bool(), our_out.is_top1.bool())
    assert torch.equal(trl_out.label_mask, our_out.label_mask)
    for name, g in trl_grads.items():
        assert torch.allclose(g, our_grads[name], rtol=1e-3, atol=1e-6), name


def test_prefix_tree_shares_the_system_prompt_and_each_pair_prompt(smoke_base, request):
    """DPO batches hold [chosen rows; rejected rows]: a pair shares its whole prompt, all share the system prompt."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smoke_base)
    pairs = request.getfixturevalue("preference_rows_3")
    chosen = [p["prompt"] + p["chosen"] for p in pairs]
    rejected = [p["prompt"] + p["rejected"] for p in pairs]
    ids, mask, _ = _batch(tokenizer, chosen + rejected)
    prompt_lens = [
        len(tokenizer.apply_chat_template(p["prompt"], tools=TOOLS, add_generation_prompt=True)["input_ids"])
        for p in pairs
    ]
    limits = prompt_lens + prompt_lens
    decoder = AutoModelForCausalLM.from_pretrained(smoke_base).get_decoder()
    with torch.no_grad():
        leaves = prefix_sharing.prefix_tree(decoder, ids, limits, min_shared=16)
    lengths = [plen for _, plen in leaves]
    assert lengths == limits  # each row's prefix reaches its whole prompt (computed once per pair)
    for i in range(3):
        assert leaves[i][0] is leaves[i + 3][0]  # chosen and rejected rows share one cache
    assert leaves[0][0] is not leaves[1][0]


def test_recipe_resolution_order(tmp_path):
    recipe = tmp_path / "sft.yaml"
    recipe.write_text(yaml.safe_dump({"learning_rate": 1.0, "lora_r": 8, "seed": 1, "bf16": False}))
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "p.yaml").write_text(yaml.safe_dump({"sft": {"learning_rate": 2.0, "lora_r": 4}}))
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"profile": "p", "sft": {"learning_rate": 3.0, "lora_r": None}}))
    base = [
        "--config",
        str(recipe),
        "--profiles",
        str(profiles),
        "--params",
        str(params),
        "--base",
        "b",
        "--data",
        "d",
        "--out",
        "o",
        "--checkpoints",
        "c",
    ]
    types = (StageArguments, DataArguments, sft.SFTConfig, sft.ModelConfig)
    _, _, args, model_args, resolved = parse_stage_args("sft", types, base)
    assert (args.learning_rate, model_args.lora_r, args.seed) == (3.0, 4, 1)  # params > profile > recipe; null ignored
    _, _, args, _, resolved = parse_stage_args("sft", types, base + ["--learning_rate", "4.0"])
    assert args.learning_rate == 4.0 and resolved["learning_rate"] == 4.0 and resolved["profile"] == "p"
    (profiles / "p.yaml").write_text(yaml.safe_dump({"sft": {"learnin_rate": 2.0}}))
    with pytest.raises(SystemExit, match=r"unknown keys \['--learnin_rate'\]"):
        parse_stage_args("sft", types, base)


@pytest.mark.parametrize("native", [True, False])
def test_cpu_bf16_autocast_only_where_the_cpu_has_bf16(monkeypatch, tmp_path, native):
    """Emulated bf16 ran SFT at 18 tokens/s on an AVX2-only CPU: such a CPU trains in fp32."""
    monkeypatch.setattr(train_utils, "cpu_has_native_bf16", lambda: native)
    args = sft.SFTConfig(output_dir=str(tmp_path), use_cpu=True, bf16=True, report_to="none")
    assert args.mixed_precision == "bf16"
    train_utils.resolve_kernels(args, sft.ModelConfig())
    assert (args.bf16, args.mixed_precision) == ((True, "bf16") if native else (False, "no"))


def test_training_resumes_from_its_last_checkpoint(smoke_base, datasets_dir, tmp_path):
    argv = [
        "--config",
        str(REPO_CONFIGS / "sft.yaml"),
        "--profiles",
        str(REPO_CONFIGS / "profiles"),
        "--params",
        str(tmp_path / "params.yaml"),
        "--base",
        str(smoke_base),
        "--data",
        str(datasets_dir / "sft"),
        "--out",
        str(tmp_path / "out"),
        "--checkpoints",
        str(tmp_path / "ck"),
        "--save_steps",
        "2",
    ]
    (tmp_path / "params.yaml").write_text("profile: smoke\n")
    stage, data_args, args, model_args, recipe = parse_stage_args(
        "sft", (StageArguments, DataArguments, sft.SFTConfig, sft.ModelConfig), argv
    )
    args.output_dir = stage.checkpoints
    fingerprint = {"recipe": recipe, "data": "x"}

    class Interrupt(TrainerCallback):  # a crash after step 2 (checkpoint-2 is on disk)
        def on_step_end(self, args, state, control, **kwargs):
            control.should_training_stop = state.global_step == 2

    assert resume_point(stage.checkpoints, fingerprint) is None
    sft.build_trainer(stage, data_args, args, model_args, callbacks=[Interrupt()]).train()
    last = resume_point(stage.checkpoints, fingerprint)
    assert last is not None and last.endswith("checkpoint-2")
    steps = []

    class Record(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            steps.append(state.global_step)

    result = sft.build_trainer(stage, data_args, args, model_args, callbacks=[Record()]).train(
        resume_from_checkpoint=last
    )
    assert steps == [3, 4] and result.global_step == 4
    # another recipe: the old checkpoints would mix two trainings, so they go
    assert resume_point(stage.checkpoints, {**fingerprint, "recipe": {"learning_rate": 1}}) is None
    assert not list((tmp_path / "ck").glob("checkpoint-*"))


def test_dataset_problems_are_named(tmp_path):
    with pytest.raises(SystemExit, match=r"missing dataset file .*train\.jsonl \(run the build_datasets stage\)"):
        load_split(tmp_path, "train", ("messages",), None, 0)
    (tmp_path / "train.jsonl").write_text(
        json.dumps({"id": "a", "messages": []}) + "\n" + json.dumps({"id": "b"}) + "\n"
    )
    with pytest.raises(SystemExit, match=r"train\.jsonl: line 2 lacks \['messages'\]"):
        load_split(tmp_path, "train", ("messages",), None, 0)


def test_sft_stage_runs_under_accelerate_launch(smoke_run, tmp_path):
    """`accelerate launch --config_file configs/accelerate/ddp.yaml` starts the stage (one CPU process here)."""
    import os
    import subprocess
    import sys

    repo = REPO_CONFIGS.parent
    (tmp_path / "params.yaml").write_text("profile: smoke\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "accelerate.commands.launch",
            "--config_file",
            str(REPO_CONFIGS / "accelerate/ddp.yaml"),
            "--cpu",
            "--mixed_precision",
            "no",
            "-m",
            "pipelines.sft",
            "--config",
            str(REPO_CONFIGS / "sft.yaml"),
            "--params",
            str(tmp_path / "params.yaml"),
            "--profiles",
            str(REPO_CONFIGS / "profiles"),
            "--base",
            str(smoke_run / "models/base"),
            "--data",
            str(smoke_run / "data/processed/datasets/sft"),
            "--out",
            str(tmp_path / "sft"),
            "--checkpoints",
            str(tmp_path / "ck"),
            "--max_steps",
            "1",
            "--save_strategy",
            "no",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=repo,
        env=dict(os.environ, MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}"),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "sft/adapter_model.safetensors").is_file()
