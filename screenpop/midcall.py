"""Attributes that arrive during a call: ``POST /api/calls/{call_id}/attributes`` (SPEC 4).

The agent's host application learns something while the call goes on (the
agent verified the account, a bot found the order number).  The attributes
are merged into the call, the connectors that name a changed ``attr_KEY`` —
and everything that ``needs`` them, directly or not — run again, and every
recipient gets the next card version, on whatever instance its socket is.

The card of a call is kept between its webhook and the end of the call as a
*sheet* in the broker's shared state (``call-sheet:{provider}:{call_id}``),
written when the card is complete and after each update, so that any
instance can take the POST.  A sheet holds what the card shows (sections,
history, the public attributes), never a ``secret_`` attribute: a re-run
binds the secret attributes of that POST only, so a connector that names a
secret the POST does not send again is skipped (docs/beyond-the-spec.md).
Versions are reserved with the broker's ``claim`` (``SET NX``), so two
updates racing on two instances never publish the same version twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from screenpop.broker import Broker
from screenpop.call_context import MAX_ATTRIBUTES, Attributes, CallContext, Direction, is_secret
from screenpop.config import Settings
from screenpop.errors import BadRequest, Forbidden, NotFound, Unavailable
from screenpop.generation import Generations
from screenpop.lookup import LookupEngine
from screenpop.model import JSON, Card, HistoryEntry, Section, SectionStatus
from screenpop.phone import parse_caller
from screenpop.store import Store
from screenpop.untrusted import quoted

log = logging.getLogger(__name__)

SHEET_TTL_S = 6 * 3600
"""As long as a call's shared state: an update after that finds no call."""
UPDATE_POLL_S = 0.02
"""How often a waiting update asks for its turn."""
MAX_VERSION_TRIES = 64
"""Versions tried when reserving the next one; more would mean a runaway, not a race."""

Publish = Callable[[Card, Iterable[str], str], Awaitable[None]]
"""Publish a card version to these agents (``CallService.publish_to``)."""
AsItStands = Callable[[str, Card], Awaitable[Card]]
"""The sheet's card brought up to what the call's shared state says since (transfers, later versions)."""


@dataclass(frozen=True, slots=True)
class Sheet:
    """A call's card as it last stood, with the number it is about and who may see it."""

    provider: str
    card: Card


@dataclass(frozen=True, slots=True)
class UpdateResult:
    """What ``POST /api/calls/{call_id}/attributes`` answers: the version published and what re-ran."""

    call_id: str
    version: int
    rerun: tuple[str, ...]

    def to_json(self, hidden: frozenset[str] = frozenset()) -> JSON:
        """As the poster may see it: a section hidden from their role is not named, even as re-run."""
        rerun = [name for name in self.rerun if name not in hidden]
        return {"call_id": self.call_id, "version": self.version, "rerun": rerun}


def sheet_key(provider: str, call_id: str) -> str:
    return f"call-sheet:{provider}:{call_id}"


def _version_key(provider: str, call_id: str, version: int) -> str:
    return f"call-version:{provider}:{call_id}:{version}"


class CallSheets:
    """The cards of calls in progress, in the broker's shared state (any instance can read them)."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    async def save(self, provider: str, card: Card) -> None:
        """Keep the card as it stands (public attributes only), and reserve its version."""
        await self._broker.claim(_version_key(provider, card.call_id, card.version), SHEET_TTL_S)
        body = json.dumps(_sheet_json(provider, card), separators=(",", ":"))
        await self._broker.put(sheet_key(provider, card.call_id), body, SHEET_TTL_S)

    async def keep(self, provider: str, card: Card) -> None:
        """``save`` on the pop's own path: a broker fault must not cost the agent the complete card."""
        try:
            await self.save(provider, card)
        except Exception:  # swallowed: updates to this call will answer 503 until a sheet exists
            log.warning(
                "call %s: its card could not be kept for mid-call updates", card.call_id, exc_info=True
            )

    async def find(self, providers: Iterable[str], call_id: str, region: str) -> Sheet | None:
        """The sheet of this call id under the first provider that has one (ids are unique per provider)."""
        for provider in providers:
            raw = await self._broker.get(sheet_key(provider, call_id))
            if raw is not None:
                return _sheet_from_json(json.loads(raw), region)
        return None

    async def next_version(self, provider: str, call_id: str, after: int) -> int:
        """Reserve the first free version after ``after`` (``SET NX``: of two racers, each gets its own)."""
        for version in range(after + 1, after + 1 + MAX_VERSION_TRIES):
            if await self._broker.claim(_version_key(provider, call_id, version), SHEET_TTL_S):
                return version
        raise Unavailable("the call's card is being updated too often; send again")


