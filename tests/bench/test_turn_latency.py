"""bench/turn_latency.py: the figures it reports are computed, not written by hand."""

from bench.turn_latency import TurnRow, parse_vllm_counters, percentile, report, summarise

METRICS = """# HELP vllm:prefix_cache_queries_total Prefix cache queries, in terms of number of queried tokens.
# TYPE vllm:prefix_cache_queries_total counter
vllm:prefix_cache_queries_total{engine="0",model_name="zapvendas"} 1000.0
vllm:prefix_cache_hits_total{engine="0",model_name="zapvendas"} 750.0
vllm:prompt_tokens_total{engine="0",model_name="zapvendas"} 1000.0
vllm:generation_tokens_total{engine="0",model_name="zapvendas"} 120.0
vllm:num_requests_running{engine="0",model_name="zapvendas"} 0.0
"""


def row(kind: str, total: float, llm: float = 0.0, tokens: int = 0) -> TurnRow:
    return TurnRow(
        "s",
        0,
        kind,
        total,
        agent_ms=llm + 10,
        llm_ms=llm,
        llm_calls=int(llm > 0),
        tokens=tokens,
        send_ms=50.0,
        wait_ms=total - llm - 60,
        replies=1,
    )


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 21)]  # 20 turns: p95 is the 19th, not the maximum
    assert (percentile(values, 50), percentile(values, 95), percentile(values, 100)) == (10.0, 19.0, 20.0)
    assert percentile([5.0], 95) == 5.0


def test_report_splits_turn_kinds_and_derives_shares_and_cache_hits():
    rows = [row("text", 2000, llm=1500, tokens=30), row("text", 2600, llm=2000, tokens=40), row("tap", 600)]
    summary = summarise(rows)
    assert summary["text turns"]["p95_ms"] == 2600 and summary["button turns"]["n"] == 1
    assert summary["text turns that called the model"]["n"] == 2
    meta = {
        "when": "now",
        "machine": "m",
        "model": "x",
        "catalogue": "c",
        "products": 3,
        "concurrency": 1,
        "settings": {"INBOX_BURST_WINDOW_S": 0.5},
        "vllm_counters": parse_vllm_counters(METRICS),
    }
    text = report(summary, rows, meta)
    assert "INBOX_BURST_WINDOW_S=0.5" in text
    assert "prefix cache: 75% of 1000 prompt tokens" in text
    assert "50.0 ms" in text  # (1500 + 2000) ms over 70 generated tokens
