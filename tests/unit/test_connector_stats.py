"""Each connector's rolling figures, health sentence and failure log, moved through a ``ManualClock``."""

from __future__ import annotations

import logging

import pytest

from screenpop.admin import WebhookLog, refused_check
from screenpop.config import CircuitSettings
from screenpop.errors import BadSignature
from screenpop.lookup import CircuitBreaker, ConnectorStats
from screenpop.model import SectionStatus
from screenpop.testing import ManualClock, make_settings
from screenpop.untrusted import redact

PASSWORD = "pw-9f8e7d6c"
URL = f"postgresql+asyncpg://app:{PASSWORD}@db.internal:5432/accounts"
API_KEY = "key-0a1b2c3d4e5f"


def _stats(clock: ManualClock) -> ConnectorStats:
    settings = make_settings(
        [
            {"name": "accounts", "kind": "sql", "url": URL, "query": "SELECT 1 AS x WHERE :e164 = ''"},
            {
                "name": "crm",
                "kind": "http",
                "url": "http://crm.internal/people?phone={e164}",
                "headers": {"X-Api-Key": API_KEY},
                "select": {"name": "$.name"},
            },
        ]
    )
    return ConnectorStats(settings.connectors, clock)


def _breaker(clock: ManualClock, failures: int = 5) -> CircuitBreaker:
    return CircuitBreaker(CircuitSettings(failures=failures, reset_s=30), 10, clock)


def test_percentiles_counts_and_the_five_minute_window() -> None:
    """p50/p95/p99 follow the latencies (within a bin's 5%); calls older than 5 minutes drop out."""
    clock = ManualClock()
    stats = _stats(clock)
    for ms in range(1, 101):  # 1..100 ms
        stats.record("accounts", SectionStatus.OK, ms / 1000)
    stats.record("accounts", SectionStatus.TIMEOUT, 0.8, "no answer in 800 ms")
    stats.record("accounts", SectionStatus.ERROR, 0.002, "HTTP 500 from accounts")
    summary = stats.summary("accounts")
    assert (summary["calls"], summary["errors"], summary["timeouts"]) == (102, 1, 1)
    assert summary["p50_ms"] == pytest.approx(51, rel=0.05)
    assert summary["p95_ms"] == pytest.approx(96, rel=0.05)
    assert summary["p99_ms"] == pytest.approx(100, rel=0.05)
    clock.advance(200)
    stats.record("accounts", SectionStatus.OK, 0.3)
    clock.advance(110)  # the first 102 calls are now more than 300 s old, the last one is not
    summary = stats.summary("accounts")
    assert (summary["calls"], summary["errors"], summary["timeouts"]) == (1, 0, 0)
    assert summary["p50_ms"] == summary["p99_ms"] == pytest.approx(300, rel=0.05)
    clock.advance(300)
    assert stats.summary("accounts")["p50_ms"] is None and stats.summary("crm")["calls"] == 0


def test_errors_are_redacted_of_passwords_secrets_and_numbers() -> None:
    """The last error keeps the driver's sentence, not the URL's password, a header secret or a number."""
    clock = ManualClock()
    stats = _stats(clock)
    stats.record("accounts", SectionStatus.ERROR, 0.01, f"cannot use {URL} for +1 (415) 555-0132")
    stats.record("crm", SectionStatus.ERROR, 0.01, f"HTTP 401: key {API_KEY} refused")
    accounts, crm = stats.summary("accounts")["last_error"], stats.summary("crm")["last_error"]
    assert accounts == "cannot use postgresql+asyncpg://app:***@db.internal:5432/accounts for [digits]"
    assert crm == "HTTP 401: key *** refused"


def test_health_names_failures_and_the_circuit_state() -> None:
    """ok, then failing with k of the last n calls, then circuit open / half-open, then ok again."""
    clock = ManualClock()
    stats, breaker = _stats(clock), _breaker(clock, failures=2)
    assert stats.health("accounts", breaker) == "ok"
    stats.record("accounts", SectionStatus.OK, 0.01)
    stats.record("accounts", SectionStatus.ERROR, 0.01, "cannot reach database")
    breaker.record_failure()
    assert stats.health("accounts", breaker) == "failing: cannot reach database (1 of the last 2 calls)"
    breaker.record_failure()
    assert stats.health("accounts", breaker) == "circuit open: cannot reach database; next try in 30 s"
    clock.advance(30)
    assert (
        stats.health("accounts", breaker) == "circuit half-open: trying one call after cannot reach database"
    )
    breaker.record_success()
    stats.record("accounts", SectionStatus.OK, 0.01)
    assert stats.health("accounts", breaker) == "ok"


