"""A faster, exact training forward for our data on CPU: shared-prefix batching + a compact LM head.

Why: every example starts with the same ~650 tokens (system prompt + tool list) and only a small
share of the tokens is trained on (assistant replies and tool calls in SFT, the completions in DPO).
TRL's fused LM head (`model(..., labels=..., fused_lm_head=True)`, used by SFTTrainer and
DPOTrainer) runs the whole model on all B x L tokens and, off CUDA (its compact path needs Triton),
projects EVERY position through the 49,152-row LM head. `install(model)` replaces that fused
forward, keeping its contract (a `FusedCausalLMOutput` with per-token fields zero on ignored
positions), so TRL's loss, metrics and DPO reference logic stay untouched. Per batch:

1. rows are arranged in a tree of common token prefixes (the system prompt + tools shared by all,
   then e.g. a DPO pair's whole prompt shared by its chosen and rejected rows); each tree node runs
   through the model ONCE (batch 1, with gradients), continuing its parent's key/value cache, and
   the rows under it share that cache (index_select is differentiable: the gradient reaching a
   prefix is the sum over its rows, exactly what separate copies would receive);
2. only the suffixes run through the model (in passes of rows with similar suffix lengths, to
   keep padding low), attending to the cache, with position ids continuing after the prefix, so
   RoPE and causality are unchanged;
3. the LM head and log-softmax run only on the positions whose next token is a label (TRL does
   this on CUDA; its CPU fallback scores every position, and its tiled torch path costs more than
   one plain (N, V) matmul + logsumexp for the few hundred positions per batch we have).

Losses and gradients equal TRL's up to float rounding (tests/pipelines/test_sft.py checks it);
the cost drops from B*(P+S) to about P + B*S tokens. Single-process only: it calls the decoder
directly, around what a DDP/FSDP wrapper's forward would do, so the gpu profiles leave it off and
use TRL's padding-free batching and Liger kernels instead.
"""

from __future__ import annotations

import functools
import types

import torch
from transformers import DynamicCache
from trl.trainer.utils import FusedCausalLMOutput

IGNORE = -100
HANDLED_KWARGS = {"input_ids", "attention_mask", "use_cache"}


def common_prefix_len(a: torch.Tensor, b: torch.Tensor) -> int:
    n = min(len(a), len(b))
    diff = (a[:n] != b[:n]).nonzero()
    return int(diff[0]) if len(diff) else n


def prefix_tree(decoder, input_ids: torch.Tensor, limits: list[int], min_shared: int) -> list[tuple[list | None, int]]:
    """Per row: (the per-layer (k, v) of its longest shared prefix, or None; that prefix's length).

    Rows are split into a tree by common prefixes: the system prompt + tools shared by all rows,
    then e.g. the whole prompt shared by a DPO pair's chosen and rejected rows. Each tree node runs
    once (batch 1), continuing its parent's cache; a node shorter than `min_shared` tokens is not
    worth a separate forward and stays in its rows' suffixes. limits[r]: the longest prefix row r
    allows (one token before its first label: the hidden state predicting token t sits at t-1 and
    must come from the suffix pass, where the LM head runs).
    """
    leaves: list[tuple[list | None, int]] = [(None, 0)] * input_ids.size(0)

    def visit(rows: list[int], kv: list | None, plen: int) -> None:
        if len(rows) == 1:
            leaves[rows[0]] = (kv, plen)
            return
        end = min(limits[r] for r in rows)
        ref = input_ids[rows[0]]
        ext = (
            plen + min(common_prefix_len(ref[plen:end], input_ids[r, plen:end]) for r in rows[1:])
            if end > plen
            else plen
        )
        if ext - plen >= min_shared:
            past = DynamicCache(ddp_cache_data=kv) if kv else None
            positions = torch.arange(plen, ext, device=input_ids.device)[None]
            out = decoder(input_ids=ref[plen:ext][None], position_ids=positions, past_key_values=past, use_cache=True)
            kv, plen = [(layer.keys, layer.values) for layer in out.past_key_values.layers], ext
        parts: dict[int, list[int]] = {}
        for r in rows:
            if limits[r] <= ext:
                leaves[r] = (kv, plen)
            else:
                parts.setdefault(int(input_ids[r, ext]), []).append(r)
        for part in parts.values():
            visit(part, kv, plen)

    visit(list(range(input_ids.size(0))), None, 0)
    return leaves


