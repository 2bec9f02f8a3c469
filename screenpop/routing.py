"""Which agents a call rings for: the named agent, the queue's members, or the fallback."""

from __future__ import annotations

import logging

from screenpop.config import AgentEntry, Settings
from screenpop.model import CallEvent

log = logging.getLogger(__name__)


def route(settings: Settings, event: CallEvent) -> list[AgentEntry]:
    """Agents to pop the card for; an unknown agent or an empty queue falls back, never to nobody."""
    if event.agent:
        agent = settings.agent(event.agent)
        if agent is not None:
            return [agent]
        log.warning("call %s names agent %r, who is not in the directory", event.call_id, event.agent)
    if event.queue:
        members = queue_members(settings, event.queue)
        if members:
            return members
        log.warning("call %s rings queue %r, which has no members", event.call_id, event.queue)
    return unrouted(settings)


def queue_members(settings: Settings, queue: str) -> list[AgentEntry]:
    return [a for a in settings.agents.directory if queue in a.queues]


def unrouted(settings: Settings) -> list[AgentEntry]:
    target = settings.routing.unrouted
    if target.startswith("agent:"):
        agent = settings.agent(target.removeprefix("agent:"))
        return [agent] if agent else []
    if target.startswith("queue:"):
        return queue_members(settings, target.removeprefix("queue:"))
    return []
