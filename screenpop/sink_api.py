"""The contract between screenpop and a sink kind: where a saved note is written back.

A sink kind is a class registered under the entry-point group
``screenpop.sinks`` (our own ``sql`` and ``http`` kinds are registered the
same way in pyproject.toml, so the plugin path is the tested one).  The
class declares an ``Options`` pydantic model for its own config keys, is
built once per configured sink with ``(name, options, context)``, and
``deliver``s one ``Delivery`` at a time.  screenpop's outbox worker calls it
in order per call, retries it while it fails, and never gives an entry up;
a kind therefore only has to say *how* a delivery failed:

- ``SinkRefused``: the sink answered and refused this entry (a 4xx, a
  constraint): retried only at the slow ceiling of the back-off, shown as
  ``failing`` in ``/readyz``.
- ``SinkBusy``: the sink is busy or away and said how long to wait (an
  HTTP ``Retry-After``): retried no sooner than that (at most the ceiling).
- any other exception (unreachable, timed out, 5xx): retried with
  exponential back-off and jitter.

The message of either must be short and must not carry a secret, a header
value or the entry's data: it is stored as the entry's ``last_error`` and
shown in ``/readyz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from screenpop.errors import ScreenpopError, Unavailable

if TYPE_CHECKING:
    import aiohttp

SINK_ENTRY_POINT_GROUP = "screenpop.sinks"

SINK_PARAMETERS = (
    "call_id",
    "e164",
    "agent",
    "disposition",
    "notes",
    "saved_at",
    "customer_ids",
    "idempotency_key",
    "provider",
    "version",
)
"""What a sink may bind (a ``sql`` statement's ``:name``): the http body's keys and the entry's own."""


class SinkOptions(BaseModel):
    """Base of a sink kind's own options: frozen, unknown keys refused, values never echoed in errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class SinkRefused(ScreenpopError):
    """The sink answered and refused this entry; sending it again unchanged will likely fail again."""

    code = "sink_refused"
    status = 502


class SinkBusy(Unavailable):
    """The sink is busy or away and asked to be tried again in ``retry_after_s`` seconds (None: not said)."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class SinkContext:
    """What screenpop lends every sink: the app's one HTTP client session (None in the CLI's checks)."""

    http: aiohttp.ClientSession | None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One saved note (or edit) on its way to one sink.

    ``version`` is the note's 1-based ordinal among its call's notes (never
    one already used for this call id, even after retention purged notes), and
    ``idempotency_key`` is ``<call_id>:<version>``: the same note delivered
    twice (at least once, after a crash) carries the same key, so a sink
    that honours it keeps it once.  ``customer_ids`` are the customer's ids
    per connector from the call's card (``{connector: id}``), empty when the
    card found none.
    """

    sink: str
    provider: str
    call_id: str
    version: int
    idempotency_key: str
    e164: str | None
    agent: str
    disposition: str | None
    notes: str | None
    saved_at: datetime
    customer_ids: dict[str, str]

    def body(self) -> dict[str, Any]:
        """The SPEC's JSON body of an ``http`` sink (``saved_at`` as ISO 8601 UTC with a ``Z``)."""
        return {
            "call_id": self.call_id,
            "e164": self.e164,
            "agent": self.agent,
            "disposition": self.disposition,
            "notes": self.notes,
            "saved_at": iso_z(self.saved_at),
            "customer_ids": dict(self.customer_ids),
        }


class Sink(Protocol):
    """A built sink: one per configured sink, opened and closed with the service."""

    name: str

    async def start(self) -> None:
        """Open what the sink keeps open (an engine); must not fail when the sink is away."""
        ...

    async def deliver(self, delivery: Delivery) -> None:
        """Write one delivery; return only once the sink has taken it, raise otherwise."""
        ...

    async def check(self) -> str:
        """Try the sink without writing anything; a short word on success, raise on failure."""
        ...

    async def close(self) -> None: ...


class SinkKind(Protocol):
    """The class registered under ``screenpop.sinks``."""

    Options: ClassVar[type[SinkOptions]]

    def __call__(self, name: str, options: Any, context: SinkContext) -> Sink: ...


def iso_z(value: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as the cards and the API show times."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