def _left_pad(t: torch.Tensor, pad: int) -> torch.Tensor:
    return torch.cat([t.new_zeros(*t.shape[:2], pad, t.shape[-1]), t], dim=2) if pad else t


def suffix_hidden_states(decoder, input_ids, attention_mask, labels, min_shared: int = 32, slack: float = 1.3):
    """Hidden states of the suffix positions whose next token is a label, in row-major order: (N, H).

    input_ids, attention_mask, labels: (B, L), right-padded; labels = -100 where not trained.
    Rows whose suffixes differ a lot in length (e.g. a recurring customer, whose system prompt
    diverges before the tool list) run in separate suffix passes (lengths within `slack` of each
    other), so short suffixes are not padded to the longest one.
    """
    lengths = attention_mask.sum(1).tolist()
    supervised = labels != IGNORE
    first_label = [int(r.nonzero()[0]) if r.any() else n for r, n in zip(supervised, lengths)]
    leaves = prefix_tree(decoder, input_ids, [max(0, min(n, f) - 1) for n, f in zip(lengths, first_label)], min_shared)
    suffix = [n - plen for n, (_, plen) in zip(lengths, leaves)]
    buckets: list[list[int]] = []
    for r in sorted(range(len(leaves)), key=suffix.__getitem__):
        if buckets and suffix[r] <= slack * suffix[buckets[-1][0]]:
            buckets[-1].append(r)
        else:
            buckets.append([r])
    hidden: dict[int, torch.Tensor] = {}
    for rows in buckets:
        hidden.update(zip(rows, _suffix_pass(decoder, input_ids, supervised, lengths, leaves, rows)))
    return torch.cat([hidden[r] for r in range(len(leaves))])


def _suffix_pass(decoder, input_ids, supervised, lengths, leaves, rows: list[int]) -> list[torch.Tensor]:
    """One batched pass over `rows`' suffixes; per row, the hidden states at its supervised positions."""
    # 1. per row, the cache of its prefix, left-padded with zeros to the longest prefix P (masked
    #    out below); rows of one tree node share one padded copy: (B, kv_heads, P, head_dim) per layer.
    p_max = max(leaves[r][1] for r in rows)
    nodes: dict[int, int] = {}  # id(kv) -> index among the padded node caches
    padded, row_node = [], []
    for r in rows:
        kv, plen = leaves[r]
        if id(kv) not in nodes:
            nodes[id(kv)] = len(padded)
            padded.append(
                None if kv is None else [(_left_pad(k, p_max - plen), _left_pad(v, p_max - plen)) for k, v in kv]
            )
        row_node.append(nodes[id(kv)])
    cache = None
    if p_max:
        ref = next(layers for layers in padded if layers is not None)
        index = torch.tensor(row_node, device=input_ids.device)
        kv_rows = []
        for i, (k_ref, v_ref) in enumerate(ref):
            ks = torch.cat([k_ref.new_zeros(k_ref.shape) if n is None else n[i][0] for n in padded])
            vs = torch.cat([v_ref.new_zeros(v_ref.shape) if n is None else n[i][1] for n in padded])
            kv_rows.append((ks.index_select(0, index), vs.index_select(0, index)))
        cache = DynamicCache(ddp_cache_data=kv_rows)

    # 2. suffixes, right-padded to S; a row continues at position P_r.
    suffix_len = max(lengths[r] - leaves[r][1] for r in rows)
    suffix_ids = input_ids.new_zeros((len(rows), suffix_len))
    suffix_mask = torch.zeros((len(rows), suffix_len), dtype=torch.long, device=input_ids.device)
    keep = torch.zeros((len(rows), suffix_len), dtype=torch.bool, device=input_ids.device)
    positions = torch.zeros_like(suffix_ids)
    prefix_mask = torch.zeros((len(rows), p_max), dtype=torch.long, device=input_ids.device)
    for i, r in enumerate(rows):
        p = leaves[r][1]
        n = lengths[r] - p
        suffix_ids[i, :n] = input_ids[r, p : lengths[r]]
        suffix_mask[i, :n] = 1
        keep[i, : n - 1] = supervised[r, p + 1 : lengths[r]]  # suffix position j predicts token p + j + 1
        positions[i] = torch.arange(p, p + suffix_len)
        prefix_mask[i, p_max - p :] = 1
    hidden = decoder(
        input_ids=suffix_ids,
        attention_mask=torch.cat([prefix_mask, suffix_mask], dim=1),
        position_ids=positions,
        past_key_values=cache,
        use_cache=cache is not None,
    ).last_hidden_state
    return [hidden[i][keep[i]] for i in range(len(rows))]


