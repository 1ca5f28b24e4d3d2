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
    )
    assert settings.is_production
