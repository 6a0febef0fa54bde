"""Gate: the running vLLM server renders conversations into exactly the tokens training rendered.

Training (sft, dpo) and evaluation render with the model directory's tokenizer and its chat
template (`apply_chat_template(messages, tools=TOOLS)`); serving renders with the template vLLM
was given (`--chat-template`) through its own message handling (it parses tool-call arguments
into dicts, fills defaults). A difference of one space is a prompt the model never saw. So a fixed
set of conversations (pt-BR and English; system prompt with and without a customer block; tool
calls alone, after text and two in one turn; tool results; with and without the generation
prompt) goes through both, and any token difference raises `TemplateParityError` with the first
differing position and the tokens around it on both sides.

End of turn: the tokenizer's eos, `<|im_end|>`, the model directory's generation_config.json
eos_token_id (what vLLM stops on) and the server's own tokenization of "<|im_end|>" must agree.

    python -m pipelines.template_parity --base-url http://127.0.0.1:8000 --model zapvendas --tokenizer models/export
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
from transformers import AutoTokenizer

from serve.contract import TOOLS, CustomerContext, chat_messages, tool_call

END_OF_TURN = "<|im_end|>"
CONTEXT_TOKENS = 6  # tokens shown on each side of the first difference


class TemplateParityError(RuntimeError):
    """The served chat template or stop tokens differ from the training tokenizer's."""


def _tool(call_id: str, name: str, result: dict) -> dict:
    return {"role": "tool", "tool_call_id": call_id, "name": name, "content": json.dumps(result, ensure_ascii=False)}


def conversations() -> dict[str, list[dict]]:
    """Complete conversations (system prompt first, ending with an assistant turn), by name."""
    ana = CustomerContext(name="Ana", recurring=True, last_order="1x Fone Bluetooth", preferred_categories=["audio"])
    fone = {"product_id": "a1b2c3", "name": "Fone Bluetooth Preto", "price": "R$ 89,90", "stock": 3}
    records = {
        "pt_purchase": (
            "quick_purchase",
            ana,
            [
                {"role": "user", "content": "oi, tem fone bluetooth até 150 reais?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [tool_call("c1", "search_products", {"query": "fone bluetooth", "max_price": 150.0})],
                },
                _tool("c1", "search_products", {"products": [fone]}),
                {"role": "assistant", "content": "Achei o Fone Bluetooth Preto por R$ 89,90. Quer que eu separe?"},
                {"role": "user", "content": "quero 2, pode colocar no carrinho"},
                {
                    "role": "assistant",
                    "content": "Claro!",
                    "tool_calls": [tool_call("c2", "add_to_cart", {"product_id": "a1b2c3", "quantity": 2})],
                },
                _tool("c2", "add_to_cart", {"ok": True, "total": "R$ 179,80"}),
                {"role": "assistant", "content": "Pronto: 2 fones, total R$ 179,80. Pago com PIX, cartão ou boleto?"},
            ],
        ),
        "en_checkout": (
            "quick_purchase",
            None,
            [
                {"role": "user", "content": "hi! do you have a silver watch under 200?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [tool_call("w1", "search_products", {"query": "silver watch", "max_price": 200.0})],
                },
                _tool("w1", "search_products", {"products": []}),
                {"role": "assistant", "content": "I found no silver watch under R$ 200. Want to see other colours?"},
                {"role": "user", "content": "ok, just checkout my cart with pix"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [tool_call("w2", "checkout", {"payment_method": "pix"})],
                },
                _tool("w2", "checkout", {"order_id": "PED-0042", "total": "R$ 1.234,56", "pix": "00020126"}),
                {"role": "assistant", "content": "Order PED-0042 is open: R$ 1.234,56 by PIX."},
            ],
        ),
        "pt_support_two_calls": (
            "support",
            CustomerContext(name="José"),
            [
                {"role": "user", "content": "cade meu pedido PED-0007??? ja faz 10 dias 😡 quero falar c/ alguem"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        tool_call("s1", "order_status", {"order_id": "PED-0007"}),
                        tool_call("s2", "handoff_to_human", {"reason": "atraso na entrega; cliente irritado"}),
                    ],
                },
                _tool("s1", "order_status", {"status": "shipped", "eta": "2 dias"}),
                _tool("s2", "handoff_to_human", {"ok": True}),
                {
                    "role": "assistant",
                    "content": "Seu pedido já saiu e chega em 2 dias. Já chamei uma pessoa da equipe.",
                },
            ],
        ),
        "pt_text_only": (
            "off_topic",
            None,
            [
                {"role": "user", "content": "vcs entregam em sao paulo? qnto é o frete\n\nbrigado"},
                {"role": "assistant", "content": "Entregamos sim! O frete aparece no carrinho, antes de pagar. 🙂"},
            ],
        ),
    }
    return {
        name: chat_messages({"id": name, "scenario": scenario, "language": name[:2], "context": ctx, "messages": msgs})
        for name, (scenario, ctx, msgs) in records.items()
    }


