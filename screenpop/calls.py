"""From a verified call event to cards and call messages on agents' streams.

The webhook is answered as soon as ``accept`` returns: the duplicate guard and
the out-of-order guard are checked in the broker's shared state (fast, and
shared across instances); everything else — the number, the fan-out, the
store — happens in a background task, so no connector is ever waited for by
the phone system.  The first card frame (caller, pending sections) goes out
before any database is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from screenpop.broker import Broker, CardViews, Delivery, Ring, Rung, View
from screenpop.call_keys import (
    CALL_STATE_TTL_S,
    DEDUPE_TTL_S,
    call_key_of,
    event_key,
    recipients_key_of,
    ring_time_of,
    state_key_of,
)
from screenpop.call_status import StatusSteps
from screenpop.call_transfers import TransferSteps, rings_after_transfer
from screenpop.card import SectionSpec, card_summaries, role_views, shown_sections
from screenpop.card_text import CardEncoder
from screenpop.clock import utc_now_text
from screenpop.config import Settings
from screenpop.errors import RateLimited, Unavailable
from screenpop.generation import Generation, Generations
from screenpop.lines import context_for, looked_up_raw
from screenpop.live_card import LiveCall, Opening
from screenpop.lookup import LookupEngine
from screenpop.metrics import Metrics
from screenpop.midcall import AttributeUpdates
from screenpop.model import CallEvent, Card, EventKind, HistoryEntry
from screenpop.phone import mask, parse_caller
from screenpop.routing import route
from screenpop.store import CallRecorder, Store
from screenpop.transfers import TransferDesk, call_key, recipients_key, state_key

log = logging.getLogger(__name__)


class CallService(TransferSteps, StatusSteps):
    def __init__(
        self,
        generations: Generations,
        broker: Broker,
        store: Store,
        metrics: Metrics,
        recorder: CallRecorder,
    ) -> None:
        self._generations = generations
        self._broker = broker
        self._store = store
        self._metrics = metrics
        self._recorder = recorder
        self._live: dict[str, LiveCall] = {}
        self._desk = TransferDesk(generations, broker, store)
        self._tasks: set[asyncio.Task[None]] = set()
        self._opening = 0  # events between their webhook and the task that handles them
        self.attributes = AttributeUpdates(
            generations, broker, store, self.publish_to, self._card_as_it_stands
        )

    @property
    def _settings(self) -> Settings:
        """The config of the call being handled (pinned when its event arrived; generation.py)."""
        return self._generations.current.settings

    @property
    def _engine(self) -> LookupEngine:
        return self._generations.current.engine

    @property
    def _specs(self) -> Mapping[str, SectionSpec]:
        return self._generations.current.specs

    @property
    def in_flight(self) -> int:
        return len(self._tasks) + self._opening

    async def accept(self, event: CallEvent, received: float | None = None) -> bool:
        """Take a verified event; False when it was seen before (it changes nothing)."""
        if self.in_flight >= self._settings.server.max_inflight_calls:
            raise RateLimited("too many calls in progress; retry shortly")
        self._opening += 1  # counted from here, so a flood cannot slip past the limit while we wait
        try:
            # this event, and the fan-out it starts, keep one config: the call's own while its
            # card is being built here (a transfer or a second leg meanwhile), else the latest
            call = call_key(event.provider, event.call_id)
            live = self._live.get(call)
            with self._generations.pinned(live.generation if live is not None else None):
                return await self._take(event, received, call)
        finally:
            self._opening -= 1

    async def _take(self, event: CallEvent, received: float | None, call: str) -> bool:
        """Claim the event, then make its effect visible (first frame, call message) before the 202.

        The claim says "this event has been handled": it is given back when
        the handling fails, and the sender is answered 503 so that its retry
        is handled, not taken for a duplicate.  A ringing is claimed in the
        same broker step that pops it (``_first_frame``).
        """
        key = event_key(event)
        started = received if received is not None else time.perf_counter()
        if event.event is EventKind.RINGING:
            return await self._first_frame(event, key, started, call)
        claimed, state = await self._broker.claim_and_get(key, DEDUPE_TTL_S, state_key_of(event))
        if not claimed:
            return False
        try:
            if event.event is EventKind.TRANSFERRED:
                await self._transfer(event, state, started)
            else:
                await self._status_change(event, state)
        except Exception as exc:
            raise await self._given_back(event, key) from exc
        return True

    async def _given_back(self, event: CallEvent, claimed: str | None) -> Unavailable:
        """Log the failure being handled, give back the claim if there is one, and ask for a retry."""
        log.exception(
            "call %s: handling %s failed; the sender is asked to retry", event.call_id, event.event.value
        )
        if claimed is not None:
            await self._broker.release(claimed)
        return Unavailable(f"the {event.event.value} event could not be handled now; send it again")

    def _spawn(self, work: Any) -> None:
        # the loop's own create_task (asyncio.create_task wraps it in two Python calls, on every call);
        # the task inherits the pinned generation
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._generations.held_task(task)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def records_written(self, timeout_s: float = 2.0) -> None:
        """Wait for the call records queued so far (before a note or a listing reads them)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._recorder.flush()

    async def drain(self, timeout_s: float) -> None:
        """Let in-flight cards finish (shutdown), up to ``timeout_s``."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def _first_frame(self, event: CallEvent, key: str, started: float, call: str) -> bool:
        """Claim a ringing and publish its card (caller, pending sections) before the webhook is answered.

        Nothing here waits for a database or a connector: the number is
        parsed (cached), the agents routed and the card rendered first, then
        one broker step (one Redis round trip) claims the event, reads the
        call's state and, when there is none, adds the agents to the shared
        recipients set and publishes the card to those it did not hold yet
        (atomic, so of two instances racing one gets each agent): a call pops
        at most once per agent however its legs arrive.  A duplicate, or a
        call with state, drops the rendering.  The agents' sockets write the
        card as soon as the 202 is out; the fan-out and the records continue
        in a task of their own.  If what follows the pop fails, the claim and
        the agents are given back, so that the sender's retry pops it.
        """
        try:
            opening = self._ringing_card(event, call)
            rung = await self._broker.ring(
                Ring(
                    key,
                    DEDUPE_TTL_S,
                    state_key(event.provider, event.call_id),
                    recipients_key(event.provider, event.call_id),
                    tuple(opening.roles),
                    CALL_STATE_TTL_S,
                    opening.views,
                    ring_time_of(event),
                )
            )
        except Exception as exc:  # nothing claimed (a failed ring changes nothing): the retry pops
            raise await self._given_back(event, None) from exc
        if not rung.claimed:
            return False
        try:
            await self._rang(event, rung, opening, started)
        except BaseException as exc:
            for agent in rung.new:
                await self._broker.remove_member(recipients_key_of(event), agent)
            if not isinstance(exc, Exception):
                raise
            raise await self._given_back(event, key) from exc
        return True

    def _ringing_card(self, event: CallEvent, call: str) -> Opening:
        """Whom a ringing rings, and the card they would get: the one built here already, else a new one."""
        generation = self._generations.current  # read once: every property below would read it again
        roles = {a.id: a.role for a in route(generation.settings, event)}
        live = self._live.get(call)
        card = live.card if live is not None else self._new_card(event, generation)
        encoder = (
            live.encoder if live is not None and live.encoder is not None else CardEncoder(generation.specs)
        )
        views = _views(
            card, live.provider if live is not None else event.provider, encoder, generation.settings
        )
        return Opening(roles, live, card, views, encoder)

    async def _rang(self, event: CallEvent, rung: Rung, opening: Opening, started: float) -> None:
        """After the pop: a new card is built from here; a card being built here gains the new agents."""
        if rung.state is not None and rings_after_transfer(event, rung.state):
            await self._ring_after_transfer(event)
            return
        if rung.state is not None:
            self._recorder.record(event, None)  # answered or over already: record, pop nothing
            return
        fresh = {agent: opening.roles[agent] for agent in rung.new}
        if opening.roles and not fresh:
            return  # everyone it rings for holds the card already
        # (a call that rings no one is still looked up and recorded: history and /api/calls show it)
        live = self._live.get(call_key_of(event)) or opening.live
        if live is None:
            self._opened(event, opening, fresh, started)  # counts the cards once the 202 is out
        else:
            self._metrics.cards_published.inc(len(rung.new))
            if live.card.version > opening.card.version:  # it moved on during the ring: catch them up
                await self._add_recipients(live, event, fresh)
            else:  # they hold its version (or, when another leg opened it meanwhile, that leg's version 1)
                live.recipients.update(fresh)
                self._recorder.record(event, live.card.caller.e164, fresh)

    def _opened(self, event: CallEvent, opening: Opening, fresh: dict[str, str], started: float) -> None:
        """The card popped: build the rest of it here."""
        live = self._building(event, opening.card, fresh, opening.views, opening.encoder)
        self._popped(live, started, published=len(fresh))
        self._spawn(self._complete(event, live, started))

    def _building(
        self,
        event: CallEvent,
        card: Card,
        recipients: dict[str, str],
        views: CardViews | None,
        encoder: CardEncoder,
    ) -> LiveCall:
        """Keep the call's card as being built here, on the config it started with."""
        live = LiveCall(
            card=card,
            recipients=recipients,
            provider=event.provider,
            views=views,
            generation=self._generations.current,
            encoder=encoder,
        )
        self._live[call_key_of(event)] = live
        return live

    def _popped(self, live: LiveCall, started: float, published: int = 0) -> None:
        """Its first frame is out: timed now, counted once the 202 is out (the sender need not wait)."""
        asyncio.get_running_loop().call_soon(
            self._count_popped, live, time.perf_counter() - started, published
        )

    def _count_popped(self, live: LiveCall, elapsed_s: float, published: int) -> None:
        """The first frame's time in the histogram, and the call named in the debug log (number masked)."""
        self._metrics.first_frame.observe(elapsed_s)
        if published:  # the cards this ringing published (an opening that publishes counts its own)
            self._metrics.cards_published.inc(published)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "call %s from %s rings %d agents",
                live.card.call_id,
                mask(live.card.caller.e164),
                len(live.recipients),
            )

    def _new_card(self, event: CallEvent, generation: Generation | None = None) -> Card:
        """Version 1 of a call's card: the caller, and every section pending (pure, no I/O)."""
        generation = generation or self._generations.current
        settings = generation.settings
        number = parse_caller(looked_up_raw(event), settings.numbers.default_region)
        return Card(
            call_id=event.call_id,
            caller=number,
            caller_name=event.caller_name,
            received_at=utc_now_text(),
            sections=generation.engine.initial(number),
            agent=event.agent,
            queue=event.queue,
            context=context_for(settings, event),
        )

    async def _open_card(self, event: CallEvent, recipients: dict[str, str], started: float) -> LiveCall:
        live = self._building(event, self._new_card(event), dict(recipients), None, CardEncoder(self._specs))
        try:
            await self._publish_card(live)
        except BaseException:
            self._live.pop(call_key_of(event), None)  # not shown to anyone: the retry opens it afresh
            raise
        self._popped(live, started)
        return live

    async def _complete(self, event: CallEvent, live: LiveCall, started: float) -> None:
        """The rest of the pop: fan-out, history, records; the card grows version by version."""
        number = live.card.caller
        try:
            self._recorder.record(event, number.e164, live.recipients)
            await self._desk.remember(live.provider or event.provider, live.views)
            history = asyncio.create_task(self._history(number.e164, event))
            await self._grow(live, history)
            self._metrics.complete.observe(time.perf_counter() - started)
            derive = live.encoder.derived if live.encoder is not None else None
            summary = card_summaries(live.card, self._specs, role_views(self._settings), derive)
            self._recorder.summary(event.provider, event.call_id, summary, live.card.version)
        except Exception:
            log.exception("call %s: completing the card failed", event.call_id)
        finally:
            self._live.pop(call_key_of(event), None)

    async def _grow(self, live: LiveCall, history: asyncio.Task[tuple[HistoryEntry, ...]]) -> None:
        """Publish a snapshot after each batch of sections; history joins when it is read."""
        async for snapshot in self._engine.snapshots(live.card.caller, live.card.context):
            if snapshot.complete and not history.done():
                await asyncio.wait([history], timeout=0.5)
            past = history.result() if history.done() and not history.exception() else ()
            await self._follow_transfers(live)
            live.card = replace(
                live.card,
                sections=snapshot.sections,
                history=past,
                version=live.card.version + 1,
                complete=snapshot.complete,
            )
            if snapshot.complete and live.provider is not None:  # before the frame: an update may follow it
                await self.attributes.sheets.keep(live.provider, live.card)
            await self._publish_card(live)
        await self._hand_on(live)
        if not history.done():
            history.cancel()

    async def _history(self, e164: str | None, event: CallEvent) -> tuple[HistoryEntry, ...]:
        """The caller's earlier calls: any but this one (this provider's call of this id)."""
        if not e164 or self._settings.card.history == 0:
            return ()
        return await self._store.history(e164, self._settings.card.history, event.call_id, event.provider)

    async def _add_recipients(self, live: LiveCall, event: CallEvent, new: dict[str, str]) -> None:
        """Another ringing leg of a card already on its way: show it to the new agents too."""
        live.recipients.update(new)
        try:
            await self._publish_card(live, only=new)
        except BaseException:
            for agent in new:
                live.recipients.pop(agent, None)
            raise
        self._recorder.record(event, live.card.caller.e164, new)

    async def _publish_card(self, live: LiveCall, only: Mapping[str, str] | None = None) -> None:
        """Publish the card as it stands to its recipients; audited where a socket gets it, not here.

        Kept as the card as it stands first: a transfer on another instance after an agent saw
        this version must hand on this one, not the one before (an incomplete card never completes).
        Keeping it may renumber it and move its holders (``_kept_views``), so they are read after.
        """
        if only is None:
            content = await self._kept_views(live)
        else:
            content = self._card_views(live.card, live.provider)
        recipients = only if only is not None else live.recipients
        if live.answered_by is not None and only is None:
            recipients = {k: v for k, v in recipients.items() if k == live.answered_by}
        sent = [Delivery(agent_id, card=content) for agent_id in recipients]
        await self._broker.publish(sent)
        self._metrics.cards_published.inc(len(sent))
        if only is None:
            live.views = content

    async def publish_to(self, card: Card, recipients: Iterable[str], provider: str) -> None:
        """Publish one card version to these agents (a mid-call update's re-run card).

        The version is also kept as the call's card as it stands, so that a
        later transfer, on any instance, hands on the updated card.  One body
        per view (distinct set of hidden sections among the roles), shared by
        every agent: which view a socket gets is decided by the role of that
        socket's token when the hub sends it.  A complete version's summary
        replaces the stored one: ``/api/calls``, a sink's ``customer_ids`` and
        ``erase --customer`` read the customer an update found from it.
        """
        content = self._card_views(card, provider)
        await self._desk.remember(provider, content)  # before an agent sees it, as ``_publish_card`` says
        deliveries = [Delivery(agent_id, card=content) for agent_id in recipients]
        await self._broker.publish(deliveries)
        self._metrics.cards_published.inc(len(deliveries))
        if card.complete:
            summary = card_summaries(card, self._specs, role_views(self._settings))
            self._recorder.summary(provider, card.call_id, summary, card.version)

    async def _reserve_version(self, provider: str, call_id: str, after: int) -> int:
        """The next card version of a call no other instance or update has taken."""
        return await self.attributes.sheets.next_version(provider, call_id, after)

    def _card_views(self, card: Card, provider: str | None, encoder: CardEncoder | None = None) -> CardViews:
        """This version once per view; a card being built here reuses its sections' text."""
        if encoder is None:
            live = self._live.get(call_key(provider, card.call_id)) if provider is not None else None
            encoder = live.encoder if live is not None and live.encoder is not None else None
        return _views(card, provider, encoder or CardEncoder(self._specs), self._settings)


def _views(card: Card, provider: str | None, encoder: CardEncoder, settings: Settings) -> CardViews:
    """This version of ``card`` once per view (distinct set of hidden sections)."""
    views = tuple(
        View(hidden, encoder.frame(card, hidden), shown_sections(card, hidden))
        for hidden in role_views(settings)
    )
    return CardViews(card.call_id, card.version, views, provider)
