"""Structured JSON logs without PII: one JSON object per line on stderr.

What may appear: ids (customer_id, order code, wamid), counts, latencies, error class names.
What must not: phone numbers, names, message text. Our modules only log the former; as a safety
net the formatter masks any run of 10+ digits (a phone number in E.164 or local form, a CPF) in
the message and string fields, and `extra` keys named like text/phone/name are dropped.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time

DIGITS_RE = re.compile(r"\+?\d[\d\s().-]{8,}\d")
DROPPED_KEYS = frozenset({"text", "body", "phone", "name", "content", "message_text", "profile_name"})
# Attributes every LogRecord has; everything else on a record came from `extra=`.
STANDARD = frozenset(vars(logging.LogRecord("x", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def scrub(text: str) -> str:
    def mask(m: re.Match) -> str:
        return "<redacted>" if sum(c.isdigit() for c in m.group(0)) >= 10 else m.group(0)

    return DIGITS_RE.sub(mask, text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key in STANDARD or key.startswith("_") or key in DROPPED_KEYS:
                continue
            out[key] = scrub(value) if isinstance(value, str) else value
        if record.exc_info:
            out["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Route root, uvicorn and our loggers to one JSON handler (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
    for noisy in ("httpx", "httpcore", "openai", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(logging.WARNING)  # request lines would log full URLs and bodies
