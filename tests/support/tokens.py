"""Agent tokens minted the way a host application mints them: PyJWT, HS256, ``sub`` and ``exp``.

SPEC: the host application signs its agent in and mints the token with the
shared ``agents.token_secret``.  Tests that need a credential use this module,
never ``screenpop.auth`` or ``screenpop token``, so that a bug in screenpop's
own minting cannot hide the same bug in its verification.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt

from screenpop.config import Settings

HOUR_S = 3600


def host_token(secret: str, agent_id: str, role: str | None = None, expires_in_s: int = HOUR_S) -> str:
    """An HS256 JWT for ``agent_id`` that expires ``expires_in_s`` from now (negative: already expired)."""
    claims: dict[str, object] = {"sub": agent_id, "exp": datetime.now(UTC) + timedelta(seconds=expires_in_s)}
    if role is not None:
        claims["role"] = role
    return jwt.encode(claims, secret, algorithm="HS256")


def token_for(settings: Settings, agent_id: str, role: str | None = None, expires_in_s: int = HOUR_S) -> str:
    """``host_token`` with the secret the service under test was configured with."""
    return host_token(settings.agents.token_secret, agent_id, role, expires_in_s)
