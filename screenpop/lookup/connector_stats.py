"""Per-connector rolling figures for IT: calls, errors, timeouts, latency percentiles, last error, health.

``/metrics`` has the same events as counters and histograms for Prometheus,
but IT opening ``/admin`` or ``/readyz`` wants an answer without a Prometheus:
"is the accounting database answering, how fast, and if not, why".  So each
connector keeps the last five minutes here, in thirty buckets of ten seconds
(time read through the ``Clock``, so tests move it instead of sleeping).  A
bucket counts calls, errors and timeouts and keeps a sparse log-scale
histogram of latencies (bins 5% wide), so memory is bounded whatever the
traffic and a percentile is within 2.5% of the true one.

Failures are also logged here, rate-limited per connector: the first at
once, then at most one line a minute carrying how many were not logged, and
one line when the connector answers again.  Every error text is redacted
(``untrusted.redact``): never a password, a configured secret or a number.
"""

from __future__ import annotations

import logging
import math
import re
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from screenpop.clock import SYSTEM_CLOCK, Clock
from screenpop.config import ConnectorSettings, is_secret_key
from screenpop.connector_api import SourceState
from screenpop.lookup.breaker import CircuitBreaker, CircuitState
from screenpop.model import SectionStatus
from screenpop.untrusted import redact

log = logging.getLogger(__name__)

WINDOW_S = 300
BUCKET_S = 10
BUCKETS = WINDOW_S // BUCKET_S
RECENT_CALLS = 10
"""How many of the last calls the health sentence counts failures in ("3 of the last 3 calls")."""
LOG_EVERY_S = 60.0
BIN_RATIO = 1.05
BIN_FLOOR_MS = 0.1
MAX_ERROR_CHARS = 160
_PASSWORD_IN_URL = re.compile(r"://[^:/@\s]*:([^@\s/]+)@")


