import pytest
from pydantic import ValidationError

from profile_service.config import ProfileSettings


def test_contract_variable_names_configure_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTH_SERVICE_URL", "http://auth:8001")
    monkeypatch.setenv("REFERRAL_SERVICE_URL", "http://referral:8002")
    monkeypatch.setenv("UPSTREAM_TIMEOUT_SECONDS", "1.5")
    monkeypatch.setenv("PROFILE_CACHE_TTL_SECONDS", "30")

    settings = ProfileSettings()

    assert str(settings.auth_service_url) == "http://auth:8001/"
    assert settings.jwks_url == "http://auth:8001/authentication/.well-known/jwks.json"
    assert str(settings.referral_service_url) == "http://referral:8002/"
    assert settings.upstream_timeout_seconds == 1.5
    assert settings.profile_cache_ttl_seconds == 30


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UPSTREAM_TIMEOUT_SECONDS", "0"),
        ("PROFILE_CACHE_TTL_SECONDS", "0"),
        ("AUTH_SERVICE_URL", "not a url"),
        ("REFERRAL_SERVICE_URL", "ftp://referral"),
    ],
)
def test_unusable_values_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(ValidationError):
        ProfileSettings()
