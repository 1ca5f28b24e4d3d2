import logging
import stat
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auth_service.config import AuthSettings
from auth_service.jwt_keys import (
    KeyConfigurationError,
    generate_key_file,
    jwk_thumbprint,
    load_key_ring,
    private_key_from_pem,
    private_key_to_pem,
    public_jwk,
)


def settings(**values: object) -> AuthSettings:
    return AuthSettings(app_env="test", **values)


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_thumbprint_matches_the_rfc_8037_example() -> None:
    # RFC 8037, appendix A.3.
    jwk = {"crv": "Ed25519", "kty": "OKP", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_public_jwk_is_a_usable_okp_key_named_by_its_thumbprint() -> None:
    key = Ed25519PrivateKey.generate()
    jwk = public_jwk(key.public_key())
    assert jwk["kty"] == "OKP" and jwk["crv"] == "Ed25519" and jwk["alg"] == "EdDSA"
    assert jwk["kid"] == jwk_thumbprint(jwk)
    token = jwt.encode({"a": 1}, key, algorithm="EdDSA")
    assert jwt.decode(token, jwt.PyJWK(jwk), algorithms=["EdDSA"]) == {"a": 1}


def test_key_ring_from_a_pem_value() -> None:
    key = Ed25519PrivateKey.generate()
    ring = load_key_ring(settings(jwt_private_key=private_key_to_pem(key).decode()))
    assert ring.kid == public_jwk(key.public_key())["kid"]
    assert [jwk["kid"] for jwk in ring.jwks["keys"]] == [ring.kid]


def test_a_pem_value_with_escaped_newlines_is_accepted() -> None:
    key = Ed25519PrivateKey.generate()
    one_line = private_key_to_pem(key).decode().replace("\n", "\\n")
    ring = load_key_ring(settings(jwt_private_key=one_line))
    assert ring.kid == public_jwk(key.public_key())["kid"]


def test_key_file_is_generated_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "state" / "jwt.pem"
    first = load_key_ring(settings(jwt_private_key_file=path, jwt_generate_key_if_missing=True))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_key_ring(settings(jwt_private_key_file=path, jwt_generate_key_if_missing=True))
    assert first.kid == second.kid
    assert list(path.parent.iterdir()) == [path]


def test_generation_that_loses_a_race_uses_the_winners_key(tmp_path: Path) -> None:
    path = tmp_path / "jwt.pem"
    winner = Ed25519PrivateKey.generate()
    path.write_bytes(private_key_to_pem(winner))
    loaded = generate_key_file(path)
    assert public_jwk(loaded.public_key()) == public_jwk(winner.public_key())
    assert list(tmp_path.iterdir()) == [path]


def test_a_missing_key_file_is_refused_unless_generation_is_asked_for(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigurationError, match="does not exist"):
        load_key_ring(settings(jwt_private_key_file=tmp_path / "absent.pem"))


def test_a_non_ed25519_key_is_refused() -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyConfigurationError, match="Ed25519"):
        private_key_from_pem(pem)
    with pytest.raises(KeyConfigurationError, match="PEM"):
        private_key_from_pem(b"not a key")


def test_extra_public_keys_are_published_after_the_signing_key(tmp_path: Path) -> None:
    signing, previous, older = (Ed25519PrivateKey.generate() for _ in range(3))
    extra = tmp_path / "extra.pem"
    # The signing key's own public half is listed once only.
    extra.write_bytes(public_pem(previous) + b"\n" + public_pem(older) + public_pem(signing))
    ring = load_key_ring(
        settings(
            jwt_private_key=private_key_to_pem(signing).decode(),
            jwt_extra_public_keys_file=extra,
        )
    )
    kids = [jwk["kid"] for jwk in ring.jwks["keys"]]
    assert kids == [
        ring.kid,
        public_jwk(previous.public_key())["kid"],
        public_jwk(older.public_key())["kid"],
    ]


def test_an_extra_keys_file_without_keys_is_refused(tmp_path: Path) -> None:
    extra = tmp_path / "extra.pem"
    extra.write_text("nothing here")
    with pytest.raises(KeyConfigurationError, match="no PUBLIC KEY"):
        load_key_ring(settings(jwt_extra_public_keys_file=extra))


def test_without_any_key_development_uses_an_ephemeral_one_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="auth_service.jwt_keys"):
        first, second = load_key_ring(settings()), load_key_ring(settings())
    assert first.kid != second.kid
    assert any("ephemeral" in record.getMessage() for record in caplog.records)