def token_stats(hidden, lm_head, targets, outputs, softcap: float | None = None):
    """Per-position fields of TRL's FusedCausalLMOutput for (N, H) hidden states and (N,) targets.

    Only log_probs carries gradients; the others feed TRL's metrics (entropy, accuracy, mean logit).
    """
    logits = lm_head(hidden).float()  # (N, V); bf16 matmul under autocast, softmax math in fp32
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    logz = torch.logsumexp(logits, dim=-1)
    log_probs = logits.gather(-1, targets[:, None]).squeeze(-1) - logz
    stats = dict.fromkeys(("entropy", "log_sum_sq_probs", "mean_logits", "is_top1"))
    with torch.no_grad():
        logp = logits - logz[:, None]
        if "entropy" in outputs:
            stats["entropy"] = -(logp.exp() * logp).sum(-1)
        if "log_sum_sq_probs" in outputs:
            stats["log_sum_sq_probs"] = torch.logsumexp(2 * logp, dim=-1)
        if "mean_logits" in outputs:
            stats["mean_logits"] = logits.mean(-1)
        if "is_top1" in outputs:
            stats["is_top1"] = logits.argmax(-1) == targets
    return log_probs, stats


def install(model, outputs: tuple[str, ...] = ("log_probs",), min_shared: int = 32) -> None:
    """Replace TRL's fused LM head forward of `model` (the base model under PEFT) with the shared-prefix one.

    Call after the trainer is built (TRL patches the forward in its __init__). Calls this path
    cannot serve exactly (no labels, padding-free position_ids, extra kwargs) go to TRL's forward.
    """
    trl_forward = model.forward
    config = model.config.get_text_config()
    softcap = getattr(config, "final_logit_softcapping", None)

    @functools.wraps(type(model).forward)
    def forward(self, *args, fused_lm_head=False, labels=None, num_items_in_batch=None, **kwargs):
        extra = {k for k, v in kwargs.items() if v is not None} - HANDLED_KWARGS  # PEFT passes e.g. inputs_embeds=None
        if args or not fused_lm_head or labels is None or kwargs.get("attention_mask") is None or extra:
            return trl_forward(
                *args, fused_lm_head=fused_lm_head, labels=labels, num_items_in_batch=num_items_in_batch, **kwargs
            )
        input_ids, attention_mask = kwargs["input_ids"], kwargs["attention_mask"]
        hidden = suffix_hidden_states(self.get_decoder(), input_ids, attention_mask, labels, min_shared)
        shifted = labels[:, 1:]
        mask = shifted != IGNORE
        log_probs, stats = token_stats(hidden, self.get_output_embeddings(), shifted[mask], outputs, softcap)

        # (B, L-1), zero where not trained; masked_scatter keeps an all-masked batch connected to the
        # graph (a differentiable zero), as TRL does
        def spread(x):
            return None if x is None else x.new_zeros(mask.shape).masked_scatter(mask, x)

        log_probs = spread(log_probs)
        denominator = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
        return FusedCausalLMOutput(
            loss=-log_probs.sum() / denominator,
            log_probs=log_probs,
            label_mask=mask,
            **{k: spread(v) for k, v in stats.items()},
        )

    model.forward = types.MethodType(forward, model)