class AttributeUpdates:
    """Merges attributes into a call in progress and publishes the re-run card to its recipients."""

    def __init__(
        self,
        generations: Generations,
        broker: Broker,
        store: Store,
        publish: Publish,
        as_it_stands: AsItStands | None = None,
    ) -> None:
        self._generations = generations
        self._broker = broker
        self._store = store
        self._publish = publish
        self._as_it_stands = as_it_stands
        self.sheets = CallSheets(broker)

    @property
    def _settings(self) -> Settings:
        """The config this update runs on: pinned by ``apply`` for its whole re-run (generation.py)."""
        return self._generations.current.settings

    @property
    def _engine(self) -> LookupEngine:
        return self._generations.current.engine

    async def apply(self, call_id: str, agent_id: str, attributes: Attributes) -> UpdateResult:
        """Merge, re-run what depends on a changed key, publish every version; 404/403 as SPEC 4 says."""
        with self._generations.pinned():
            return await self._apply(call_id, agent_id, attributes)

    async def _apply(self, call_id: str, agent_id: str, attributes: Attributes) -> UpdateResult:
        if not attributes:
            raise BadRequest("`attributes` must hold at least one attribute")
        providers = [p.name for p in self._settings.providers]
        sheet = await self.sheets.find(providers, call_id, self._settings.numbers.default_region)
        if sheet is None:
            await self._refuse_unknown(call_id, agent_id)
            raise Unavailable("the call's card is not ready yet; send the attributes again in a moment")
        recipients = await self._recipients(sheet)
        if agent_id not in recipients:
            raise Forbidden(f"agent {agent_id!r} did not receive call {quoted(call_id)}")
        async with self._one_update_at_a_time(sheet.provider, call_id):
            # read again under the lock: an update that held it has saved its attributes in the sheet
            found = await self.sheets.find([sheet.provider], call_id, self._settings.numbers.default_region)
            sheet = found or sheet
            if self._as_it_stands is not None:  # a transfer since the sheet was kept moved the card on
                sheet = replace(sheet, card=await self._as_it_stands(sheet.provider, sheet.card))
            return await self._rerun(sheet, attributes, await self._shown_to(sheet, recipients))

    @contextlib.asynccontextmanager
    async def _one_update_at_a_time(self, provider: str, call_id: str) -> AsyncIterator[None]:
        """Updates of one call, on any instance, take turns: each merges into what the last one saved.

        Two updates that both read the sheet before either saved it would
        each save only their own attributes, and the next re-run would lose
        one of them.  The turn is a broker claim (``SET NX`` with a TTL, so an
        instance that dies holding it cannot block the call for long).
        """
        key = f"call-update:{provider}:{call_id}"
        rerun_s = self._settings.card.deadline_ms / 1000  # a re-run never takes longer
        deadline = time.monotonic() + 2 * rerun_s + 1  # the update before us, and its publishing
        while not await self._broker.claim(key, int(4 * rerun_s) + 5):  # expires if its instance died
            if time.monotonic() >= deadline:
                raise Unavailable("another update of this call's attributes is running; send again")
            await asyncio.sleep(UPDATE_POLL_S)
        try:
            yield
        finally:
            await self._broker.release(key)

    async def _refuse_unknown(self, call_id: str, agent_id: str) -> None:
        """``NotFound`` / ``Forbidden`` from the store when the call has no card in progress."""
        providers = [p.name for p in self._settings.providers]
        for provider in providers:
            if agent_id in await self._store.recipients(provider, call_id):
                return
        for provider in providers:
            if await self._store.recipients(provider, call_id):
                raise Forbidden(f"agent {agent_id!r} did not receive call {quoted(call_id)}")
        raise NotFound(f"no call {quoted(call_id)} in progress")

    async def _recipients(self, sheet: Sheet) -> list[str]:
        """Who holds the card: the shared set, else the store's list (the set expired or was lost)."""
        key = f"recipients:{sheet.provider}:{sheet.card.call_id}"
        found = await self._broker.members(key)
        if found is None:
            found = list(await self._store.recipients(sheet.provider, sheet.card.call_id))
        return found

    async def _shown_to(self, sheet: Sheet, recipients: list[str]) -> list[str]:
        """Every recipient while the call rings; once it is answered, the agent who has it."""
        state = await self._broker.get(f"call-state:{sheet.provider}:{sheet.card.call_id}")
        if state and state.startswith("answered:"):
            answered_by = state.removeprefix("answered:")
            return [a for a in recipients if a == answered_by] or recipients
        return recipients

    async def _rerun(self, sheet: Sheet, attributes: Attributes, recipients: list[str]) -> UpdateResult:
        card = sheet.card
        before = card.context.attributes
        changed = frozenset(k for k, v in attributes.items() if is_secret(k) or before.get(k) != v)
        context = card.context.with_attributes(attributes)
        if len(context.attributes) > MAX_ATTRIBUTES:  # each POST alone fits: the call must too
            held = len(before)
            raise BadRequest(
                f"the call holds {held} attributes and may hold at most {MAX_ATTRIBUTES}: "
                f"this update would add {len(context.attributes) - held}"
            )
        names = [c.name for c in self._settings.connectors if c.name in card.sections]
        rerun = self._engine.dependents(frozenset(n for n in names if self._engine.uses_changed(n, changed)))
        keep = {n: s for n, s in card.sections.items() if n not in rerun}
        card = replace(card, context=context, complete=False)
        async for snapshot in self._engine.snapshots(card.caller, context, keep):
            version = await self.sheets.next_version(sheet.provider, card.call_id, card.version)
            card = replace(card, sections=snapshot.sections, version=version, complete=snapshot.complete)
            if snapshot.complete:
                await self.sheets.save(sheet.provider, card)
            await self._publish(card, recipients, sheet.provider)
        log.info("call %s: %d attributes merged, %d sections re-run", card.call_id, len(changed), len(rerun))
        return UpdateResult(card.call_id, card.version, tuple(n for n in names if n in rerun))


