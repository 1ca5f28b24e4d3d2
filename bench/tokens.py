"""Access tokens for seeded users, minted with the stack's own key exactly as auth mints them."""

from __future__ import annotations

import secrets
from pathlib import Path

from auth_service.jwt_keys import generate_key_file, public_jwk
from auth_service.tokens import AccessTokens
from bench.seed import phone
from common.settings import ServiceSettings

# Long enough for the whole run: the services check `exp`, not the configured lifetime.
TOKEN_LIFETIME_SECONDS = 3600


def stack_key_file(var_dir: Path) -> Path:
    """Where the native stack keeps its signing key (JWT_PRIVATE_KEY_FILE)."""
    return var_dir / "stack" / "jwt-ed25519.pem"


class TokenMinter:
    def __init__(self, key_file: Path) -> None:
        # The stack generates the same file on its first start; creating it first lets the
        # harness sign with the key auth will load.
        signing_key = generate_key_file(key_file)
        settings = ServiceSettings()
        self._tokens = AccessTokens(
            signing_key=signing_key,
            kid=public_jwk(signing_key.public_key())["kid"],
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=TOKEN_LIFETIME_SECONDS,
        )

    def token(self, user_id: int, *, roles: tuple[str, ...] = ()) -> str:
        issued = self._tokens.issue(
            user_id=user_id, phone=phone(user_id), session_id=secrets.token_urlsafe(16), roles=roles
        )
        token: str = issued.token
        return token