@dataclass(slots=True)
class _Bucket:
    index: int
    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    bins: dict[int, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Connector:
    secrets: tuple[str, ...]
    buckets: deque[_Bucket] = field(default_factory=lambda: deque(maxlen=BUCKETS))
    recent: deque[bool] = field(default_factory=lambda: deque(maxlen=RECENT_CALLS))
    last_error: str | None = None
    last_error_at: float | None = None
    start_error: str | None = None
    not_ready: str | None = None
    failing_run: int = 0
    unlogged: int = 0
    logged_at: float | None = None


class ConnectorStats:
    """The rolling figures of every configured connector of one instance.

    ``record`` is called by the lookup engine once per real call to a
    connector (a call refused by an open circuit never reached it and is
    not counted); ``summary`` and ``health`` are what ``/api/admin/status``
    and ``/readyz`` show.
    """

    def __init__(self, connectors: tuple[ConnectorSettings, ...], clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._connectors = {c.name: _Connector(connector_secrets(c)) for c in connectors}
        self._configs = {c.name: c for c in connectors}

    def reconfigured(self, connectors: tuple[ConnectorSettings, ...]) -> ConnectorStats:
        """The figures for a reloaded config: a connector whose block did not change keeps its own.

        A changed block (another URL, another query) starts afresh: its old
        latencies and errors describe a source it no longer asks.
        """
        fresh = ConnectorStats(connectors, self._clock)
        for config in connectors:
            kept = self._connectors.get(config.name)
            if kept is not None and self._configs.get(config.name) == config:
                fresh._connectors[config.name] = kept
        return fresh

    def record(self, name: str, status: SectionStatus, elapsed_s: float, error: str | None = None) -> None:
        """One finished call: counted in the current bucket; a failure kept, logged (rate-limited)."""
        entry = self._connectors.get(name)
        if entry is None:
            return
        bucket = self._bucket(entry)
        bucket.calls += 1
        index = _bin(elapsed_s * 1000)
        bucket.bins[index] = bucket.bins.get(index, 0) + 1
        failed = status in (SectionStatus.ERROR, SectionStatus.TIMEOUT)
        entry.recent.append(failed)
        if status is SectionStatus.TIMEOUT:
            bucket.timeouts += 1
        elif status is SectionStatus.ERROR:
            bucket.errors += 1
        if failed:
            self._failed(name, entry, error or status.value)
        else:
            self._answered(name, entry)

    def start_failed(self, name: str, error: BaseException | str) -> None:
        """The connector could not start: its health says so until a call answers."""
        entry = self._connectors.get(name)
        if entry is None:
            return
        text = error if isinstance(error, str) else _exception_text(error)
        entry.start_error = redact(text, entry.secrets, MAX_ERROR_CHARS)
        log.warning("connector %s could not start: %s", name, entry.start_error)

    def not_ready(self, name: str, reason: str) -> None:
        """The connector answered that it has nothing to answer from yet (a model being built).

        Not a failure of its source (the breaker does not count it), and not a
        call; its health says so until a call answers.
        """
        entry = self._connectors.get(name)
        if entry is not None:
            entry.not_ready = redact(reason, entry.secrets, MAX_ERROR_CHARS)

    def summary(self, name: str) -> dict[str, Any]:
        """Calls, errors, timeouts and p50/p95/p99 (ms) over the window, and the last error."""
        entry = self._connectors[name]
        live = list(self._live(entry))
        bins: dict[int, int] = {}
        for bucket in live:
            for index, count in bucket.bins.items():
                bins[index] = bins.get(index, 0) + count
        return {
            "calls": sum(b.calls for b in live),
            "errors": sum(b.errors for b in live),
            "timeouts": sum(b.timeouts for b in live),
            "p50_ms": _percentile(bins, 0.50),
            "p95_ms": _percentile(bins, 0.95),
            "p99_ms": _percentile(bins, 0.99),
            "last_error": entry.last_error or entry.start_error,
            "last_error_at": _iso(entry.last_error_at),
        }

    def health(self, name: str, breaker: CircuitBreaker, source: SourceState | None = None) -> str:
        """A phrase IT reads: ``ok``, ``failing: <reason> (k of the last n calls)``, or the circuit state.

        ``source``'s problem (a stale index: calls still answered, from older
        data) is added, redacted like every error text here.
        """
        calls = self._calls_health(name, breaker)
        if source is None or source.problem is None:
            return calls
        reason = self.redacted(name, source.reason)
        problem = f"{source.problem}: {reason}" if reason else source.problem
        return problem if calls == "ok" else f"{calls}; {problem}"

    def redacted(self, name: str, text: str | None) -> str | None:
        """A source's own error text as this module shows every error: no secret, no number."""
        entry = self._connectors.get(name)
        if text is None or entry is None:
            return None
        return redact(text, entry.secrets, MAX_ERROR_CHARS)

    def _calls_health(self, name: str, breaker: CircuitBreaker) -> str:
        entry = self._connectors.get(name)
        reason = (entry.last_error or entry.start_error if entry else None) or "failures"
        state = breaker.state
        if state is CircuitState.OPEN:
            return f"circuit open: {reason}; next try in {math.ceil(breaker.reopens_in_s)} s"
        if state is CircuitState.HALF_OPEN:
            return f"circuit half-open: trying one call after {reason}"
        if entry is None:
            return "ok"
        if entry.recent and entry.recent[-1]:
            calls = len(entry.recent)
            count = "the last call" if calls == 1 else f"{sum(entry.recent)} of the last {calls} calls"
            return f"failing: {reason} ({count})"
        if not entry.recent and entry.start_error:
            return f"failing: could not start: {entry.start_error}"
        if entry.not_ready:
            return f"not ready yet: {entry.not_ready}"
        return "ok"

    def _bucket(self, entry: _Connector) -> _Bucket:
        index = int(self._clock.monotonic() // BUCKET_S)
        if not entry.buckets or entry.buckets[-1].index != index:
            entry.buckets.append(_Bucket(index))
        return entry.buckets[-1]

    def _live(self, entry: _Connector) -> Iterator[_Bucket]:
        oldest = int(self._clock.monotonic() // BUCKET_S) - BUCKETS + 1
        return (b for b in entry.buckets if b.index >= oldest)

    def _failed(self, name: str, entry: _Connector, error: str) -> None:
        entry.last_error = redact(error, entry.secrets, MAX_ERROR_CHARS)
        entry.last_error_at = self._clock.time()
        entry.failing_run += 1
        now = self._clock.monotonic()
        if entry.logged_at is not None and now - entry.logged_at < LOG_EVERY_S:
            entry.unlogged += 1
            return
        more = f" ({entry.unlogged} more failures not logged in the last minute)" if entry.unlogged else ""
        log.warning("connector %s failed: %s%s", name, entry.last_error, more)
        entry.logged_at = now
        entry.unlogged = 0

    def _answered(self, name: str, entry: _Connector) -> None:
        entry.start_error = None
        entry.not_ready = None
        if entry.failing_run:
            log.warning("connector %s answers again after %d failed calls", name, entry.failing_run)
        entry.failing_run = 0
        entry.unlogged = 0
        entry.logged_at = None


def connector_secrets(config: ConnectorSettings) -> tuple[str, ...]:
    """The values in a connector's block that must never be shown: URL passwords and secret-named keys."""
    return tuple(sorted(set(_secrets_in(config.kind_keys(), ()))))


def _secrets_in(value: object, path: tuple[str, ...]) -> Iterator[str]:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _secrets_in(inner, (*path, str(key)))
    elif isinstance(value, list | tuple):
        for inner in value:
            yield from _secrets_in(inner, path)
    elif isinstance(value, str):
        if path and (is_secret_key(path) or "headers" in path):
            yield value
        yield from _PASSWORD_IN_URL.findall(value)


def _iso(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, UTC).isoformat(timespec="seconds")


def _exception_text(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__


def _bin(ms: float) -> int:
    return max(0, int(math.log(max(ms, BIN_FLOOR_MS) / BIN_FLOOR_MS, BIN_RATIO)))


def _percentile(bins: Mapping[int, int], q: float) -> float | None:
    """The middle of the bin holding the ``q``-th latency, in ms (None without calls)."""
    total = sum(bins.values())
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index in sorted(bins):
        seen += bins[index]
        if seen >= rank:
            return round(BIN_FLOOR_MS * math.pow(BIN_RATIO, index + 0.5), 1)
    return None  # unreachable: the ranks add up to total
