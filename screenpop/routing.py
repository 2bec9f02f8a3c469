"""Which agents a call rings for: the named agent, the queue's members, or the fallback."""

from __future__ import annotations

import logging
from dataclasses import replace

from screenpop.config import AgentEntry, Settings
from screenpop.lines import line_of
from screenpop.model import CallEvent

log = logging.getLogger(__name__)


def route(settings: Settings, event: CallEvent) -> list[AgentEntry]:
    """Agents to pop the card for; an unknown agent or an empty queue falls back, never to nobody.

    A call that names neither agent nor queue rings its line's queue, when
    the line it came in on names one.
    """
    if not event.agent and not event.queue:
        line = line_of(settings, event)
        if line is not None and line.queue:
            event = replace(event, queue=line.queue)
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
    return settings.agents.in_queue(queue)


def unrouted(settings: Settings) -> list[AgentEntry]:
    target = settings.routing.unrouted
    if target.startswith("agent:"):
        agent = settings.agent(target.removeprefix("agent:"))
        return [agent] if agent else []
    if target.startswith("queue:"):
        return queue_members(settings, target.removeprefix("queue:"))
    return []
