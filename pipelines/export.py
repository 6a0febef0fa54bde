"""Stage export: merge the last preference round's adapter (round2) into the base and write the model vLLM serves.

Output (models/export): merged safetensors, tokenizer with the contract's chat template (also as
chat_template.jinja, the file `vllm --chat-template` takes), generation config stopping at
<|im_end|>, and README.md (model card: data, params, metrics). Before writing, the merged model
must give the same greedy tokens as base + adapter on a few fixed prompts (fp32, so that merging
is the only difference); a mismatch fails the stage.

    python -m pipelines.export --base models/base --adapter models/round2 --out models/export \
        --card metrics/sft.json metrics/dpo.json metrics/round2.json metrics/evaluate.json \
        --stats data/processed/datasets/stats.json --metrics metrics/export.json
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import torch
import yaml

from pipelines import tracking
from pipelines.base_model import DTYPES, stage_params
from pipelines.generation import generate
from pipelines.train_utils import write_json
from serve.contract import CHAT_TEMPLATE_PATH, TOOLS, chat_template, system_prompt

# Fixed prompts for the merge check: pt-BR and English shopping turns, one needing a tool result.
CHECK_PROMPTS = [
    [{"role": "user", "content": "oi! tem fone de ouvido bluetooth até 150 reais?"}],
    [{"role": "user", "content": "quero ver o meu carrinho"}],
    [{"role": "user", "content": "hi, do you sell office chairs?"}],
    [{"role": "user", "content": "qual o status do meu pedido?"}],
]


def greedy_tokens(model, tokenizer, max_new_tokens: int) -> list[list[int]]:
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "system", "content": system_prompt()}] + msgs,
            tools=TOOLS,
            add_generation_prompt=True,
            return_dict=True,
        )["input_ids"]
        for msgs in CHECK_PROMPTS
    ]
    return generate(model, prompts, eos, max_new_tokens, batch_size=len(prompts))


def model_card(out: Path, params: dict, card_metrics: dict, stats: dict | None, check: dict) -> str:
    lines = [
        "---",
        "license: apache-2.0",
        "base_model: HuggingFaceTB/SmolLM2-135M-Instruct",
        "language: [pt, en]",
        "tags: [zapvendas, tool-calling, sft, dpo, trl, peft]",
        "---",
        "",
        "# zapvendas sales agent",
        "",
        "A WhatsApp sales assistant for a Brazilian e-commerce catalogue: SmolLM2 (or the base named in the",
        "params below) fine-tuned with LoRA SFT then DPO (TRL + PEFT), adapter merged. It answers in pt-BR",
        "(English when the customer writes English) and calls the store's tools in the hermes format.",
        "",
        "## Serving",
        "",
        "```",
        f"python -m vllm.entrypoints.openai.api_server --model {out} --chat-template {out}/chat_template.jinja \\",
        "    --enable-auto-tool-choice --tool-call-parser hermes",
        "```",
        "",
        "Prices, stock and totals come from the tools, never from the model; every tool call is validated",
        "by the server (`serve.contract.parse_tool_arguments`).",
        "",
        "## Data",
        "",
        "Synthetic pt-BR/English sales dialogues grounded in the Olist Brazilian e-commerce public dataset",
        "(CC BY-NC-SA 4.0: non-commercial, share-alike) and the Bitext customer-support sample",
        "(CDLA-Sharing-1.0). The weights inherit the non-commercial terms of the Olist data.",
        "",
    ]
    if stats:
        lines += ["```json", json.dumps(stats, indent=2, ensure_ascii=False)[:3000], "```", ""]
    lines += [
        "## Parameters",
        "",
        "```yaml",
        yaml.safe_dump(params, sort_keys=False, allow_unicode=True).strip(),
        "```",
        "",
    ]
    lines += ["## Metrics", ""]
    for name, metrics in card_metrics.items():
        lines += [f"### {name}", "", "```json", json.dumps(metrics, indent=2), "```", ""]
    lines += [
        "## Merge check",
        "",
        f"Greedy tokens of merged vs base + adapter on {check['prompts']} fixed prompts: "
        f"{'identical' if check['identical'] else 'DIFFERENT'}.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True)
    parser.add_argument("--adapter", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--card", nargs="*", default=[], help="metrics JSON files quoted in the model card")
    parser.add_argument("--stats", help="dataset statistics JSON quoted in the model card")
    parser.add_argument("--metrics")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--profiles", default="configs/profiles")
    args = parser.parse_args(argv)
    _, settings = stage_params(args.params, args.profiles, "export")
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.base)
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32), args.adapter
    ).eval()
    max_new = settings.get("check_new_tokens", 24)
    with tracking.stage_run(
        "export",
        inputs={"base": args.base, "adapter": args.adapter},
        params_path=args.params,
        recipe={"export": settings},
        upstream=args.adapter,
    ) as run:
        with_adapter = greedy_tokens(model, tokenizer, max_new)
        merged = model.merge_and_unload()
        after_merge = greedy_tokens(merged, tokenizer, max_new)
        check = {
            "prompts": len(CHECK_PROMPTS),
            "identical": with_adapter == after_merge,
            "tokens_compared": sum(map(len, with_adapter)),
        }
        if not check["identical"]:
            diffs = [i for i, (a, b) in enumerate(zip(with_adapter, after_merge)) if a != b]
            raise SystemExit(f"export: merged model differs from base + adapter on prompts {diffs}")
        if args.out.exists():
            shutil.rmtree(args.out)
        merged = merged.to(DTYPES[settings.get("dtype", "float32")])
        merged.save_pretrained(args.out)
        tokenizer.chat_template = chat_template()
        tokenizer.save_pretrained(args.out)
        shutil.copyfile(CHAT_TEMPLATE_PATH, args.out / "chat_template.jinja")
        params = yaml.safe_load(Path(args.params).read_text(encoding="utf-8"))
        card_metrics = {Path(p).stem: json.loads(Path(p).read_text()) for p in args.card if Path(p).is_file()}
        stats = json.loads(Path(args.stats).read_text()) if args.stats and Path(args.stats).is_file() else None
        (args.out / "README.md").write_text(model_card(args.out, params, card_metrics, stats, check), encoding="utf-8")
        import mlflow

        mlflow.log_metrics({"merge_identical": float(check["identical"]), "tokens_compared": check["tokens_compared"]})
        mlflow.log_artifact(str(args.out / "README.md"))
        tracking.run_file(args.out, run)
    write_json(args.metrics, check)
    print(f"export: {args.out} ({check})")


if __name__ == "__main__":
    main()
