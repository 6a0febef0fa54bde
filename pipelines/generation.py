"""Batched greedy generation on CPU that computes the shared system-prompt prefix once (evaluate, export).

HF `generate` left-pads a batch, which moves the shared prefix to a different position in every
row; here the prefix (system prompt + tools, ~650 tokens, identical for most prompts) is prefilled
once, its cache is repeated over the batch, and only the suffixes are prefilled, left-padded
*between* prefix and suffix (masked; positions count real tokens only, so RoPE sees exactly the
positions of an unpadded prompt). Then plain greedy decoding until every row wrote <|im_end|>.
"""

from __future__ import annotations

import torch

from pipelines.prefix_sharing import common_prefix_len


@torch.inference_mode()
def greedy_batch(model, prompts: list[list[int]], eos_id: int, max_new_tokens: int) -> list[list[int]]:
    """Greedy continuations (without the eos) of token-id prompts, as one batch."""
    first = torch.tensor(prompts[0])
    plen = min(common_prefix_len(first, torch.tensor(p)) for p in prompts)
    plen = min(plen, min(len(p) for p in prompts) - 1)  # every row keeps >= 1 token to prefill
    n = len(prompts)
    cache = None
    if plen > 0:
        cache = model(input_ids=first[None, :plen], use_cache=True).past_key_values
        cache.batch_repeat_interleave(n)
    suffixes = [p[plen:] for p in prompts]
    width = max(len(s) for s in suffixes)
    ids = torch.zeros((n, width), dtype=torch.long)
    mask = torch.zeros((n, plen + width), dtype=torch.long)
    mask[:, :plen] = 1
    for r, s in enumerate(suffixes):
        ids[r, width - len(s) :] = torch.tensor(s)
        mask[r, plen + width - len(s) :] = 1
    positions = (mask.cumsum(1) - 1).clamp(min=0)[:, plen:]
    out = [[] for _ in range(n)]
    done = torch.zeros(n, dtype=torch.bool)
    for _ in range(max_new_tokens):
        output = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        cache = output.past_key_values
        nxt = output.logits[:, -1].argmax(-1)
        for r in range(n):
            if not done[r]:
                if int(nxt[r]) == eos_id:
                    done[r] = True
                else:
                    out[r].append(int(nxt[r]))
        if bool(done.all()):
            break
        ids = nxt[:, None]
        positions = positions[:, -1:] + 1
        mask = torch.cat([mask, torch.ones((n, 1), dtype=torch.long)], dim=1)
    return out


def generate(
    model, prompts: list[list[int]], eos_id: int, max_new_tokens: int, batch_size: int = 8, progress=None
) -> list[list[int]]:
    """greedy_batch over batches of prompts sorted by their first 64 tokens (similar prefixes batch together)."""
    order = sorted(range(len(prompts)), key=lambda i: (prompts[i][:64], len(prompts[i])))
    results: list[list[int]] = [[] for _ in prompts]
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        for i, tokens in zip(chunk, greedy_batch(model, [prompts[i] for i in chunk], eos_id, max_new_tokens)):
            results[i] = tokens
        if progress:
            progress(min(start + batch_size, len(order)), len(order))
    return results