def test_a_connector_that_could_not_start_says_so_until_it_answers() -> None:
    """A start failure is the health's reason before any call, redacted, and forgotten once a call answers."""
    clock = ManualClock()
    stats, breaker = _stats(clock), _breaker(clock)
    stats.start_failed("accounts", OSError(f"could not connect to {URL}"))
    assert stats.health("accounts", breaker) == (
        "failing: could not start: OSError: could not connect to "
        "postgresql+asyncpg://app:***@db.internal:5432/accounts"
    )
    stats.record("accounts", SectionStatus.NOT_FOUND, 0.01)
    assert stats.health("accounts", breaker) == "ok" and stats.summary("accounts")["last_error"] is None


def test_failures_are_logged_once_a_minute_with_the_count_left_out(caplog: pytest.LogCaptureFixture) -> None:
    """The first failure is logged at once, the next ones within a minute are counted into the next line."""
    caplog.set_level(logging.WARNING, logger="screenpop.lookup.connector_stats")
    clock = ManualClock()
    stats = _stats(clock)
    for _ in range(5):
        stats.record("accounts", SectionStatus.ERROR, 0.01, "cannot reach database")
        clock.advance(10)
    clock.advance(20)  # 70 s after the first line
    stats.record("accounts", SectionStatus.TIMEOUT, 0.8, "no answer in 800 ms")
    stats.record("accounts", SectionStatus.OK, 0.01)
    assert [r.getMessage() for r in caplog.records] == [
        "connector accounts failed: cannot reach database",
        "connector accounts failed: no answer in 800 ms (4 more failures not logged in the last minute)",
        "connector accounts answers again after 6 failed calls",
    ]


@pytest.mark.parametrize(
    ("code", "message", "check"),
    [
        (
            "bad_signature",
            "Screenpop-Signature does not match the body",
            "signature",
        ),
        (
            "bad_signature",
            "Screenpop-Signature timestamp is 3600 s old",
            "timestamp window",
        ),
        (
            "bad_signature",
            "X-Twilio-Signature: is server.public_url right?",
            "signature or URL",
        ),
        ("bad_request", "`call_id` is required", "body"),
        ("unsupported_media_type", "the body must be JSON", "content type"),
        ("not_found", "no webhook provider is named 'pbxx'", "unknown provider"),
    ],
)
def test_a_refusal_names_the_check_that_failed(code: str, message: str, check: str) -> None:
    """Signature, timestamp window, URL, body, content type and unknown provider are told apart."""
    assert refused_check(code, message) == check


def test_redact_keeps_short_numbers_and_masks_long_ones() -> None:
    """Ports, timeouts and statuses stay readable; six digits or more (a phone number) do not."""
    assert redact("HTTP 503 after 800 ms on port 5432") == "HTTP 503 after 800 ms on port 5432"
    assert redact("caller 020 7946 0000 and 4155550132") == "caller [digits] and [digits]"


def test_a_reload_keeps_the_figures_of_unchanged_connectors_only() -> None:
    """On reload an unchanged connector keeps its calls, a changed one starts afresh, a new one is added."""
    clock = ManualClock()
    stats = _stats(clock)
    stats.record("accounts", SectionStatus.OK, 0.01)
    stats.record("crm", SectionStatus.OK, 0.01)
    reloaded = make_settings(
        [
            {"name": "accounts", "kind": "sql", "url": URL, "query": "SELECT 1 AS x WHERE :e164 = ''"},
            {"name": "crm", "kind": "http", "url": "http://crm2.internal/?p={e164}", "select": {"n": "$.n"}},
            {"name": "billing", "kind": "http", "url": "http://billing/?p={e164}", "select": {"n": "$.n"}},
        ]
    )
    after = stats.reconfigured(reloaded.connectors)
    assert [after.summary(n)["calls"] for n in ("accounts", "crm", "billing")] == [1, 0, 0]


def test_a_connector_not_ready_yet_says_so_without_counting_a_failure() -> None:
    """A model still being built is `not ready yet: ...`, not a failing call, until a call answers."""
    clock = ManualClock()
    stats, breaker = _stats(clock), _breaker(clock)
    stats.not_ready("accounts", "model not built yet: reading 120000 order lines")
    assert (
        stats.health("accounts", breaker)
        == "not ready yet: model not built yet: reading [digits] order lines"
    )
    assert stats.summary("accounts")["calls"] == 0 and stats.summary("accounts")["last_error"] is None
    stats.record("accounts", SectionStatus.OK, 0.01)
    assert stats.health("accounts", breaker) == "ok"


def test_a_reload_keeps_the_counts_of_providers_still_configured() -> None:
    """Providers kept by a reload keep their counts; a new one starts at zero; a removed one is gone."""
    log = WebhookLog.for_providers(["pbx", "old"])
    log.refused("pbx", BadSignature("Screenpop-Signature does not match the body"))
    log.reconfigured(["pbx", "twilio"])
    assert {n: c.refused for n, c in log.providers.items()} == {"pbx": 1, "twilio": 0}
