"""Stage evaluate: base vs SFT vs DPO on assistant turns of the SFT test split.

Every assistant turn of a test conversation is a case: the model sees the messages before it
(system prompt + tools included) and writes its turn greedily. Its text is read the way vLLM's
`hermes` tool parser reads it at serving time (tests/pipelines/test_evaluate.py checks they agree),
and scored:

- valid_tool_call_rate  (turns that expect a tool call) a call whose name and arguments pass
                        `parse_tool_arguments`, i.e. one the server would execute
- correct_tool_rate     ... and it is the expected tool
- exact_call_rate       ... with exactly the expected arguments
- price_grounding_rate  (text replies that state an R$ amount) every amount appears in the
                        conversation so far (tool results or the customer's words): no invented price
- language_match_rate   (turns that expect text) the reply is in the conversation's language
- pt_valid_tool_call_rate: valid_tool_call_rate on the pt-BR conversations only

Each model's metrics also say which `engine` decoded them and how many `seconds` it took.
Engines (param evaluate.engine): `vllm` starts the serving engine once (serve/core/engine.py) on
the base model with the SFT and DPO adapters as LoRA modules, checks chat-template parity on
every served name (pipelines/template_parity.py: a difference fails the stage) and decodes all
three models' prompts together (pipelines/vllm_generation.py); `transformers` decodes with
transformers, one model after the other (pipelines/generation.py); `auto` (default) is vllm
where vLLM is installed. Both send the same prompt tokens (rendered by the training tokenizer),
decode greedily up to max_new_tokens, stop at <|im_end|> and decode the reply the same way.

    python -m pipelines.evaluate --base models/base --sft models/sft --dpo models/dpo \
        --data data/processed/datasets/sft --out reports/evaluate --metrics metrics/evaluate.json --plots plots/evaluate.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

from transformers import AutoTokenizer

from pipelines import tracking
from pipelines.base_model import stage_params
from pipelines.evaluate_engines import MODELS, choose_engine, transformers_outputs, vllm_outputs
from pipelines.train_utils import peak_rss_mb, write_json
from serve.contract import TOOLS, ToolCallError, parse_brl_cents, parse_tool_arguments, read_jsonl

# vLLM's hermes parser: a block closed by </tool_call>, or one left open at the end of the text
TOOL_CALL = re.compile(r"<tool_call>(.*?)</tool_call>|<tool_call>(.*)", re.DOTALL)
REAIS = re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:reais|conto|pila)", re.IGNORECASE)
STOPWORDS = {
    "pt": {
        "você",
        "voce",
        "não",
        "nao",
        "que",
        "de",
        "para",
        "pra",
        "com",
        "é",
        "um",
        "uma",
        "o",
        "a",
        "os",
        "no",
        "na",
        "seu",
        "sua",
        "quer",
        "tem",
        "mais",
        "aqui",
        "posso",
        "obrigado",
        "claro",
    },
    "en": {
        "you",
        "the",
        "to",
        "and",
        "is",
        "for",
        "with",
        "it",
        "your",
        "want",
        "have",
        "this",
        "can",
        "would",
        "of",
        "in",
        "i",
        "here",
        "thanks",
        "sure",
    },
}


def parse_reply(text: str) -> tuple[str | None, list[dict] | None]:
    """(content, calls) as hermes returns them; calls is None when the text holds no parseable call."""
    if "<tool_call>" not in text:
        return text, None
    try:
        calls = [json.loads(a or b) for a, b in TOOL_CALL.findall(text)]
        calls = [{"name": c["name"], "arguments": c["arguments"]} for c in calls]
    except (json.JSONDecodeError, KeyError, TypeError):
        return text, None
    content = text[: text.find("<tool_call>")]
    return content or None, calls


def valid_call(call: dict) -> bool:
    try:
        parse_tool_arguments(call["name"], call["arguments"])
    except (ToolCallError, TypeError):
        return False
    return True


def language_of(text: str) -> str | None:
    words = re.findall(r"[a-záàâãéêíóôõúç]+", text.lower())
    scores = {lang: sum(w in stop for w in words) for lang, stop in STOPWORDS.items()}
    best = max(scores, key=scores.get)
    return best if scores[best] > 0 and scores["pt"] != scores["en"] else None


def known_amounts(messages: list[dict]) -> set[int]:
    """R$ amounts (cents) the conversation has stated so far: tool results and the customer's words."""
    amounts: set[int] = set()
    for m in messages:
        if m["role"] in ("tool", "user") and m.get("content"):
            amounts.update(parse_brl_cents(m["content"]))
            amounts.update(round(float(x.replace(",", ".")) * 100) for x in REAIS.findall(m["content"]))
    return amounts


def cases(rows: list[dict], max_cases: int | None, seed: int) -> list[dict]:
    """One case per assistant turn: prompt messages, the expected message, the language."""
    found = []
    for row in rows:
        for i, m in enumerate(row["messages"]):
            if m["role"] == "assistant":
                found.append(
                    {
                        "id": f"{row['id']}#{i}",
                        "language": row["language"],
                        "prompt": row["messages"][:i],
                        "expected": m,
                    }
                )
    if max_cases is not None and max_cases < len(found):
        found = random.Random(seed).sample(found, max_cases)
    return found


