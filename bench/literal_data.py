"""Literal contract conversations for training runs that must not depend on the data stages:
the test suite's smoke training and bench/gpu_check.py.

    write_datasets(root)   # root/sft and root/preference, train/validation/test JSONL

Rows follow build_datasets' formats: sft rows = {"id","scenario","language","messages"};
preference rows = {"id","kind","prompt","chosen","rejected"}, built with the contract's helpers.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from serve.contract import chat_messages, tool_call, write_jsonl

PRODUCTS = [
    ("fone bluetooth", "eletronicos", "a1b2c3", "Fone Bluetooth Preto", 8990),
    ("jogo de cama casal", "cama_mesa_banho", "d4e5f6", "Jogo de Cama Casal 4 Peças", 12950),
    ("relógio de pulso", "relogios_presentes", "0f9e8d", "Relógio Analógico Prata", 19900),
    ("cadeira de escritório", "moveis_escritorio", "77aa11", "Cadeira Giratória Ergonômica", 45990),
    ("perfume feminino", "perfumaria", "5c5c5c", "Perfume Floral 100 ml", 15900),
]
ASKS_PT = ["oi, tem {q}?", "vcs vendem {q}??", "to procurando {q} ate {p} reais", "quero um {q} bom e barato"]
ASKS_EN = ["hi, do you have {q}?", "looking for a {q} under {p} reais"]


def brl(cents: int) -> str:
    return f"R$ {cents // 100},{cents % 100:02d}"


def record(i: int, rng: random.Random) -> dict:
    query, category, pid, name, cents = rng.choice(PRODUCTS)
    english = i % 5 == 4
    ask = rng.choice(ASKS_EN if english else ASKS_PT).format(q=query, p=cents // 100 + 20)
    args = {"query": query}
    if rng.random() < 0.5:
        args["max_price"] = float(cents // 100 + 20)
    result = {"products": [{"product_id": pid, "name": name, "price": brl(cents), "rating": 4.5, "reviews": 12}]}
    reply = (
        f"Found {name} for {brl(cents)}, rated 4.5 by 12 customers. Want me to add it to your cart?"
        if english
        else f"Achei o {name} por {brl(cents)}, nota 4,5 em 12 avaliações. Quer que eu coloque no carrinho?"
    )
    messages = [
        {"role": "user", "content": ask},
        {"role": "assistant", "content": None, "tool_calls": [tool_call(f"call_{i}", "search_products", args)]},
        {
            "role": "tool",
            "tool_call_id": f"call_{i}",
            "name": "search_products",
            "content": json.dumps(result, ensure_ascii=False),
        },
        {"role": "assistant", "content": reply},
    ]
    if i % 3 == 0:  # some longer dialogues: the customer accepts, the assistant adds to the cart
        messages += [
            {"role": "user", "content": "yes please" if english else "pode sim"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [tool_call(f"call_{i}b", "add_to_cart", {"product_id": pid, "quantity": 1})],
            },
            {
                "role": "tool",
                "tool_call_id": f"call_{i}b",
                "name": "add_to_cart",
                "content": json.dumps({"ok": True, "total": brl(cents)}),
            },
            {
                "role": "assistant",
                "content": "Added! Anything else?" if english else "Pronto, coloquei no carrinho! Mais alguma coisa?",
            },
        ]
    context = {"name": "Ana", "recurring": True, "preferred_categories": [category]} if i % 7 == 6 else None
    return {
        "id": f"c{i:05d}",
        "scenario": "quick_purchase",
        "language": "en" if english else "pt",
        "context": context,
        "messages": messages,
    }


def sft_rows(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        rec = record(i, rng)
        rows.append(
            {"id": rec["id"], "scenario": rec["scenario"], "language": rec["language"], "messages": chat_messages(rec)}
        )
    return rows


def preference_rows(n: int, seed: int = 0) -> list[dict]:
    """Prompt = everything up to the first user turn; chosen = the right tool call, rejected = a wrong one."""
    rows = []
    for row in sft_rows(n, seed):
        prompt = row["messages"][:2]
        chosen = row["messages"][2]
        rejected = {"role": "assistant", "content": "Temos sim! Custa só R$ 9,90, corre que está acabando!"}
        if int(row["id"][1:]) % 2:
            rejected = {"role": "assistant", "content": None, "tool_calls": [tool_call("call_x", "view_cart", {})]}
        rows.append(
            {"id": row["id"], "kind": "wrong_tool", "prompt": prompt, "chosen": [chosen], "rejected": [rejected]}
        )
    return rows


def outcome_rows(n: int, seed: int = 0) -> list[dict]:
    """The outcome_pairs stage's rows (simulator/outcome_pairs_stage.py): preference rows with the
    candidates' rewards."""
    return [{**row, "kind": "outcome", "rewards": [1.1, 0.2, 0.0, -0.3]} for row in preference_rows(n, seed)]


def write_outcome_pairs(root: Path, n: int = 6) -> Path:
    """data/processed/outcome_pairs layout: train.jsonl only (the round has no validation split)."""
    root.mkdir(parents=True, exist_ok=True)
    write_jsonl(root / "train.jsonl", outcome_rows(n, seed=4))
    return root


def write_datasets(root: Path, n_train: int = 24, n_eval: int = 8) -> Path:
    """data/processed/datasets layout: sft/ and preference/ with train/validation/test JSONL."""
    for kind, make in (("sft", sft_rows), ("preference", preference_rows)):
        (root / kind).mkdir(parents=True, exist_ok=True)
        write_jsonl(root / kind / "train.jsonl", make(n_train, seed=1))
        write_jsonl(root / kind / "validation.jsonl", make(n_eval, seed=2))
        write_jsonl(root / kind / "test.jsonl", make(n_eval, seed=3))
    return root