def renders() -> list[tuple[str, list[dict], bool]]:
    """(label, messages, add_generation_prompt): each whole conversation, and each prompt of an assistant turn."""
    out = []
    for name, messages in conversations().items():
        out.append((f"{name} (whole)", messages, False))
        for i, m in enumerate(messages):
            if m["role"] == "assistant":
                out.append((f"{name} (prompt of message {i})", messages[:i], True))
    return out


def server_root(base_url: str) -> str:
    """vLLM's /tokenize lives at the server root, next to /v1."""
    return base_url.rstrip("/").removesuffix("/v1")


def served_tokens(client: httpx.Client, model: str, messages: list[dict], add_generation_prompt: bool) -> list[int]:
    body = {"model": model, "messages": messages, "tools": TOOLS, "add_generation_prompt": add_generation_prompt}
    response = client.post("/tokenize", json=body)
    if response.status_code != 200:
        raise TemplateParityError(f"POST /tokenize answered {response.status_code}: {response.text[:500]}")
    return response.json()["tokens"]


def first_difference(a: list[int], b: list[int]) -> int | None:
    """Index of the first position where a and b differ (the shorter length if one is a prefix), or None."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return None if len(a) == len(b) else min(len(a), len(b))


def describe(tokenizer, ids: list[int], at: int) -> str:
    lo, hi = max(0, at - CONTEXT_TOKENS), at + CONTEXT_TOKENS
    before, after = tokenizer.decode(ids[lo:at]), tokenizer.decode(ids[at:hi])
    return f"{before!r} ▶ {after!r} (ids {ids[at:hi]})"


def stop_tokens(client: httpx.Client, model: str, tokenizer, model_dir: Path) -> dict:
    """The end-of-turn ids on each side; raise when they disagree."""
    im_end = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    response = client.post("/tokenize", json={"model": model, "prompt": END_OF_TURN, "add_special_tokens": False})
    response.raise_for_status()
    served = response.json()["tokens"]
    config = model_dir / "generation_config.json"
    generation_eos = json.loads(config.read_text(encoding="utf-8")).get("eos_token_id") if config.is_file() else None
    generation_eos = [generation_eos] if isinstance(generation_eos, int) else generation_eos
    ids = {
        "im_end_id": im_end,
        "tokenizer_eos_id": tokenizer.eos_token_id,
        "generation_config_eos_ids": generation_eos,
        "served_im_end_tokens": served,
    }
    problems = []
    if im_end is None or im_end == tokenizer.unk_token_id:
        problems.append(f"{END_OF_TURN} is not one token of the training tokenizer")
    if tokenizer.eos_token_id != im_end:
        problems.append(
            f"the tokenizer's eos ({tokenizer.eos_token!r}, id {tokenizer.eos_token_id}) is not {END_OF_TURN}"
        )
    if generation_eos is not None and im_end not in generation_eos:
        problems.append(f"{config}: eos_token_id {generation_eos} does not stop at {END_OF_TURN} (id {im_end})")
    if served != [im_end]:
        problems.append(f"the server tokenizes {END_OF_TURN} as {served}, training as [{im_end}]")
    if problems:
        raise TemplateParityError(f"stop tokens disagree ({ids}): " + "; ".join(problems))
    return ids


def check_parity(base_url: str, served_model: str, tokenizer_dir: str | Path) -> dict:
    """Compare the training tokenizer's renders with the server's; a summary, or TemplateParityError."""
    tokenizer_dir = Path(tokenizer_dir)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    compared = 0
    cases = renders()
    with httpx.Client(base_url=server_root(base_url), timeout=60) as client:
        for label, messages, add_generation_prompt in cases:
            trained = tokenizer.apply_chat_template(
                messages, tools=TOOLS, add_generation_prompt=add_generation_prompt, return_dict=True
            )["input_ids"]
            served = served_tokens(client, served_model, messages, add_generation_prompt)
            at = first_difference(trained, served)
            if at is not None:
                raise TemplateParityError(
                    f"chat template parity: {label}: first difference at token {at} "
                    f"(training renders {len(trained)} tokens, the server {len(served)}):\n"
                    f"  training: {describe(tokenizer, trained, at)}\n"
                    f"  served:   {describe(tokenizer, served, at)}"
                )
            compared += len(trained)
        eos = stop_tokens(client, served_model, tokenizer, tokenizer_dir)
    return {"conversations": len(conversations()), "renders": len(cases), "tokens_compared": compared, "eos": eos}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True, help="the vLLM server (with or without /v1)")
    parser.add_argument("--model", required=True, help="a served model name (base or a LoRA module)")
    parser.add_argument("--tokenizer", required=True, help="the model directory training rendered with")
    args = parser.parse_args(argv)
    try:
        summary = check_parity(args.base_url, args.model, args.tokenizer)
    except TemplateParityError as exc:
        raise SystemExit(str(exc)) from None
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
