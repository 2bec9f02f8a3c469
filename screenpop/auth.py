"""Agent tokens: HS256 JWTs that the host application mints for its signed-in agent."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from screenpop.errors import Unauthorized
from screenpop.settings import AgentEntry, Settings

ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    agent: AgentEntry
    role: str

    @property
    def id(self) -> str:
        return self.agent.id


def mint_token(settings: Settings, agent_id: str, role: str | None = None, ttl_s: int = 12 * 3600) -> str:
    """A token for ``agent_id``; the role claim, when given, overrides the directory's."""
    if settings.agent(agent_id) is None:
        raise Unauthorized(f"no agent {agent_id!r} in agents.directory")
    claims: dict[str, object] = {"sub": agent_id, "exp": int(time.time()) + ttl_s}
    if role:
        claims["role"] = role
    return jwt.encode(claims, settings.agents.token_secret, algorithm=ALGORITHM)


def verify_token(settings: Settings, token: object) -> AgentIdentity:
    """Who the token is for, or ``Unauthorized`` with the reason."""
    if not isinstance(token, str) or not token:
        raise Unauthorized("a token is required")
    try:
        claims = jwt.decode(
            token,
            settings.agents.token_secret,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "exp"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("the token is not valid") from exc
    agent = settings.agent(str(claims["sub"]))
    if agent is None:
        raise Unauthorized("the token's agent is not in the directory")
    role = str(claims.get("role") or agent.role)
    if settings.roles and role not in settings.roles:
        raise Unauthorized(f"the token's role {role!r} is not defined")
    return AgentIdentity(agent=agent, role=role)


def bearer_token(header: str | None) -> str:
    if not header or not header.lower().startswith("bearer "):
        raise Unauthorized("send the agent token as `Authorization: Bearer <token>`")
    return header[7:].strip()