def _sheet_json(provider: str, card: Card) -> JSON:
    """The card as the sheet keeps it: never a ``secret_`` attribute."""
    context = card.context
    return {
        "provider": provider,
        "call_id": card.call_id,
        "number": card.caller.raw,  # parsed again when read: the same text gives the same number
        "received_at": card.received_at,
        "caller_name": card.caller_name,
        "status": card.status,
        "agent": card.agent,
        "queue": card.queue,
        "version": card.version,
        "context": {
            "direction": context.direction.value,
            "line": context.line,
            "dialled": context.dialled,
            "attributes": context.public(),
        },
        "sections": {name: _section_json(s) for name, s in card.sections.items()},
        "history": [h.to_json() for h in card.history],
    }


def _sheet_from_json(data: Mapping[str, Any], region: str) -> Sheet:
    context = data["context"]
    card = Card(
        call_id=data["call_id"],
        caller=parse_caller(data["number"], region),
        received_at=data["received_at"],
        sections={name: _section_from(s) for name, s in data["sections"].items()},
        caller_name=data["caller_name"],
        status=data["status"],
        agent=data["agent"],
        queue=data["queue"],
        history=tuple(HistoryEntry(**h) for h in data["history"]),
        version=int(data["version"]),
        complete=True,
        context=CallContext(
            call_id=data["call_id"],
            direction=Direction(context["direction"]),
            line=context["line"],
            dialled=context["dialled"],
            attributes=dict(context["attributes"]),
        ),
    )
    return Sheet(provider=data["provider"], card=card)


def _section_json(section: Section) -> JSON:
    return {
        "status": section.status.value,
        "title": section.title,
        "data": section.data,
        "error": section.error,
        "elapsed_ms": section.elapsed_ms,
        "rows": section.rows,
        "age_s": section.age_s,
        "cached": section.cached,
        "others": list(section.others),
    }


def _section_from(data: Mapping[str, Any]) -> Section:
    return Section(
        status=SectionStatus(data["status"]),
        title=data.get("title"),
        data=data.get("data"),
        error=data.get("error"),
        elapsed_ms=data.get("elapsed_ms"),
        rows=int(data.get("rows", 0)),
        age_s=data.get("age_s"),
        cached=bool(data.get("cached", False)),
        others=tuple(data.get("others", ())),
    )
