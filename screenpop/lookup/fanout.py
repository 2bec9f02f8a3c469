"""One card's fan-out: the `needs` graph walked as answers arrive, under the card's deadline.

A run starts every connector whose `needs` are answered, one task each, and
hands out a snapshot of the sections after every batch of answers.  It is
on the path of every call, so what it reads about a connector is worked out
once per configuration (``ConnectorPlan``), finished tasks report
themselves through a done callback, and the card's deadline is one timer:
``asyncio.wait`` would hook every running task and arm a timer again on
each round.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Coroutine, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from screenpop.call_context import CallContext
from screenpop.config import ConnectorSettings
from screenpop.connector_api import ConnectorTrace
from screenpop.lookup.trace import LookupTrace
from screenpop.model import CallerNumber, Section, SectionStatus

Sections = dict[str, Section]


@dataclass(frozen=True, slots=True)
class Snapshot:
    sections: Sections
    complete: bool


@dataclass(frozen=True, slots=True)
class ConnectorPlan:
    """What every lookup reads about one connector, worked out when the configuration is loaded."""

    config: ConnectorSettings
    title: str
    timeout_s: float
    needed: tuple[str, ...]
    """The connectors whose answers it `needs` first."""
    required_attributes: tuple[str, ...]
    """The attribute keys it names: a call without one of them skips it."""
    cached: bool
    """Whether its sections go through the cache: a positive ``cache_ttl_s``, and no ``secret_`` attribute."""
    runs_on_null: bool = False
    """Whether it runs with a NULL `needs` field (bound as None): a decision table does, a query does not."""

    @property
    def name(self) -> str:
        return self.config.name


class Engine(Protocol):
    """What a run asks of the lookup engine."""

    @property
    def deadline_s(self) -> float: ...

    @property
    def plans(self) -> Mapping[str, ConnectorPlan]: ...

    def initial(self, number: CallerNumber) -> Sections: ...

    def section_for(self, name: str, params: Mapping[str, Any]) -> Coroutine[Any, Any, Section]: ...

    def traced_section(
        self, name: str, params: Mapping[str, Any], trace: ConnectorTrace
    ) -> Coroutine[Any, Any, Section]: ...


class Run:
    """One card's fan-out (``LookupEngine.snapshots``)."""

    def __init__(
        self,
        engine: Engine,
        number: CallerNumber,
        context: CallContext,
        keep: Mapping[str, Section],
        trace: LookupTrace | None = None,
    ) -> None:
        self.engine = engine
        self.plans = engine.plans
        self.trace = trace
        self.params: dict[str, Any] = {**context.params(), **number.params()}
        self.attributes = context.attributes
        self.sections = engine.initial(number)
        self.tasks: dict[asyncio.Task[Section], str] = {}
        self.finished: list[asyncio.Task[Section]] = []  # done, in the order they finished
        self.waiter: asyncio.Future[None] | None = None
        self.expired = False
        self.started: set[str] = set()
        for name, section in keep.items():
            if name in self.sections and self.sections[name].status is SectionStatus.PENDING:
                self.sections[name] = section
                self.started.add(name)

    async def drive(self) -> AsyncGenerator[Snapshot, None]:
        """Snapshots as answers arrive, until every connector answered or the card's deadline passed."""
        timer = asyncio.get_running_loop().call_later(self.engine.deadline_s, self._wake, True)
        self._start_ready()
        try:
            while self.tasks and not self.expired:
                if not self.finished:
                    await self._next()
                    if not self.finished:  # the deadline came first
                        break
                finished, self.finished = self.finished, []
                for task in finished:
                    self.sections[self.tasks.pop(task)] = task.result()
                self._start_ready()
                if self.tasks:
                    yield Snapshot(dict(self.sections), complete=False)
        finally:
            timer.cancel()
            await self._cut_off()
        yield Snapshot(dict(self.sections), complete=True)

    async def _next(self) -> None:
        """Until a task finishes or the deadline passes."""
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    def _finished(self, task: asyncio.Task[Section]) -> None:
        self.finished.append(task)
        self._wake()

    def _wake(self, deadline: bool = False) -> None:
        self.expired = self.expired or deadline
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def _start_ready(self) -> None:
        """Start every connector whose needs are answered; skip those whose needs failed."""
        progress = True
        while progress:
            progress = False
            for name, section in self.sections.items():
                if section.status is not SectionStatus.PENDING or name in self.started:
                    continue
                plan = self.plans[name]
                if any(not self.sections[n].status.final for n in plan.needed):
                    continue
                self.started.add(name)
                progress = True
                missing = self._missing_attribute(plan) or self._bind_needs(plan)
                if missing:
                    self.sections[name] = replace(
                        section, status=SectionStatus.SKIPPED, error=missing, elapsed_ms=0
                    )
                else:
                    self._start(plan)

    def _start(self, plan: ConnectorPlan) -> None:
        # a connector without `needs` reads the card's own parameters (connectors never change them)
        params = {**self.params, **self._needs_params(plan.config)} if plan.needed else self.params
        task = asyncio.create_task(self._section(plan.name, params))
        self.tasks[task] = plan.name
        task.add_done_callback(self._finished)

    def _section(self, name: str, params: Mapping[str, Any]) -> Coroutine[Any, Any, Section]:
        if self.trace is None:
            return self.engine.section_for(name, params)
        return self.engine.traced_section(name, params, self.trace.connector(name))

    def _missing_attribute(self, plan: ConnectorPlan) -> str | None:
        """``no attribute KEY`` for the first attribute the connector names that the call lacks."""
        for key in plan.required_attributes:
            if key not in self.attributes:
                return f"no attribute {key}"
        return None

    def _bind_needs(self, plan: ConnectorPlan) -> str | None:
        """``needs X`` for the first `needs` input that is missing, or None when all are there.

        A source that did not answer skips the connector; a NULL field skips
        it unless it ``runs_on_null`` (a rule over it then does not hold: a
        customer with an overdue balance but no credit rating got no warning).
        """
        for need in plan.config.needs:
            source, field = need.split(".")
            data = self.sections[source].data or {}
            if self.sections[source].status is not SectionStatus.OK:
                return f"needs {need}"
            if data.get(field) is None and not plan.runs_on_null:
                return f"needs {need}"
        return None

    def _needs_params(self, config: ConnectorSettings) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for need in config.needs:
            source, field = need.split(".")
            out[f"{source}_{field}"] = (self.sections[source].data or {}).get(field)
        return out

    async def _cut_off(self) -> None:
        """At the deadline: cancel what runs, and mark everything unfinished as timed out."""
        if self.tasks:
            for task in self.tasks:
                task.cancel()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            self.tasks.clear()
        limit = round(self.engine.deadline_s * 1000)
        for name, section in self.sections.items():
            if section.status is SectionStatus.PENDING:
                self.sections[name] = replace(
                    section, status=SectionStatus.TIMEOUT, error=f"card deadline ({limit} ms) passed"
                )
