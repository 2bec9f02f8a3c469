"""CallService's status steps: an answer, an end, a withdrawn ring, told to the call's holders.

Kept apart from ``calls.py`` (``CallService`` takes them in as a mixin, as
it does ``call_transfers``): a status changes no card, only who is told
what, so it changes separately from the life of a card.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from screenpop.broker import Broker, Delivery
from screenpop.call_keys import (
    CALL_STATE_TTL_S,
    DEDUPE_TTL_S,
    call_key_of,
    event_key,
    recipients_key_of,
    state_key_of,
)
from screenpop.call_transfers import Live, over
from screenpop.card_text import compact
from screenpop.config import Settings
from screenpop.model import CallEvent, EventKind
from screenpop.store import CallRecorder, Store
from screenpop.transfers import ring_time_key


class StatusSteps:
    """The status half of ``CallService``; the attributes and methods below are the service's own."""

    _broker: Broker
    _recorder: CallRecorder
    _store: Store
    _live: Mapping[str, Live]

    @property
    def _settings(self) -> Settings:
        raise NotImplementedError  # CallService's: the config of the call being handled

    async def _answered_by_sender(self, event: CallEvent) -> bool:
        raise NotImplementedError  # TransferSteps': whether a transfer's sender answered it

    async def _status_change(self, event: CallEvent, state: str | None) -> None:
        """Tell the call's holders; once the call is over (the first ended/missed) nothing changes it."""
        if event.event is EventKind.WITHDRAWN:
            await self._withdraw(event)
            return
        if over(state) or await self._answered_by_sender(event):
            self._recorder.record(event, None)  # the timeline keeps it; no screen changes
            return
        status = event.event.value
        # the state first: a leg ringing meanwhile finds the call answered and pops nothing
        await self._broker.put(state_key_of(event), f"{status}:{event.agent or ''}", CALL_STATE_TTL_S)
        live = self._live.get(call_key_of(event))
        recipients = await self._recipients(event, live)
        if event.event is EventKind.ANSWERED and event.agent is None and len(recipients) == 1:
            # Telnyx (and a generic sender that does not know) names nobody: the one agent whose
            # card it was took it; with several the answer names nobody and no widget claims it
            # (the shared state keeps "answered by nobody named": rewriting it could undo an
            # `ended` stored meanwhile)
            event = replace(event, agent=recipients[0])
        if live is not None and event.event is EventKind.ANSWERED:
            live.answered_by = event.agent
        body = compact({"type": "call", "call_id": event.call_id, "status": status, "agent": event.agent})
        await self._broker.publish([Delivery(agent_id, body) for agent_id in recipients])
        self._recorder.record(event, None)

    async def _withdraw(self, event: CallEvent) -> None:
        """Stop ringing one agent (a rescinded reservation, a queue member's ring timed out).

        Taking the agent out of the shared set is atomic, so of two copies
        racing only one tells the agent; a later ring for the agent (a
        queue's retry) finds it out of the set and pops again.
        """
        agent = event.agent
        if not agent:
            return
        if await self._rung_since(event):
            self._recorder.record(event, None)  # about a ring the agent's newer ring replaced
            return
        removed = await self._broker.remove_member(recipients_key_of(event), agent)
        if not removed and not await self._ring_overtaken(event):
            return  # it never rang for that agent, or was withdrawn already
        live = self._live.get(call_key_of(event))
        role = live.recipients.pop(agent, None) if live is not None else None
        body = compact({"type": "call", "call_id": event.call_id, "status": "withdrawn", "agent": agent})
        try:
            await self._broker.publish([Delivery(agent, body)])
        except BaseException:
            await self._broker.add_members(recipients_key_of(event), [agent], CALL_STATE_TTL_S)
            if live is not None and role is not None:
                live.recipients[agent] = role
            raise

    async def _rung_since(self, event: CallEvent) -> bool:
        """A withdrawal stamped before the agent's latest ring: it ends a ring that ring replaced.

        A queue rings a worker again once a reservation timed out (TaskRouter
        makes a new reservation for the same worker), and callbacks come out
        of order: the old ring's timeout, arriving after the new ring, took
        the card from an agent whose phone was ringing (or to whom the call
        was just transferred).  Both carry the provider's own times, which
        say which came first; an unstamped event is taken as it comes.
        """
        if event.at is None:
            return False
        rang = await self._broker.get(ring_time_key(event.provider, event.call_id, event.agent or ""))
        return rang is not None and float(rang) > event.at.timestamp()

    async def _ring_overtaken(self, event: CallEvent) -> bool:
        """A withdrawal that came before its ring: that ring, when it comes, pops nothing.

        Phone systems reorder their callbacks: a ring that timed out at once
        (an agent's phone rejecting it) can be reported withdrawn before it is
        reported ringing.  The withdrawal names the ring (its ``leg``: the
        provider's own id of it), so it takes the ring's duplicate guard, and
        the late ring is then a duplicate, as a late ring after an answer pops
        nothing.  True when the ring was taken in between (the claim lost the
        race): it popped, so the withdrawal goes on to take it back.  Without
        a leg the two cannot be paired; the ring pops as before.
        """
        if not event.leg:
            return False
        ring = event_key(replace(event, event=EventKind.RINGING))
        if await self._broker.claim(ring, DEDUPE_TTL_S):
            return False
        return bool(await self._broker.remove_member(recipients_key_of(event), event.agent or ""))

    async def _recipients(self, event: CallEvent, live: Live | None) -> list[str]:
        """Who holds this call's card now: this instance's live card and the shared set, and the actor.

        The store's list is the fallback when the shared set is gone (its
        time to live passed, or the broker was restarted).
        """
        found = await self._broker.members(recipients_key_of(event))
        if found is not None:  # the shared set is the truth (a transfer on another instance changed it)
            agents = list(found)
        else:
            agents = list(live.recipients) if live is not None else []
            agents += [] if live is not None else await self._store.recipients(event.provider, event.call_id)
        if event.agent and event.agent not in agents and self._settings.agent(event.agent):
            agents.append(event.agent)
        return agents
