"""Bot settings from the environment or `.env` (pydantic-settings), in the fastapi full-stack style.

Attribute names are the environment variable names (`settings.DATABASE_URL`). Secrets that are
empty or placeholders ("changeme", "secret", "xxx", ...) are refused unless ENV is development or
test; there, empty secrets get clearly marked dev values ("dev-insecure-...") so `make chat` and
the tests run without any account. Production must set every secret of the parts it uses.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET_PREFIX = "dev-insecure-"

# Values people leave in .env files by mistake; compared lowercase, after stripping.
PLACEHOLDERS = {
    "",
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "secret",
    "password",
    "xxx",
    "todo",
    "token",
    "none",
    "null",
    "test",
    "example",
    "placeholder",
    "your-token",
    "your_token",
    "<secret>",
    "...",
}


def is_placeholder(value: str | None) -> bool:
    """True for empty strings, well-known placeholders, runs of one character ("xxxx", "0000")
    and our own dev defaults (which must never reach production)."""
    if value is None:
        return True
    v = value.strip().lower()
    return v in PLACEHOLDERS or v.startswith(DEV_SECRET_PREFIX) or bool(re.fullmatch(r"(.)\1{2,}", v))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    ENV: Literal["development", "test", "production"] = "development"
    LOG_LEVEL: str = "INFO"

    # WhatsApp Cloud API (Meta app dashboard → WhatsApp → API setup / Configuration).
    WHATSAPP_APP_SECRET: str = ""  # signs webhook POSTs (X-Hub-Signature-256)
    WHATSAPP_VERIFY_TOKEN: str = ""  # echoed in the GET handshake
    WHATSAPP_ACCESS_TOKEN: str = ""  # system-user token for the Graph API
    WHATSAPP_PHONE_NUMBER_ID: str = ""
    WHATSAPP_API_BASE_URL: str = "https://graph.facebook.com"  # a local fake in tests / make chat
    WHATSAPP_API_VERSION: str = "26.0"  # pywa takes "26.0"; URLs use "v26.0" (see graph_api_url)

    DATABASE_URL: str = "sqlite:///zapvendas.db"

    # The model, served by vLLM's OpenAI-compatible server.
    LLM_BASE_URL: str = "http://127.0.0.1:8000/v1"
    LLM_MODEL: str = "zapvendas"
    LLM_API_KEY: str = "EMPTY"  # vLLM ignores it unless started with --api-key
    LLM_TIMEOUT_S: float = 20.0  # per customer turn, all its model calls (and their wait for a slot)
    LLM_MAX_CONCURRENCY: int = 4  # model calls in flight at once (vLLM-CPU on 2 cores: ~4)

    CATALOGUE_DIR: str = "data/processed/catalogue"
    MEDIA_DIR: str = "var/media"  # rendered product cards (PNG), cached
    PUBLIC_BASE_URL: str = "http://127.0.0.1:8080"  # where customers reach /pay/{id} and webhooks
    PHONE_HASH_KEY: str = ""  # HMAC key for customers.phone_hash

    # Payments: sandbox (embedded page + signed webhook), mercadopago or stripe.
    PAYMENT_PROVIDER: Literal["sandbox", "mercadopago", "stripe"] = "sandbox"
    SANDBOX_WEBHOOK_SECRET: str = ""
    SANDBOX_IN_PRODUCTION: bool = False  # sandbox "payments" are free: refused in production unless set
    PAYMENT_WEBHOOK_TOLERANCE_S: int = 300  # max age of a signed webhook timestamp (replay window)
    MERCADOPAGO_ACCESS_TOKEN: str = ""
    MERCADOPAGO_WEBHOOK_SECRET: str = ""  # "secret signature" of the webhook in the MP dashboard
    MERCADOPAGO_API_BASE_URL: str = "https://api.mercadopago.com"
    STRIPE_API_KEY: str = ""
    STRIPE_WEBHOOK_SECRET: str = ""  # whsec_...
    STRIPE_API_BASE_URL: str = "https://api.stripe.com"
    ADMIN_TOKEN: str = ""  # bearer token for /admin/* in production (open in development/test)
    ORDER_DELIVERY_DAYS: int = 7  # business days added to "today" for estimated_delivery
    # An order awaiting payment holds its stock this long, then expires (canceled, units released:
    # serve/commerce/stock.py). PIX and card are paid in minutes; a boleto settles 1-3 business
    # days after it is paid, so it holds longer (a weekend included).
    ORDER_PAYMENT_EXPIRY_MINUTES: int = 120
    ORDER_BOLETO_EXPIRY_HOURS: int = 120
    ORDER_EXPIRY_SWEEP_S: float = 60.0  # how often the app cancels expired unpaid orders
    # The store's policies, hours and contact the bot states (serve/conversation/knowledge.py);
    # a relative path is read from the working directory, else from the repository.
    STORE_CONFIG: str = "configs/store.yaml"

    # Outbound pacing: Cloud API default throughput is 80 msg/s per business number; per-recipient
    # spacing avoids the pair rate limit (error 131056) when one reply is several messages.
    OUTBOUND_MSGS_PER_SECOND: float = 80.0
    OUTBOUND_PER_RECIPIENT_INTERVAL_S: float = 0.25
    OUTBOUND_MAX_ATTEMPTS: int = 8
    OUTBOUND_BACKOFF_BASE_S: float = 1.0  # doubled per attempt on throttling errors
    SERVICE_WINDOW_HOURS: int = 24
    # Approved template sent once when a free-form reply hits a closed 24-h window ("" = none: fail only).
    WHATSAPP_REENGAGEMENT_TEMPLATE: str = ""
    WHATSAPP_TEMPLATE_LANGUAGE: str = "pt_BR"
    # Approved UTILITY templates for order notices sent outside the 24-h window (notice → template
    # name; body parameters in serve/whatsapp/order_notices.py). Inside the window the same notice
    # goes as free text. A notice missing here is sent only inside the window.
    WHATSAPP_NOTICE_TEMPLATES: dict[str, str] = {
        "paid": "pedido_pago",
        "payment_failed": "pagamento_recusado",
        "shipped": "pedido_enviado",
        "delivered": "pedido_entregue",
        "canceled": "pedido_cancelado",
    }
    # Messages closer than this are answered together. It is added to every turn's latency, so it
    # is short; the common burst, a greeting then the request ("oi" ... "tem toalha azul?"), is
    # caught by holding greeting-only messages longer (serve/whatsapp/inbox.py: is_greeting_only).
    INBOX_BURST_WINDOW_S: float = 0.5
    INBOX_GREETING_HOLD_S: float = 1.5
    INBOX_LOCK_S: float = 120.0  # a claimed inbox row is retried by another worker after this
    # Customers whose turns run at once. Most of a turn is waiting (on vLLM, on the database), and
    # button turns need no model, so this is high; model calls are capped by LLM_MAX_CONCURRENCY.
    WORKER_CONCURRENCY: int = 32
    # On SIGTERM the app stops claiming and lets turns in flight finish for at most this long, in
    # all (then they are cancelled; their batches are claimed again and replay their effects).
    # Above LLM_TIMEOUT_S, so a model turn that has started can end; `make serve` waits longer.
    SHUTDOWN_WAIT_S: float = 25.0

    # Agent limits per customer turn.
    AGENT_MAX_STEPS: int = 4  # model calls (tool rounds) per turn
    # Completion tokens per model call: above the longest tool call or reply of the training
    # dialogues, so it only cuts a model that rambles. Replies that word tool results run longer:
    # give ~160 with AGENT_REPLY_AFTER_TOOLS=model (lengths in bench/RESULTS.md, "Figures behind settings").
    AGENT_MAX_TOKENS: int = 64
    # Who words the answer once a tool call has worked: "server" (from the tool result, no second
    # model call: one call per text turn) or "model" (a second call phrases the result, at the
    # cost of that call's latency: bench/RESULTS.md).
    AGENT_REPLY_AFTER_TOOLS: Literal["server", "model"] = "server"
    AGENT_HISTORY_TURNS: int = 20  # chat_turns rows read back as context
    # After each turn, have vLLM read the customer's updated context (1-token request) while the
    # customer reads and types: the next model call then prefills only the new message.
    AGENT_PREFILL_BETWEEN_TURNS: bool = True
    # Intent classifier from the nlu stage. Greetings, thanks, "no, thanks", "my cart", "my order",
    # checkout and human/complaint requests classified with at least this probability are answered by the
    # server (serve/conversation/routing.py: INTENT_COMMANDS), without the model. "" = off.
    NLU_DIR: str = "models/nlu"
    NLU_MIN_CONFIDENCE: float = 0.8
    # When the classifier is that sure of an intent that needs a tool with arguments (a search, an
    # add to cart: serve/conversation/routing.py INTENT_TOOLS), the server starts the model's answer with that
    # tool's call (`<tool_call>\n{"name": "search_products", "arguments":`) and the model writes
    # only the arguments: ~20 generated tokens instead of ~35, and the tool the classifier picked
    # (test accuracy 0.99) instead of the model's guess (correct tool 0.71, metrics/evaluate.json).
    AGENT_TOOL_FROM_INTENT: bool = True
    # vLLM structured outputs on every model call (serve/conversation/structured_outputs.py): the
    # arguments of a call the server started, and free turns' calls, follow the contract's schema
    # with the catalogue's categories and the products shown: a call always parses
    # (bench/RESULTS.md, "Structured outputs"). Off for a server without structural tags.
    AGENT_STRUCTURED_OUTPUTS: bool = True
    # A text that asks for products of a category the catalogue has ("vcs tem perfume?", "presente
    # pra minha afilhada de 7 anos") is searched by the server before the classifier or the model
    # reads it (serve/conversation/routing.py: shopping_command). Off: the model searches them
    # (a request that also states a budget is still the server's, as with a search intent).
    AGENT_SERVER_SEARCH: bool = True

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        needed = ["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN", "PHONE_HASH_KEY"]
        needed += {
            "sandbox": ["SANDBOX_WEBHOOK_SECRET"],
            "mercadopago": ["MERCADOPAGO_ACCESS_TOKEN", "MERCADOPAGO_WEBHOOK_SECRET"],
            "stripe": ["STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"],
        }[self.PAYMENT_PROVIDER]
        if self.ENV in ("development", "test"):
            # Fill what is missing with marked dev values; every secret, not just the needed ones,
            # so switching PAYMENT_PROVIDER in a test needs no extra setup.
            for name in (
                "WHATSAPP_APP_SECRET",
                "WHATSAPP_VERIFY_TOKEN",
                "WHATSAPP_ACCESS_TOKEN",
                "PHONE_HASH_KEY",
                "SANDBOX_WEBHOOK_SECRET",
                "MERCADOPAGO_WEBHOOK_SECRET",
                "STRIPE_WEBHOOK_SECRET",
            ):
                if not getattr(self, name).strip():
                    setattr(self, name, DEV_SECRET_PREFIX + name.lower().replace("_", "-"))
            if not self.WHATSAPP_PHONE_NUMBER_ID:
                self.WHATSAPP_PHONE_NUMBER_ID = "100000000000001"
            return self
        bad = [name for name in needed if is_placeholder(getattr(self, name))]
        if is_placeholder(self.WHATSAPP_PHONE_NUMBER_ID):
            bad.append("WHATSAPP_PHONE_NUMBER_ID")
        if bad:
            raise ValueError(
                f"ENV={self.ENV}: set real values for {', '.join(bad)} (empty or placeholder values are "
                "only accepted with ENV=development or ENV=test)"
            )
        if self.PAYMENT_PROVIDER == "sandbox" and not self.SANDBOX_IN_PRODUCTION:
            raise ValueError(
                "ENV=production with PAYMENT_PROVIDER=sandbox: sandbox payments cost nothing; choose "
                "mercadopago or stripe, or set SANDBOX_IN_PRODUCTION=true for a demo deployment"
            )
        return self

    @property
    def graph_api_url(self) -> str:
        """Graph API root with version, e.g. https://graph.facebook.com/v26.0."""
        return f"{self.WHATSAPP_API_BASE_URL.rstrip('/')}/v{self.WHATSAPP_API_VERSION.lstrip('v')}"

    @property
    def is_sqlite(self) -> bool:
        return self.DATABASE_URL.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (read once). Tests call `get_settings.cache_clear()` after
    changing the environment."""
    return Settings()


__all__ = ["DEV_SECRET_PREFIX", "Settings", "get_settings", "is_placeholder"]