def score(case: dict, text: str) -> dict:
    """Per-case outcome; None where a metric does not apply to the case."""
    content, calls = parse_reply(text)
    expected_calls = case["expected"].get("tool_calls")
    out = {"id": case["id"], "language": case["language"], "output": text}
    if expected_calls:
        want = expected_calls[0]["function"]
        valid = bool(calls) and all(valid_call(c) for c in calls)
        out["valid_tool_call"] = valid
        out["correct_tool"] = valid and calls[0]["name"] == want["name"]
        out["exact_call"] = out["correct_tool"] and calls[0]["arguments"] == json.loads(want["arguments"])
    else:
        reply = content or ""
        lang = language_of(reply)
        out["language_match"] = calls is None and lang == case["language"]
        stated = parse_brl_cents(reply)
        if stated:
            out["price_grounded"] = set(stated) <= known_amounts(case["prompt"])
    return out


def summarise(scored: list[dict]) -> dict:
    def rate(key, rows=scored):
        vals = [r[key] for r in rows if key in r]
        return sum(vals) / len(vals) if vals else None

    pt = [r for r in scored if r["language"] == "pt"]
    return {
        "cases": len(scored),
        "tool_cases": sum("valid_tool_call" in r for r in scored),
        "valid_tool_call_rate": rate("valid_tool_call"),
        "correct_tool_rate": rate("correct_tool"),
        "exact_call_rate": rate("exact_call"),
        "pt_valid_tool_call_rate": rate("valid_tool_call", pt),
        "price_grounding_rate": rate("price_grounded"),
        "replies_with_prices": sum("price_grounded" in r for r in scored),
        "language_match_rate": rate("language_match"),
    }


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        "valid_tool_call_rate",
        "correct_tool_rate",
        "exact_call_rate",
        "price_grounding_rate",
        "language_match_rate",
    ]
    fig, ax = plt.subplots(figsize=(8, 3.5))
    width = 0.8 / len(summary)
    for i, (name, metrics) in enumerate(summary.items()):
        ax.bar([k + i * width for k in range(len(keys))], [metrics[k] or 0 for k in keys], width, label=name)
    ax.set_xticks(
        [k + width * (len(summary) - 1) / 2 for k in range(len(keys))],
        [k.removesuffix("_rate") for k in keys],
        fontsize=8,
    )
    ax.set_ylim(0, 1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in ("--base", "--sft", "--dpo", "--data", "--out"):
        parser.add_argument(name, required=True)
    parser.add_argument("--metrics")
    parser.add_argument("--plots")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profiles", default="configs/profiles")
    args = parser.parse_args(argv)
    profile, settings = stage_params(args.params, args.profiles, "evaluate")
    engine = choose_engine(settings.get("engine") or "auto")
    test = Path(args.data) / "test.jsonl"
    if not test.is_file():
        raise SystemExit(f"missing {test} (run build_datasets)")
    tokenizer = AutoTokenizer.from_pretrained(args.base)
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    todo, prompts = [], []
    limit = settings.get("max_prompt_tokens")  # the cpu profile trains on 1,024-token windows: score turns inside them
    for case in cases(read_jsonl(test), None, 0):
        ids = tokenizer.apply_chat_template(case["prompt"], tools=TOOLS, add_generation_prompt=True, return_dict=True)[
            "input_ids"
        ]
        if limit is None or len(ids) <= limit:
            todo.append(case)
            prompts.append(ids)
    if settings.get("max_cases") is not None and settings["max_cases"] < len(todo):
        keep = sorted(random.Random(settings.get("seed", 0)).sample(range(len(todo)), settings["max_cases"]))
        todo, prompts = [todo[i] for i in keep], [prompts[i] for i in keep]
    if not todo:
        raise SystemExit(f"evaluate: no assistant turn of {test} fits max_prompt_tokens={limit}")
    print(f"evaluate: {len(todo)} assistant turns of {test}, decoded by {engine}", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    with tracking.stage_run(
        "evaluate",
        inputs={"base": args.base, "sft_adapter": args.sft, "dpo_adapter": args.dpo, "data": args.data},
        params_path=args.params,
        recipe={"evaluate": settings},
        upstream=args.dpo,
    ) as run:
        if engine == "vllm":
            tokens, seconds = vllm_outputs(args, prompts, eos, settings, out)
        else:
            tokens, seconds = transformers_outputs(args, prompts, eos, settings)
        for name in MODELS:
            texts = [tokenizer.decode(t, skip_special_tokens=False) for t in tokens[name]]
            scored = [score(c, t) for c, t in zip(todo, texts)]
            summary[name] = summarise(scored) | {"engine": engine, "seconds": round(seconds[name], 1)}
            with open(out / f"{name}.jsonl", "w", encoding="utf-8") as f:
                f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in scored)
            print(f"evaluate {name}: {summary[name]}", flush=True)
        import mlflow

        mlflow.set_tag("evaluate.engine", engine)
        for name, metrics in summary.items():
            mlflow.log_metrics(
                {f"{name}.{k}": float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and k != "seconds"}
            )
        mlflow.log_metrics(
            {f"{name}.generate_seconds": t for name, t in seconds.items()} | {"peak_rss_mb": peak_rss_mb()}
        )
        png = Path(args.plots).with_suffix(".png") if args.plots else out / "rates.png"
        png.parent.mkdir(parents=True, exist_ok=True)
        plot(summary, png)
        mlflow.log_artifacts(str(out), "evaluate")
        mlflow.log_artifact(str(png))
        tracking.run_file(out, run)
    write_json(args.metrics, summary)
    write_json(args.plots, [{"model": name, **metrics} for name, metrics in summary.items()])


if __name__ == "__main__":
    main()
