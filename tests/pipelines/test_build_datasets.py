"""build_datasets: validation errors, PII scrub, leakage-free split, preference row functions, full stage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pipelines import build_datasets as bd
from pipelines import preference as pref
from serve.contract import TOOL_NAMES, Conversation, parse_brl_cents, parse_tool_arguments, tool_call

BANK = yaml.safe_load(pref.DEFAULT_BANK.read_text(encoding="utf-8"))
PARAMS = {
    "validation_share": 0.2,
    "test_share": 0.2,
    "seed": 17,
    "max_pairs_per_kind": None,
    "pushy_after_intents": ["decline", "objection_price"],
}


def search_result(*items) -> str:
    return json.dumps({"items": list(items)}, ensure_ascii=False, separators=(",", ":"))


def quick_purchase(rid="c1", query="toalha de banho", pid="aaaa1111", other="bbbb2222", low_stock=False) -> dict:
    """A pt quick purchase: search → reply with prices → add 2 → total → customer declines checkout."""
    first = {"id": pid, "name": "Toalha Felpuda", "price": "R$ 34,50", "score": 4.5, "reviews": 12}
    if low_stock:
        first |= {"low_stock": True, "stock": 2}
    second = {"id": other, "name": "Toalha de Rosto", "price": "R$ 19,90", "reviews": 0}
    return {
        "id": rid,
        "scenario": "quick_purchase",
        "language": "pt",
        "context": None,
        "messages": [
            {"role": "user", "content": f"oi, tem {query}? meu zap é (11) 98765-4321", "intent": "search_product"},
            {
                "role": "assistant",
                "technique": "consultiva:pergunta",
                "tool_calls": [tool_call("call_1", "search_products", {"query": query})],
            },
            {
                "role": "tool",
                "tool_call_id": "call_1",
                "name": "search_products",
                "content": search_result(first, second),
            },
            {
                "role": "assistant",
                "technique": "cialdini:prova_social",
                "content": "Achei a Toalha Felpuda por R$ 34,50 (nota 4,5) e a Toalha de Rosto por R$ 19,90. Qual prefere?",
            },
            {"role": "user", "content": "quero 2 da felpuda", "intent": "add_to_cart"},
            {
                "role": "assistant",
                "technique": "aida:acao",
                "tool_calls": [tool_call("call_2", "add_to_cart", {"product_id": pid, "quantity": 2})],
            },
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "name": "add_to_cart",
                "content": json.dumps(
                    {
                        "added": {"id": pid, "name": "Toalha Felpuda", "qty": 2},
                        "units": 2,
                        "subtotal": "R$ 69,00",
                        "freight": "R$ 15,00",
                        "total": "R$ 84,00",
                    },
                    ensure_ascii=False,
                ),
            },
            {
                "role": "assistant",
                "technique": "aida:acao",
                "content": "Pronto! Total de R$ 84,00 com frete. Vai ser Pix, cartão ou boleto?",
            },
            {"role": "user", "content": "não, obrigado, vou pensar", "intent": "decline"},
            {
                "role": "assistant",
                "technique": "nenhuma",
                "content": "Tudo bem! Seu carrinho fica salvo, é só me chamar.",
            },
        ],
    }


def handoff_en(rid="e1") -> dict:
    return {
        "id": rid,
        "scenario": "handoff",
        "language": "en",
        "context": {"name": "Ann", "recurring": True},
        "messages": [
            {"role": "user", "content": "my order never came, mail me at ann.lee@example.com", "intent": "complaint"},
            {
                "role": "assistant",
                "technique": "suporte",
                "content": "I'm sorry! I'll get a person to help you.",
                "tool_calls": [tool_call("call_1", "handoff_to_human", {"reason": "late order, call +1 555 123 4567"})],
            },
            {"role": "tool", "tool_call_id": "call_1", "name": "handoff_to_human", "content": '{"ok":true}'},
            {"role": "assistant", "technique": "suporte", "content": "Done: an agent will reply here shortly."},
        ],
    }


def off_topic(rid="o1") -> dict:
    return {
        "id": rid,
        "scenario": "off_topic",
        "language": "pt",
        "context": None,
        "messages": [
            {"role": "user", "content": "quem ganhou o jogo ontem?", "intent": "off_topic"},
            {
                "role": "assistant",
                "technique": "nenhuma",
                "content": "Disso eu não sei, mas posso te ajudar a achar um presente!",
            },
        ],
    }


def small_set(n: int = 60) -> list[dict]:
    """n valid records: overlapping queries/products (so groups chain), both languages, no-product talk."""
    queries = ["toalha de banho", "lençol casal", "fone bluetooth", "panela", "tapete"]
    rows = []
    for i in range(n):
        if i % 6 == 5:
            rows.append(handoff_en(f"e{i:03d}"))
        elif i % 6 == 4:
            rows.append(off_topic(f"o{i:03d}"))
        else:
            rows.append(quick_purchase(f"c{i:03d}", queries[i % 5], f"p{i % 7:07d}", f"p{(i + 3) % 7:07d}", i % 3 == 0))
    for r in rows:
        Conversation.model_validate(r)
    return rows


def assert_well_formed_assistant(msg: dict) -> None:
    assert msg["role"] == "assistant" and set(msg) <= {"role", "content", "tool_calls"}
    assert msg.get("content") or msg.get("tool_calls")
    for call in msg.get("tool_calls") or []:
        assert call["type"] == "function" and call["id"] and call["function"]["name"] in TOOL_NAMES
        assert isinstance(json.loads(call["function"]["arguments"]), dict)


def candidates(record, pool_extra=None):
    pool = {"product_ids": ["zzzz9999"], "queries": ["panela de pressão"], "pushy_after": {"decline"}} | (
        pool_extra or {}
    )
    return {row["kind"]: (row, variant) for row, variant in pref.preference_candidates(record, BANK, pool, seed=3)}


# ---------------------------------------------------------------- input validation and PII


def test_invalid_record_names_file_and_line(tmp_path):
    bad = quick_purchase("c2")
    bad["messages"][1]["tool_calls"][0]["function"]["arguments"] = json.dumps({"query": "x", "price": 10})
    path = tmp_path / "conv.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in (quick_purchase("c1"), bad)) + "\n")
    with pytest.raises(ValueError, match=r"conv\.jsonl:2: invalid conversation record \(id='c2'\).*price"):
        bd.load_conversations(path)
    path.write_text(json.dumps(quick_purchase("c1")) + "\n\n{not json\n")
    with pytest.raises(ValueError, match=r"conv\.jsonl:3: not valid JSON"):
        bd.load_conversations(path)
    path.write_text(json.dumps(quick_purchase("c1")) + "\n" + json.dumps(quick_purchase("c1")) + "\n")
    with pytest.raises(ValueError, match=r":2: duplicate id 'c1' \(first on line 1\)"):
        bd.load_conversations(path)


def test_scrub_record_removes_pii_everywhere_and_keeps_record_valid():
    from collections import Counter

    counts = Counter()
    pt = bd.scrub_record(quick_purchase(), counts)
    en = bd.scrub_record(handoff_en(), counts)
    assert pt["messages"][0]["content"] == "oi, tem toalha de banho? meu zap é [telefone]"
    assert en["messages"][0]["content"] == "my order never came, mail me at [email]"
    reason = json.loads(en["messages"][1]["tool_calls"][0]["function"]["arguments"])["reason"]
    assert reason == "late order, call [telefone]"
    assert counts == {"phone": 2, "email": 1}
    assert pt["messages"][3] == quick_purchase()["messages"][3]  # prices and ids untouched
    Conversation.model_validate(en)


# ---------------------------------------------------------------- split


def test_split_keeps_query_product_pairs_in_one_split():
    records = small_set(90)
    assignment, groups = bd.assign_splits(records, 0.2, 0.2, seed=5)
    keys = {s: set() for s in bd.SPLITS}
    for r in records:
        keys[assignment[r["id"]]] |= bd.leakage_keys(r)
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["validation"]
    assert not keys["validation"] & keys["test"]
    counts = {s: sum(v == s for v in assignment.values()) for s in bd.SPLITS}
    assert counts["test"] > 0 and counts["validation"] > 0 and sum(counts.values()) == 90
    assert groups["largest_group"] > 1 and groups["groups"] < 90
    assert bd.assign_splits(records, 0.2, 0.2, seed=5)[0] == assignment  # seeded


def test_leakage_keys_normalise_query_and_product_ref():
    a = quick_purchase("a", query="Toalha  de BANHO", pid="aaaa1111")
    b = quick_purchase("b", query="banho toalha de", pid="AAAA1111ffffffff")
    assert bd.leakage_keys(a) == bd.leakage_keys(b) == {("banho de toalha", "aaaa1111")}
    assert bd.leakage_keys(off_topic()) == set()


# ---------------------------------------------------------------- preference row functions


def test_every_kind_is_made_and_well_formed():
    rows = candidates(quick_purchase())
    assert set(rows) == set(pref.KINDS)
    for row, _ in rows.values():
        assert row["prompt"][0]["role"] == "system" and row["prompt"][-1]["role"] in ("user", "tool")
        assert_well_formed_assistant(row["chosen"][0])
        assert_well_formed_assistant(row["rejected"][0])
        assert row["chosen"] != row["rejected"]
        assert "technique" not in row["chosen"][0]


def test_wrong_tool_calls_another_tool_with_valid_arguments():
    row, _ = candidates(quick_purchase())["wrong_tool"]
    chosen, rejected = row["chosen"][0]["tool_calls"][0], row["rejected"][0]["tool_calls"][0]
    assert chosen["function"]["name"] != rejected["function"]["name"]
    parse_tool_arguments(rejected["function"]["name"], rejected["function"]["arguments"])
    assert rejected["id"] == chosen["id"]


@pytest.mark.parametrize("seed", range(8))
def test_wrong_arguments_keeps_the_tool_and_changes_the_arguments(seed):
    pool = {"product_ids": ["zzzz9999"], "queries": ["panela"], "pushy_after": set()}
    row, variant = next(
        c for c in pref.preference_candidates(quick_purchase(), BANK, pool, seed) if c[0]["kind"] == "wrong_arguments"
    )
    chosen, rejected = row["chosen"][0]["tool_calls"][0]["function"], row["rejected"][0]["tool_calls"][0]["function"]
    assert chosen["name"] == rejected["name"]
    c_args, r_args = json.loads(chosen["arguments"]), json.loads(rejected["arguments"])
    assert c_args != r_args
    if variant == "wrong_product":  # a product the customer was shown, not the one asked for
        assert r_args["product_id"] == "bbbb2222"
    elif variant == "missing_argument":
        assert set(r_args) < set(c_args)
    elif variant == "wrong_quantity":
        assert r_args["product_id"] == c_args["product_id"] and r_args["quantity"] != c_args["quantity"]


def test_invented_price_is_not_in_any_tool_result():
    row, _ = candidates(quick_purchase())["invented_price"]
    tool_amounts = {a for m in row["prompt"] if m["role"] == "tool" for a in parse_brl_cents(m["content"])}
    chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
    assert set(parse_brl_cents(chosen)) <= tool_amounts
    invented = [a for a in parse_brl_cents(rejected) if a not in tool_amounts]
    assert invented and len(parse_brl_cents(rejected)) == len(parse_brl_cents(chosen))
    strip = lambda t: pref.BRL_PATTERN.sub("<R$>", t)  # noqa: E731
    assert strip(chosen) == strip(rejected)  # only the amounts changed


def test_pushy_follows_a_no_and_is_pressure():
    row, _ = candidates(quick_purchase())["pushy"]
    assert row["prompt"][-1]["content"] == "não, obrigado, vou pensar"
    assert row["rejected"][0]["content"] in BANK["pushy"]["pt"]


def test_fake_scarcity_only_when_stock_is_plenty():
    row, _ = candidates(quick_purchase(low_stock=False))["fake_scarcity"]
    chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
    assert rejected.startswith(chosen) and pref.SCARCITY_WORDS.search(rejected[len(chosen) :])
    assert '"low_stock"' not in row["prompt"][-1]["content"]
    assert "fake_scarcity" not in candidates(quick_purchase(low_stock=True))
    cart = {
        "role": "tool",
        "content": '{"items":[{"id":"aaaa1111","name":"Toalha","qty":2,"price":"R$ 34,50"}],"units":2}',
    }
    ask = {"role": "user", "content": "o que tem no carrinho?"}
    assert not pref.turn_context([ask, cart], None)["plenty_in_stock"]  # cart lines say nothing about stock


def test_wrong_language_answers_in_the_other_language():
    pt_row, _ = candidates(quick_purchase())["wrong_language"]
    en_row, _ = candidates(handoff_en())["wrong_language"]
    en_bank = [t for v in BANK["wrong_language"]["en"].values() for t in v]
    pt_bank = [t for v in BANK["wrong_language"]["pt"].values() for t in v]
    assert pt_row["rejected"][0]["content"] in en_bank
    assert en_row["rejected"][0]["content"] in pt_bank


def test_balance_gives_every_present_kind_the_same_count():
    cands = [
        c
        for i in range(12)
        for c in pref.preference_candidates(
            quick_purchase(f"c{i}"), BANK, {"product_ids": [], "queries": [], "pushy_after": {"decline"}}, 1
        )
    ]
    cands = [c for c in cands if c[0]["kind"] != "pushy" or c[0]["id"].split(":")[0] in ("c0", "c1", "c2")]  # rarest: 3
    rows = pref.balance(cands, None, seed=1)
    kinds = [row["kind"] for row, _ in rows]
    assert {kinds.count(k) for k in pref.KINDS} == {3}
    assert len(pref.balance(cands, 2, seed=1)) == 12


# ---------------------------------------------------------------- full stage


def run_stage(tmp_path: Path, records: list[dict], name: str = "out") -> tuple[Path, Path]:
    conv = tmp_path / "conversations.jsonl"
    conv.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"build_datasets": PARAMS}))
    out, metrics = tmp_path / name, tmp_path / f"{name}_metrics.json"
    bd.main(["--conversations", str(conv), "--out", str(out), "--metrics", str(metrics), "--params", str(params)])
    return out, metrics


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_full_stage_writes_every_split_and_is_deterministic(tmp_path):
    records = small_set(60)
    out, metrics = run_stage(tmp_path, records)
    ids = {s: [r["id"] for r in read(out / "records" / f"{s}.jsonl")] for s in bd.SPLITS}
    assert sorted(sum(ids.values(), [])) == sorted(r["id"] for r in records)
    for split in bd.SPLITS:
        sft = read(out / "sft" / f"{split}.jsonl")
        assert [r["id"] for r in sft] == ids[split] and ids[split]
        assert all(
            r["messages"][0]["role"] == "system" and set(r) == {"id", "scenario", "language", "messages"} for r in sft
        )
        assert not any("intent" in m or "technique" in m for r in sft for m in r["messages"])
        assert "[telefone]" in json.dumps(sft, ensure_ascii=False) and "98765-4321" not in json.dumps(sft)
        pairs = read(out / "preference" / f"{split}.jsonl")
        assert all(set(r) == {"id", "kind", "prompt", "chosen", "rejected"} for r in pairs)
        assert all(r["id"].split(":")[0] in ids[split] for r in pairs)  # pairs stay in their conversation's split
        kinds = [r["kind"] for r in pairs]
        assert len({kinds.count(k) for k in set(kinds)}) == 1  # balanced
    train_kinds = {r["kind"] for r in read(out / "preference" / "train.jsonl")}
    assert train_kinds == set(pref.KINDS)
    records_train = read(out / "records" / "train.jsonl")
    assert any(m.get("intent") for r in records_train for m in r["messages"])  # labels kept
    stats = json.loads((out / "stats.json").read_text())
    m = json.loads(metrics.read_text())
    assert stats["pii_replacements"] == {"phone": 50, "email": 10} and m["pii_replacements"] == 60
    assert m["conversations"] == 60
    assert sum(stats["splits"][s]["conversations"] for s in bd.SPLITS) == 60
    assert stats["grouping"]["leaked_pairs"] == 0
    out2, _ = run_stage(tmp_path, records, "again")
    for sub in ("sft", "preference", "records"):
        for split in bd.SPLITS:
            assert (out / sub / f"{split}.jsonl").read_bytes() == (out2 / sub / f"{split}.jsonl").read_bytes()


def test_wrong_product_falls_back_to_catalogue_ids_when_none_was_shown():
    rec = {
        "id": "r1",
        "scenario": "recurring",
        "language": "pt",
        "context": {"name": "Bia", "recurring": True},
        "messages": [
            {"role": "user", "content": "manda mais um daquele sabonete", "intent": "add_to_cart"},
            {"role": "assistant", "tool_calls": [tool_call("call_1", "add_to_cart", {"product_id": "aaaa1111"})]},
            {"role": "tool", "tool_call_id": "call_1", "name": "add_to_cart", "content": '{"units":1}'},
            {"role": "assistant", "content": "Feito!"},
        ],
    }
    pool = {"product_ids": ["aaaa1111ffff", "zzzz9999"], "queries": [], "pushy_after": set()}
    variants = {}
    for seed in range(20):
        for row, variant in pref.preference_candidates(rec, BANK, pool, seed):
            if row["kind"] == "wrong_arguments":
                variants[variant] = json.loads(row["rejected"][0]["tool_calls"][0]["function"]["arguments"])
    assert variants["wrong_product"]["product_id"] == "zzzz9999"  # never the same product by its longer id
    assert set(variants) == {"wrong_product", "wrong_quantity", "missing_argument"}


def test_pairs_render_with_the_contract_template_and_parse_back():
    """prompt + chosen / prompt + rejected render as a continuation of the prompt; calls read back (hermes)."""
    from serve.contract.template import extract_tool_calls, render_chat

    for row, _ in candidates(quick_purchase()).values():
        prompt = render_chat(row["prompt"], add_generation_prompt=True)
        for side in ("chosen", "rejected"):
            completion = render_chat(row["prompt"] + row[side]).removeprefix(prompt)
            assert completion.endswith("<|im_end|>\n") and not completion.startswith("<|im_start|>")
            content, calls = extract_tool_calls(completion.removesuffix("<|im_end|>\n"))
            names = [c["function"]["name"] for c in row[side][0].get("tool_calls") or []]
            assert [c["name"] for c in calls] == names
