"""CallService's transfer steps: a ``transferred`` event, a ring after one, a live card that moved.

Kept apart from ``calls.py`` (``CallService`` takes them in as a mixin) so
that the life of a card and the life of a transfer can change separately.
What a transfer changes in the shared state is ``transfers.TransferDesk``;
this module decides, for one event on this instance, which of it to do and
what to publish (docs/transfers.md).
"""

from __future__ import annotations

from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from screenpop.broker import Broker, CardViews, Delivery
from screenpop.config import Settings
from screenpop.model import CallEvent, Card, EventKind
from screenpop.routing import route
from screenpop.store import CallRecorder
from screenpop.transfers import (
    STATE_TTL_S,
    Move,
    StoredCard,
    TransferDesk,
    call_key,
    card_fields,
    deliveries,
    recipients_key,
    restamp,
    ring_time_key,
)

HAND_ON_ROUNDS = 3  # transfers landing while the last version is handed on, each caught by one round


class Live(Protocol):
    """What a transfer reads and changes of a card being built on this instance (``live_card.LiveCall``)."""

    card: Card
    recipients: dict[str, str]
    answered_by: str | None
    provider: str | None
    views: CardViews | None


class TransferSteps:
    """The transfer half of ``CallService``; the attributes and methods below are the service's own."""

    _broker: Broker
    _recorder: CallRecorder
    _desk: TransferDesk
    _live: Mapping[str, Live]

    @property
    def _settings(self) -> Settings:
        raise NotImplementedError  # CallService's: the config of the call being handled

    async def _open_card(self, event: CallEvent, recipients: dict[str, str], started: float) -> Any:
        raise NotImplementedError  # CallService's

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        raise NotImplementedError  # CallService's

    async def _complete(self, event: CallEvent, live: Any, started: float) -> None:
        raise NotImplementedError  # CallService's

    def _card_views(self, card: Card, provider: str | None) -> CardViews:
        raise NotImplementedError  # CallService's

    async def _reserve_version(self, provider: str, call_id: str, after: int) -> int:
        raise NotImplementedError  # CallService's

    async def _publish_card(self, live: Any, only: Mapping[str, str] | None = None) -> None:
        raise NotImplementedError  # CallService's

    async def _kept_views(self, live: Live) -> CardViews:
        """The live card's next version, kept as the card as it stands under a number nobody else used.

        Another instance handing the card on (a transfer, a ring after one)
        reserves the number after the kept one; this instance numbers its
        versions from its own count, so its next one could carry that very
        number with newer sections, and a socket that got the other card
        first dropped it as not newer (a queue member never saw the complete
        card).  When the number is taken, the version is renumbered after the
        kept one, once the transfers and holders are followed again (the
        transfer that took it moved them).  Bounded: each round needs yet
        another version kept elsewhere meanwhile.
        """
        provider = live.provider or ""
        content = self._card_views(live.card, live.provider)
        for _ in range(HAND_ON_ROUNDS):
            if await self._desk.remember(provider, content):
                break
            stored = await self._desk.stored(provider, live.card.call_id)
            await self._follow_transfers(live)
            after = max(live.card.version, stored.version if stored else 0)
            live.card = replace(live.card, version=after + 1)
            content = self._card_views(live.card, live.provider)
        return content

    async def _card_as_it_stands(self, provider: str, card: Card) -> Card:
        """A kept card (a mid-call update's sheet) moved on by what happened since: transfers, versions.

        The sheet is written when the card is complete; a transfer after
        that changes the holders, the card's agent and queue, its transfers
        and hand-off, and publishes a later version, all in the shared state
        read here, so an update re-runs the card the agents hold now.
        """
        log = await self._desk.transfers(provider, card.call_id)
        stored = await self._desk.stored(provider, card.call_id)
        version = max(card.version, log.latest, stored.version if stored else 0)
        if len(log.entries) > len(card.transfers):
            card = replace(
                card, transfers=log.entries, handoff=await self._desk.handoff(provider, card.call_id)
            )
        if log.current is not None:
            card = replace(card, agent=log.current.get("to_agent"), queue=log.current.get("to_queue"))
        return replace(card, version=version)

    async def mark_transferred_away(self, agent: str, rows: list[dict[str, Any]]) -> None:
        """``transferred_away`` on each of the agent's ``/api/calls`` rows (docs/transfers.md)."""
        for row in rows:
            row["transferred_away"] = await self._desk.left(row["provider"], row["call_id"], agent)

    async def _transfer(self, event: CallEvent, state: str | None, started: float) -> None:
        """Move the call: the card (next version) to its new holders, ``transferred`` to those it left.

        After the call is over a transfer changes nothing.  Before any ring
        (or when the card is known nowhere any more) the new holders get a
        card opened for them, as version 2: a transfer is never a pop.  The
        move is undone when the card cannot be published, so the sender's
        retry moves it again.
        """
        if over(state):
            self._recorder.record(event, None)
            return
        live = self._live.get(call_key(event.provider, event.call_id))
        stored = None if live is not None else await self._desk.stored(event.provider, event.call_id)
        version = 1 + (live.card.version if live else stored.version if stored else 1)
        if stored is not None:  # a mid-call update on another instance may be publishing the same next one
            version = await self._reserve_version(event.provider, event.call_id, stored.version)
        move = await self._desk.move(event, recipients_key(event.provider, event.call_id), version)
        if not move.applied:  # a later transfer was applied first (a retry, a reorder): listed, moves nobody
            self._recorder.record(event, None)
            return
        try:
            if live is None and stored is None:
                live = await self._open_card(event, {}, started)
                self._spawn(self._complete(event, live, started))
            if live is not None:
                card = self._moved_card(live, event, move, version)
            else:  # read again after the move: a builder keeping a newer version from now on sees it
                stored = await self._desk.stored(event.provider, event.call_id) or stored
                assert stored is not None
                card = await self._restamped(event, stored, version, card_fields(event, move))
            if live is not None:  # kept before any agent has it (a restamp was kept already)
                await self._desk.remember(event.provider, card)
            await self._broker.publish(deliveries(card, move, event))
        except BaseException:
            await self._desk.undo(event, recipients_key(event.provider, event.call_id), move)
            raise
        await note_ring(self._broker, event, move.now)
        self._recorder.record(event, None, list(move.now))

    async def _ring_after_transfer(self, event: CallEvent) -> None:
        """A ring after a transfer (a queue ringing its members): the new agents get the card, not a pop.

        They are added to the holders; the card they get is the call's next
        version, as it stands, transfers and hand-off included.
        """
        roles = {a.id: a.role for a in route(self._settings, event)}
        fresh = {
            a: roles[a]
            for a in await self._broker.add_members(
                recipients_key(event.provider, event.call_id), list(roles), STATE_TTL_S
            )
        }
        live = self._live.get(call_key(event.provider, event.call_id))
        stored = None if live is not None else await self._desk.stored(event.provider, event.call_id)
        if fresh and live is not None:
            live.recipients.update(fresh)
            live.card = replace(live.card, version=live.card.version + 1)
            live.views = card = self._card_views(live.card, live.provider)
        elif fresh and stored is not None:
            version = await self._reserve_version(event.provider, event.call_id, stored.version)
            card = await self._restamped(event, stored, version, {})
        else:  # no card to hand on (its shared state expired): they hold nothing
            for agent in fresh:
                await self._broker.remove_member(recipients_key(event.provider, event.call_id), agent)
            self._recorder.record(event, None)
            return
        if live is not None:  # kept before any agent has it (a restamp was kept already)
            await self._desk.remember(event.provider, card)
        await self._broker.publish([Delivery(agent, card=card) for agent in fresh])
        self._recorder.record(event, None, list(fresh))

    async def _restamped(
        self, event: CallEvent, stored: StoredCard, version: int, fields: Mapping[str, object]
    ) -> CardViews:
        """The kept card handed on as ``version``, kept first; renumbered when that number was kept meanwhile.

        The instance building the card keeps its next version under its own
        count; when that took the number reserved here, the version kept
        under it has newer sections, and a socket would drop this one (or
        that one) as not newer: this one is handed on from the newer kept
        card, under the next number free.  Bounded as ``_kept_views``.
        """
        card = restamp(stored, event.call_id, version, fields, event.provider)
        for _ in range(HAND_ON_ROUNDS):
            if await self._desk.remember(event.provider, card):
                break
            stored = await self._desk.stored(event.provider, event.call_id) or stored
            after = max(version, stored.version)
            version = await self._reserve_version(event.provider, event.call_id, after)
            card = restamp(stored, event.call_id, version, fields, event.provider)
        return card

    def _moved_card(self, live: Live, event: CallEvent, move: Move, version: int) -> CardViews:
        """The live card as its next version, held by the transfer's new holders from now on."""
        live.recipients, live.answered_by = dict(move.now), None
        live.card = replace(
            live.card,
            version=max(version, live.card.version + 1),
            agent=event.agent,
            queue=event.queue,
            transfers=move.transfers,
            handoff=move.handoff,
        )
        live.views = self._card_views(live.card, live.provider)
        return live.views

    async def _hand_on(self, live: Live) -> None:
        """After the last version: a transfer taken elsewhere meanwhile gets this card, complete.

        Another instance hands on the card it reads as it stands; when it read
        it just before this instance kept the last version, the new holders
        got the version before, which would never complete.  A transfer adds
        itself to the call's list before it reads the card, so this read,
        after the last version was kept, sees every transfer that can have
        missed it.  Bounded: each round needs yet another transfer meanwhile.
        """
        for _ in range(HAND_ON_ROUNDS):
            if not await self._follow_transfers(live):
                return
            live.card = replace(live.card, version=live.card.version + 1)
            await self._publish_card(live)

    async def _follow_transfers(self, live: Live) -> bool:
        """Before a new version: a transfer taken by another instance moves this card's holders too.

        True when it moved them (a transfer to where the card already says
        the call is, delivered as no newer version, moves nobody).
        """
        provider = live.provider or ""
        log = await self._desk.transfers(provider, live.card.call_id)
        if len(log.entries) <= len(live.card.transfers):
            return bool(live.card.transfers) and await self._follow_rings(live)
        card = live.card
        live.card = replace(
            card,
            version=max(card.version, log.latest),
            transfers=log.entries,
            handoff=await self._desk.handoff(provider, card.call_id),
        )
        where = None if log.current is None else (log.current.get("to_agent"), log.current.get("to_queue"))
        if where is None or (where == (card.agent, card.queue) and log.latest <= card.version):
            return False
        holders = await self._broker.members(recipients_key(provider, card.call_id)) or []
        live.recipients = {a: e.role for a in holders if (e := self._settings.agent(a)) is not None}
        live.answered_by = None
        live.card = replace(live.card, agent=where[0], queue=where[1])
        return True

    async def _follow_rings(self, live: Live) -> bool:
        """After a transfer: agents a ring added to the holders on another instance get the later versions.

        (``_ring_after_transfer`` there handed them the card as it stood;
        what this instance finds after it would otherwise reach nobody.)
        Only calls that were transferred pay this read.  True when it added some.
        """
        holders = await self._broker.members(recipients_key(live.provider or "", live.card.call_id)) or []
        new = {a: e.role for a in holders if a not in live.recipients and (e := self._settings.agent(a))}
        live.recipients.update(new)
        return bool(new)

    async def _answered_by_sender(self, event: CallEvent) -> bool:
        """An ``answered`` from an agent the call was transferred away from (late, reordered): not news."""
        if event.event is not EventKind.ANSWERED or not event.agent:
            return False
        holders = await self._broker.members(recipients_key(event.provider, event.call_id))
        if holders is None or event.agent in holders:
            return False
        return (await self._desk.transfers(event.provider, event.call_id)).current is not None


async def note_ring(broker: Broker, event: CallEvent, agents: Iterable[str]) -> None:
    """Keep when the call rang these agents (or was handed to them), if the provider said when.

    A withdrawal stamped before it is about a ring this one replaced
    (``StatusSteps._rung_since``).
    """
    if event.at is None:
        return
    for agent in agents:  # a ring (or hand-over) that arrives late is not the latest
        await broker.keep_latest(
            ring_time_key(event.provider, event.call_id, agent), event.at.timestamp(), STATE_TTL_S
        )


def rings_after_transfer(event: CallEvent, state: str) -> bool:
    """A ring the call's latest transfer did not already overtake (its own time, when both say one).

    A ring stamped before the transfer is a reordered old ring: it pops
    nothing.  Without times, a ring after a transfer is taken as new (a
    queue the call was transferred to ringing its members).
    """
    kind, _, rest = state.partition(":")
    if kind != EventKind.TRANSFERRED.value:
        return False
    when = rest.rpartition("@")[2]
    return event.at is None or not when or event.at.timestamp() > float(when)


def over(state: str | None) -> bool:
    """Whether the call-state value says the call ended or was missed."""
    return state is not None and state.partition(":")[0] in (EventKind.ENDED.value, EventKind.MISSED.value)
