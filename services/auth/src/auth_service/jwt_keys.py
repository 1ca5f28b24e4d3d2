"""The Ed25519 signing key and the JWK Set that publishes its public half (and any extras)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from auth_service.config import AuthSettings

logger = logging.getLogger(__name__)

_PUBLIC_PEM_BLOCK = re.compile(rb"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", re.DOTALL)


class KeyConfigurationError(RuntimeError):
    """The configured keys cannot be used; the service refuses to start."""


@dataclass(frozen=True, slots=True)
class KeyRing:
    signing_key: Ed25519PrivateKey
    kid: str
    # Every public key a verifier should accept: the signing key's first.
    jwks: dict[str, Any]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The key as an OKP JWK whose `kid` is its RFC 7638 thumbprint."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(key.public_bytes_raw())}
    return {**members, "kid": jwk_thumbprint(members), "alg": "EdDSA", "use": "sig"}


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638: SHA-256 over the required members, sorted, with no whitespace."""
    required = {name: jwk[name] for name in ("crv", "kty", "x")}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def private_key_from_pem(pem: bytes) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyConfigurationError(f"the JWT private key is not a readable PEM: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyConfigurationError("the JWT private key must be an Ed25519 key")
    return key


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_keys_from_pem(pem: bytes) -> list[Ed25519PublicKey]:
    """Every public key in a file of concatenated PEM blocks; each must be Ed25519."""
    keys: list[Ed25519PublicKey] = []
    for block in _PUBLIC_PEM_BLOCK.findall(pem):
        try:
            key = serialization.load_pem_public_key(block)
        except ValueError as exc:
            raise KeyConfigurationError(f"an extra public key is not readable: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyConfigurationError("extra public keys must be Ed25519 keys")
        keys.append(key)
    if not keys:
        raise KeyConfigurationError("JWT_EXTRA_PUBLIC_KEYS_FILE holds no PUBLIC KEY block")
    return keys


def generate_key_file(path: Path) -> Ed25519PrivateKey:
    """Write a new key readable by its owner only; if another process won the race, use its key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(private_key_to_pem(key))
        # link() publishes the complete file atomically and fails if the name is taken.
        os.link(partial, path)
    except FileExistsError:
        return private_key_from_pem(path.read_bytes())
    finally:
        partial.unlink(missing_ok=True)
    logger.warning("generated a new JWT signing key", extra={"path": str(path)})
    return key


def _load_signing_key(settings: AuthSettings) -> Ed25519PrivateKey:
    if settings.jwt_private_key is not None:
        # One-line env files can only carry the PEM with its newlines written as "\n".
        pem = settings.jwt_private_key.get_secret_value().replace("\\n", "\n")
        return private_key_from_pem(pem.encode())
    path = settings.jwt_private_key_file
    if path is not None:
        if path.is_file():
            if path.stat().st_mode & 0o077:
                logger.warning("the JWT key file is readable by others", extra={"path": str(path)})
            return private_key_from_pem(path.read_bytes())
        if settings.jwt_generate_key_if_missing:
            return generate_key_file(path)
        raise KeyConfigurationError(f"JWT_PRIVATE_KEY_FILE {path} does not exist")
    if settings.is_production:  # AuthSettings refuses this first; a throwaway key never signs.
        raise KeyConfigurationError("no JWT signing key configured")
    logger.warning(
        "no JWT_PRIVATE_KEY or JWT_PRIVATE_KEY_FILE: using an ephemeral key; "
        "tokens die with this process and other processes cannot verify them"
    )
    return Ed25519PrivateKey.generate()


def load_key_ring(settings: AuthSettings) -> KeyRing:
    signing_key = _load_signing_key(settings)
    signing_jwk = public_jwk(signing_key.public_key())
    published = {signing_jwk["kid"]: signing_jwk}
    if settings.jwt_extra_public_keys_file is not None:
        try:
            pem = settings.jwt_extra_public_keys_file.read_bytes()
        except OSError as exc:
            raise KeyConfigurationError(f"JWT_EXTRA_PUBLIC_KEYS_FILE: {exc}") from None
        for key in public_keys_from_pem(pem):
            jwk = public_jwk(key)
            published.setdefault(jwk["kid"], jwk)
    return KeyRing(
        signing_key=signing_key,
        kid=signing_jwk["kid"],
        jwks={"keys": list(published.values())},
    )
