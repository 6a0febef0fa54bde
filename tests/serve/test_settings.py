"""Settings: environment/.env, dev defaults clearly marked, placeholder secrets refused in production."""

import pytest
from pydantic import ValidationError

from serve.settings import DEV_SECRET_PREFIX, Settings, get_settings, is_placeholder

PROD = {
    "ENV": "production",
    "WHATSAPP_APP_SECRET": "3f9a1c0d7e5b4a2f",
    "WHATSAPP_VERIFY_TOKEN": "vt-8d7c6b5a",
    "WHATSAPP_ACCESS_TOKEN": "EAAGm0PX4ZCpsBAKZAZ",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "PHONE_HASH_KEY": "k-2b7e151628aed2a6",
    "PAYMENT_PROVIDER": "stripe",
    "STRIPE_API_KEY": "sk_live_51H8",
    "STRIPE_WEBHOOK_SECRET": "whsec_9f8e7d",
}


def _clean_env(monkeypatch):
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)


def test_development_defaults_are_marked(monkeypatch, tmp_path):
    _clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)  # no .env here
    s = Settings()
    assert s.ENV == "development" and s.DATABASE_URL == "sqlite:///zapvendas.db"
    assert s.LLM_BASE_URL == "http://127.0.0.1:8000/v1" and s.OUTBOUND_MSGS_PER_SECOND == 80
    assert s.WHATSAPP_APP_SECRET.startswith(DEV_SECRET_PREFIX) and s.PHONE_HASH_KEY.startswith(DEV_SECRET_PREFIX)
    assert s.graph_api_url == "https://graph.facebook.com/v26.0"


def test_environment_and_dotenv(monkeypatch, tmp_path):
    _clean_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DATABASE_URL=postgresql://postgres@db/zap\nLLM_MODEL=from-dotenv\n")
    monkeypatch.setenv("LLM_MODEL", "from-env")  # the environment wins over .env
    monkeypatch.setenv("OUTBOUND_MSGS_PER_SECOND", "20")
    s = Settings()
    assert (s.DATABASE_URL, s.LLM_MODEL, s.OUTBOUND_MSGS_PER_SECOND) == (
        "postgresql://postgres@db/zap",
        "from-env",
        20.0,
    )
    get_settings.cache_clear()
    assert get_settings() is get_settings() and get_settings().LLM_MODEL == "from-env"
    get_settings.cache_clear()


def test_production_accepts_real_secrets(monkeypatch):
    _clean_env(monkeypatch)
    s = Settings(_env_file=None, **PROD)
    assert s.STRIPE_WEBHOOK_SECRET == "whsec_9f8e7d" and s.ENV == "production"


@pytest.mark.parametrize(
    "value", ["", "changeme", "CHANGEME", "secret", "xxx", "xxxxxxxx", "  ", "dev-insecure-abc", "..."]
)
def test_production_refuses_placeholders_naming_the_field(monkeypatch, value):
    _clean_env(monkeypatch)
    with pytest.raises(ValidationError, match="WHATSAPP_APP_SECRET"):
        Settings(_env_file=None, **(PROD | {"WHATSAPP_APP_SECRET": value}))


def test_production_needs_the_chosen_providers_keys(monkeypatch):
    _clean_env(monkeypatch)
    with pytest.raises(ValidationError, match="MERCADOPAGO_ACCESS_TOKEN, MERCADOPAGO_WEBHOOK_SECRET"):
        Settings(_env_file=None, **(PROD | {"PAYMENT_PROVIDER": "mercadopago"}))
    with pytest.raises(ValidationError, match="sandbox payments cost nothing"):
        Settings(_env_file=None, **(PROD | {"PAYMENT_PROVIDER": "sandbox", "SANDBOX_WEBHOOK_SECRET": "s-81f2a9"}))
    demo = Settings(
        _env_file=None,
        **(
            PROD
            | {"PAYMENT_PROVIDER": "sandbox", "SANDBOX_WEBHOOK_SECRET": "s-81f2a9", "SANDBOX_IN_PRODUCTION": "true"}
        ),
    )
    assert demo.PAYMENT_PROVIDER == "sandbox"
    with pytest.raises(ValidationError, match="ENV"):
        Settings(_env_file=None, ENV="staging")


def test_placeholder_rule():
    assert is_placeholder(None) and is_placeholder("TODO") and is_placeholder("0000")
    assert not is_placeholder("whsec_9f8e7d") and not is_placeholder("abc")
