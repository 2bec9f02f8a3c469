"""Agent tokens: HS256 JWTs that the host application mints for its signed-in agent."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt

from screenpop.config import AgentEntry, Settings
from screenpop.errors import Unauthorized

ALGORITHM = "HS256"

LATEST_EXP = 253402300799
"""9999-12-31T23:59:59Z: a later ``exp`` is read as this one.

JWT allows any number, and PyJWT takes a 400-digit one; the hub's expiry
timer cannot hold it as a float, and a hello with it closed 1011 with a
traceback.  A token good until then is good for ever all the same.
"""

CLOCK_SKEW_S = 60
"""How far ahead of ours the host's clock may run: ``iat`` and ``nbf`` may be this far in the future.

Node's jsonwebtoken stamps ``iat`` on every token, and a host one second
ahead minted tokens refused as "not valid" at once.  ``exp`` gets no such
grace: a token is never good past the time its host gave it.
"""


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """Who a verified token is for, the role that decides what they receive, and until when.

    ``exp`` (seconds since the epoch) bounds the whole life of a socket opened
    with the token, not only the hello (SPEC section 5).
    """

    agent: AgentEntry
    role: str
    exp: int
    claimed_role: str | None = None  # the token's own role claim, which outranks the directory's

    @property
    def id(self) -> str:
        return self.agent.id


def mint_token(settings: Settings, agent_id: str, role: str | None = None, ttl_s: int = 12 * 3600) -> str:
    """A token for ``agent_id``; the role claim, when given, overrides the directory's."""
    if settings.agent(agent_id) is None:
        raise Unauthorized(f"no agent {agent_id!r} in agents.directory")
    if role and role not in settings.roles:
        raise Unauthorized(f"role {role!r} is not defined under `roles:`")
    claims: dict[str, object] = {"sub": agent_id, "exp": int(time.time()) + ttl_s}
    if role:
        claims["role"] = role
    return jwt.encode(claims, settings.agents.token_secret, algorithm=ALGORITHM)


def verify_token(settings: Settings, token: object, now: float | None = None) -> AgentIdentity:
    """Who the token is for, or ``Unauthorized`` with the reason.

    Only HS256 is accepted (never ``alg: none``), ``sub`` and ``exp`` are
    required (a token without ``exp`` would be good for ever), and a ``role``
    claim must name a role defined under ``roles:``: an undefined one would
    hide nothing, and the name ``supervisor`` alone grants more.  ``now`` is
    the caller's clock (the hub's, which tests move by hand); ``exp`` is
    checked against the real time as well.
    """
    claims = _claims(settings, token)
    exp = min(int(claims["exp"]), LATEST_EXP)
    if exp <= time.time() or (now is not None and exp <= now):
        raise Unauthorized("the token has expired")
    agent = settings.agent(str(claims["sub"]))
    if agent is None:
        raise Unauthorized("the token's agent is not in the directory")
    claimed = claims.get("role") if isinstance(claims.get("role"), str) else None
    return AgentIdentity(agent=agent, role=_role(settings, claims, agent), exp=exp, claimed_role=claimed)


def reidentify(settings: Settings, identity: AgentIdentity) -> AgentIdentity:
    """The same token's identity under a reloaded config, or ``Unauthorized`` when it no longer holds.

    The agent must still be in the directory; a role the token names must
    still be defined (it keeps outranking the directory's, SPEC 6); without
    one, the directory's role as it is now decides.
    """
    agent = settings.agent(identity.id)
    if agent is None:
        raise Unauthorized("the agent is no longer in the directory")
    claims: dict[str, Any] = {} if identity.claimed_role is None else {"role": identity.claimed_role}
    return AgentIdentity(agent, _role(settings, claims, agent), identity.exp, identity.claimed_role)


def _claims(settings: Settings, token: object) -> dict[str, Any]:
    if not isinstance(token, str) or not token:
        raise Unauthorized("a token is required")
    if not token.isascii():
        # A JWT is base64url and dots; PyJWT encodes the text as UTF-8 before it looks, and
        # undecodable header bytes (or a ``\\ud800`` in a hello) fail that with a 500, not a 401.
        raise Unauthorized("the token is not valid")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.agents.token_secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp"]},
            leeway=CLOCK_SKEW_S,  # for iat and nbf; exp is checked again without it
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise Unauthorized("the token is not valid yet") from exc
    except jwt.InvalidAudienceError as exc:
        # screenpop has no audience of its own, so one named must be refused (RFC 7519, 4.1.3);
        # "not valid" alone sent host developers looking for a wrong secret
        raise Unauthorized("the token names an audience (`aud`); mint it without one") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("the token is not valid") from exc
    return claims


def _role(settings: Settings, claims: dict[str, Any], agent: AgentEntry) -> str:
    """The token's role claim when it has one (it must be defined), else the directory's."""
    if "role" in claims:
        role = claims["role"]
        if not isinstance(role, str) or role not in settings.roles:
            raise Unauthorized("the token's role is not defined under `roles:`")
        return role
    if settings.roles and agent.role not in settings.roles:
        raise Unauthorized(f"the agent's role {agent.role!r} is not defined")
    return agent.role


def bearer_token(header: str | None) -> str:
    if not header or not header.lower().startswith("bearer "):
        raise Unauthorized("send the agent token as `Authorization: Bearer <token>`")
    return header[7:].strip()
