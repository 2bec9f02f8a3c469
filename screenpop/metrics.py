"""Prometheus metrics, in a registry owned by one app (no process-wide globals)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from screenpop.model import SectionStatus

DURABLE_QUEUES = ("call_records", "audit")
"""Queues whose counters exist (at 0) from the start; AMI links add theirs (``ami:<provider>``)."""
DROP_REASONS = ("queue_full", "rejected", "shutdown")

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)

# Every label value is a name from the configuration or a fixed word; anything a
# client chose (a URL segment, a header) is counted under this one value instead.
UNKNOWN_LABEL = "unknown"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.webhooks = Counter(
            "screenpop_webhooks", "Webhooks received", ["provider", "outcome"], registry=r
        )
        self._webhook_series: dict[tuple[str, str], Counter] = {}
        self.first_frame = Histogram(
            "screenpop_card_first_frame_seconds",
            "Webhook received to first card frame published",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.complete = Histogram(
            "screenpop_card_complete_seconds",
            "Webhook received to complete card published",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.connector_latency = Histogram(
            "screenpop_connector_seconds",
            "Connector lookup time",
            ["connector", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.connector_errors = Counter(
            "screenpop_connector_errors", "Connector timeouts and errors", ["connector", "status"], registry=r
        )
        self.circuit_open = Gauge(
            "screenpop_circuit_open",
            "1 while a connector's circuit is open or half-open",
            ["connector"],
            registry=r,
        )
        self.agents_connected = Gauge(
            "screenpop_agents_connected", "Agent sockets on this instance", registry=r
        )
        self.cards_published = Counter(
            "screenpop_card_frames", "Card frames published (one per agent per version)", registry=r
        )
        self.frames_out_of_order = Counter(
            "screenpop_frames_out_of_order",
            "Messages not sent to a socket because a later message of that agent had been sent already",
            registry=r,
        )

        self.suggestion_feedback = Counter(
            "screenpop_suggestion_feedback",
            "Agents' answers to suggestions, by section and outcome (a changed answer counts again)",
            ["section", "outcome"],
            registry=r,
        )

        self.attributes_dropped = Counter(
            "screenpop_attributes_dropped",
            "Provider attributes a taken call could not carry (beyond 50, or not an attribute), by provider",
            ["provider"],
            registry=r,
        )
        self.purged = Counter(
            "screenpop_retention_purged",
            "Rows the retention purge deleted, by table",
            ["table"],
            registry=r,
        )
        self.purges = Counter(
            "screenpop_retention_purges", "Retention purges this instance ran (it held the lease)", registry=r
        )

        self._connector_series: dict[tuple[str, SectionStatus], tuple[Histogram, Counter | None]] = {}
        self._durability(r)
        self._sinks(r)

    # -- sinks: deliveries of saved notes ---------------------------------------------------

    def webhook_seen(self, provider: str, outcome: str) -> None:
        """Count one webhook, its labelled series looked up once per (provider, outcome), not per call.

        Both labels come from the config and the error codes (a bounded set),
        so the cache cannot grow with what senders put in a URL.
        """
        series = self._webhook_series.get((provider, outcome))
        if series is None:
            series = self._webhook_series[(provider, outcome)] = self.webhooks.labels(provider, outcome)
        series.inc()

    def attributes_dropped_seen(self, provider: str, count: int) -> None:
        self.attributes_dropped.labels(provider).inc(count)

    def _sinks(self, r: CollectorRegistry) -> None:
        self.sink_delivered_total = Counter(
            "screenpop_sink_delivered", "Outbox entries a sink took", ["sink"], registry=r
        )
        self.sink_attempts_failed = Counter(
            "screenpop_sink_attempts_failed",
            "Failed delivery attempts (retried later, never dropped), by sink and whether the sink refused",
            ["sink", "reason"],
            registry=r,
        )
        self.sink_latency = Histogram(
            "screenpop_sink_delivery_seconds",
            "Note saved to the sink having taken it",
            ["sink"],
            buckets=(*LATENCY_BUCKETS, 10.0, 60.0, 300.0),
            registry=r,
        )
        self.sink_pending = Gauge(
            "screenpop_sink_pending", "Outbox entries not yet delivered, per sink", ["sink"], registry=r
        )
        self.sink_failing = Gauge(
            "screenpop_sink_failing",
            "Undelivered outbox entries whose last attempt failed, per sink",
            ["sink"],
            registry=r,
        )
        self.sink_oldest = Gauge(
            "screenpop_sink_oldest_pending_seconds",
            "Age of the oldest undelivered outbox entry, per sink (0 when none)",
            ["sink"],
            registry=r,
        )

    def track_sink(self, sink: str) -> None:
        """Show a sink's series at 0 from the start."""
        self.sink_delivered_total.labels(sink)
        for reason in ("unavailable", "refused"):
            self.sink_attempts_failed.labels(sink, reason)
        for gauge in (self.sink_pending, self.sink_failing, self.sink_oldest):
            gauge.labels(sink).set(0)

    def sink_delivered(self, sink: str, seconds_since_saved: float) -> None:
        self.sink_delivered_total.labels(sink).inc()
        self.sink_latency.labels(sink).observe(max(0.0, seconds_since_saved))

    def sink_failed(self, sink: str, refused: bool) -> None:
        self.sink_attempts_failed.labels(sink, "refused" if refused else "unavailable").inc()

    # -- accepted work retried or given up (call records, audit rows, AMI events) ------------

    def _durability(self, r: CollectorRegistry) -> None:
        """Counters of ``retry.DropObserver``: nothing accepted is dropped without showing here."""
        self.retries = Counter(
            "screenpop_retries",
            "Writes or deliveries of accepted work retried after a failure time may cure",
            ["queue"],
            registry=r,
        )
        self.drops = Counter(
            "screenpop_dropped",
            "Accepted work given up (call records, audit rows, AMI events), by queue and reason",
            ["queue", "reason"],
            registry=r,
        )
        for queue in DURABLE_QUEUES:
            self.track_queue(queue)

    def track_queue(self, queue: str) -> None:
        """Show a queue's retries and drops at 0 from the start, so a scrape sees them before they move."""
        self.retries.labels(queue)
        for reason in DROP_REASONS:
            self.drops.labels(queue, reason)

    def retried(self, queue: str) -> None:
        self.retries.labels(queue).inc()

    def dropped(self, queue: str, reason: str, count: int = 1) -> None:
        self.drops.labels(queue, reason).inc(count)

    def purge_done(self, counts: Mapping[str, int]) -> None:
        """Count one purge and the rows it deleted per table."""
        self.purges.inc()
        for table, count in counts.items():
            self.purged.labels(table).inc(count)

    def connector_done(self, name: str, status: SectionStatus, elapsed_s: float) -> None:
        """One lookup's outcome, through label children bound once (``labels()`` per call is slow)."""
        bound = self._connector_series.get((name, status)) or self._bind_connector(name, status)
        bound[0].observe(elapsed_s)
        if bound[1] is not None:
            bound[1].inc()

    def _bind_connector(self, name: str, status: SectionStatus) -> tuple[Histogram, Counter | None]:
        failed = status in (SectionStatus.TIMEOUT, SectionStatus.ERROR)
        errors = self.connector_errors.labels(name, status.value) if failed else None
        bound = (self.connector_latency.labels(name, status.value), errors)
        self._connector_series[(name, status)] = bound
        return bound

    def render(self, refresh: Callable[[], None]) -> bytes:
        """The text exposition, after ``refresh`` has set the gauges read at scrape time."""
        refresh()
        return generate_latest(self.registry)
