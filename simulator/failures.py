"""The most common ways simulated conversations fail, each with an example from the transcripts.

A failed conversation's mode is its first unhelpful reply ("<what the customer did> → <what came
back>", recorded by the customer), or, when every reply helped, how it ended (the judge's reason).
"""

from __future__ import annotations

from collections import Counter


def failure_mode(row: dict) -> str | None:
    if row["success"]:
        return None
    if row["misunderstood"]:
        return row["misunderstood"][0][1]
    return f"{row['ended']}: {row['reason']}"


def _bot_text(turn: dict) -> str:
    for reply in turn["bot"]:
        text = reply.get("body") or reply.get("caption") or ""
        if reply.get("rows"):
            text += " [" + " | ".join(r[1] for r in reply["rows"][:3]) + "]"
        if text:
            return text.replace("\n", " ")[:140]
    return ""


def example(row: dict) -> str:
    at = row["misunderstood"][0][0] if row["misunderstood"] else len(row["transcript"]) - 1
    turn = row["transcript"][min(at, len(row["transcript"]) - 1)]
    return (
        f"{row['goal_id']}/{row['trial']} ({row['scenario']}): customer «{turn['customer']}» → bot «{_bot_text(turn)}»"
    )


def top_failure_modes(rows: list[dict], n: int = 5) -> list[dict]:
    modes = Counter(m for m in map(failure_mode, rows) if m)
    out = []
    for mode, count in modes.most_common(n):
        hits = [r for r in rows if failure_mode(r) == mode]
        scenarios = Counter(r["scenario"] for r in hits)
        out.append({"mode": mode, "count": count, "scenarios": dict(scenarios), "example": example(hits[0])})
    return out


def markdown(rows_by_model: dict[str, list[dict]], n: int = 5) -> str:
    lines = ["# Failure modes of the simulated conversations", ""]
    for model, rows in rows_by_model.items():
        failed = sum(1 for r in rows if not r["success"])
        lines += [f"## {model}: {failed} of {len(rows)} conversations failed", ""]
        for i, m in enumerate(top_failure_modes(rows, n), 1):
            where = ", ".join(f"{s} {c}" for s, c in sorted(m["scenarios"].items(), key=lambda x: -x[1]))
            lines += [f"{i}. **{m['mode']}** — {m['count']} ({where})", f"   e.g. {m['example']}"]
        lines.append("")
    return "\n".join(lines)
