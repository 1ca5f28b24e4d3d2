import pytest
from pydantic import ValidationError

from referral_service.config import ReferralSettings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AUTH_SERVICE_URL",
        "JWKS_URL",
        "REFERRAL_DATABASE_URL",
        "INVITED_USERS_PAGE_SIZE",
    ):
        monkeypatch.delenv(name, raising=False)

    settings = ReferralSettings()

    assert (
        settings.referral_database_url == "postgresql+psycopg2://postgres@127.0.0.1:5432/referral"
    )
    assert settings.jwks_url == "http://127.0.0.1:8001/authentication/.well-known/jwks.json"
    assert settings.invited_users_page_size == 100


def test_the_jwks_url_follows_the_auth_service_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWKS_URL", raising=False)
    monkeypatch.setenv("AUTH_SERVICE_URL", "http://auth:8001/")

    assert ReferralSettings().jwks_url == "http://auth:8001/authentication/.well-known/jwks.json"


def test_every_setting_comes_from_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JWKS_URL", "http://keys.internal/jwks.json")
    monkeypatch.setenv("REFERRAL_DATABASE_URL", "sqlite:///var/referral.db")
    monkeypatch.setenv("REDIS_URL", "memory://x")
    monkeypatch.setenv("INVITED_USERS_PAGE_SIZE", "25")
    monkeypatch.setenv("DB_POOL_SIZE", "3")

    settings = ReferralSettings()

    assert settings.jwks_url == "http://keys.internal/jwks.json"
    assert settings.referral_database_url == "sqlite:///var/referral.db"
    assert settings.redis_url == "memory://x"
    assert settings.invited_users_page_size == 25
    assert settings.db_pool_size == 3


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_a_nonsense_page_size_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("INVITED_USERS_PAGE_SIZE", value)

    with pytest.raises(ValueError, match="invited_users_page_size"):
        ReferralSettings()


def test_production_refuses_a_development_database_password() -> None:
    with pytest.raises(ValidationError, match="REFERRAL_DATABASE_URL has a development password"):
        ReferralSettings(
            app_env="production",
            referral_database_url="postgresql+psycopg2://referral:dev-insecure-x@db/referral",
        )
    settings = ReferralSettings(
        app_env="production",
        referral_database_url="postgresql+psycopg2://referral:a-real-one@db/referral",
        visitor_hash_key="a-real-visitor-hash-key-of-32-bytes",
        audit_hash_key="a-real-audit-hash-key-of-32-bytes-",
        public_base_url="https://invite.example.com",
    )
    assert settings.is_production


def test_production_refuses_share_links_without_a_public_origin() -> None:
    real = {
        "app_env": "production",
        "referral_database_url": "postgresql+psycopg2://referral:a-real-one@db/referral",
        "visitor_hash_key": "a-real-visitor-hash-key-of-32-bytes",
        "audit_hash_key": "a-real-audit-hash-key-of-32-bytes-",
    }
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL must be set"):
        ReferralSettings(**real)
    assert ReferralSettings(**real, public_base_url="https://invite.example.com").is_production


def test_production_refuses_a_development_visitor_hash_key() -> None:
    real_url = "postgresql+psycopg2://referral:a-real-one@db/referral"
    with pytest.raises(ValidationError, match="VISITOR_HASH_KEY must be set to a real secret"):
        ReferralSettings(app_env="production", referral_database_url=real_url)
    with pytest.raises(ValidationError, match="VISITOR_HASH_KEY must be at least 32 bytes"):
        ReferralSettings(
            app_env="production", referral_database_url=real_url, visitor_hash_key="short"
        )
    with pytest.raises(ValidationError, match="VISITOR_HASH_KEY must be set to a real secret"):
        ReferralSettings(app_env="production", referral_database_url=real_url, visitor_hash_key="")


@pytest.mark.parametrize(
    ("value", "origin"),
    [
        ("https://invite.example.com", "https://invite.example.com"),
        ("https://invite.example.com/", "https://invite.example.com"),
        ("http://localhost:8080", "http://localhost:8080"),
        ("", None),
    ],
)
def test_the_public_base_url_is_an_origin(
    monkeypatch: pytest.MonkeyPatch, value: str, origin: str | None
) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", value)
    assert ReferralSettings().public_base_url == origin


@pytest.mark.parametrize(
    "value",
    [
        "example.com",
        "ftp://example.com",
        "https://example.com/app",
        "https://example.com?x=1",
        "https://example.com#x",
        "https://user@example.com",
        "https://example.com:port",
        "https://",
    ],
)
def test_a_public_base_url_that_is_no_origin_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", value)
    with pytest.raises(ValidationError, match="public_base_url"):
        ReferralSettings()


def test_trusted_proxies_and_the_visit_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1,::1")
    monkeypatch.setenv("INVITE_VISIT_WINDOW_SECONDS", "60")
    settings = ReferralSettings()
    assert [str(network) for network in settings.trusted_proxies] == ["127.0.0.1/32", "::1/128"]
    assert settings.invite_visit_window_seconds == 60


def test_the_audit_hash_key_has_a_development_default_that_production_refuses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AUDIT_HASH_KEY", raising=False)
    assert ReferralSettings().audit_hash_key.get_secret_value() == "dev-insecure-audit-hash-key"
    real = {
        "app_env": "production",
        "referral_database_url": "postgresql+psycopg2://referral:a-real-one@db/referral",
        "visitor_hash_key": "a-real-visitor-hash-key-of-32-bytes",
        "public_base_url": "https://invite.example.com",
    }
    with pytest.raises(ValidationError, match="AUDIT_HASH_KEY must be set to a real secret"):
        ReferralSettings(**real)
    with pytest.raises(ValidationError, match="AUDIT_HASH_KEY must be at least 32 bytes"):
        ReferralSettings(**real, audit_hash_key="short")
    monkeypatch.setenv("AUDIT_HASH_KEY", "an-audit-hash-key-from-the-environment")
    settings = ReferralSettings(**real)
    assert settings.audit_hash_key.get_secret_value() == "an-audit-hash-key-from-the-environment"
