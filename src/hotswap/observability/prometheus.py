"""Prometheus metrics. One registry per app instance, so tests and replicas don't share state."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.http_requests = Counter(
            "hotswap_http_requests", "HTTP requests handled", ["method", "route", "status"], registry=r
        )
        self.http_latency = Histogram(
            "hotswap_http_request_duration_seconds",
            "Time to handle an HTTP request",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.auth_failures = Counter("hotswap_auth_failures", "Rejected authentications", ["reason"], registry=r)
        self.input_refused = Counter(
            "hotswap_input_refused",
            "Requests refused at the edge for what they carry: a body HotSwap cannot take, or a path that is not text",
            ["part"],
            registry=r,
        )
        self.rate_limited = Counter("hotswap_rate_limited", "Requests refused by a rate limit", ["scope"], registry=r)
        self.rate_limiter_errors = Counter(
            "hotswap_rate_limiter_errors", "Requests let through because the rate limiter failed", registry=r
        )
        self.config_versions_created = Counter(
            "hotswap_config_versions_created", "Config versions written", ["environment"], registry=r
        )
        self.config_releases = Counter(
            "hotswap_config_releases", "Config releases by outcome", ["environment", "outcome"], registry=r
        )
        self.approvals_decided = Counter("hotswap_approvals_decided", "Approval decisions", ["decision"], registry=r)
        self.deployments_started = Counter(
            "hotswap_deployments_started", "Deployments created, by strategy", ["strategy"], registry=r
        )
        self.deployments_finished = Counter(
            "hotswap_deployments_finished",
            "Deployments that ended, by strategy and outcome (Succeeded, RolledBack, Failed, Cancelled)",
            ["strategy", "outcome"],
            registry=r,
        )
        self.rollbacks = Counter(
            "hotswap_rollbacks", "Deployments rolled back, by strategy and trigger (manual, judge)",
            ["strategy", "trigger"], registry=r,
        )  # fmt: skip
        self.metric_samples = Counter(
            "hotswap_metric_samples", "Metric samples from game servers, by outcome (accepted, rejected)",
            ["outcome"], registry=r,
        )  # fmt: skip
        # A game server that tags samples with an event before or after it runs in its region.
        self.event_samples_outside_window = Counter(
            "hotswap_event_samples_outside_window",
            "Accepted metric samples tagged with a live event, not counted towards it: outside its window",
            registry=r,
        )
        self.judge_verdicts = Counter(
            "hotswap_judge_verdicts",
            "The canary judge's looks, by outcome (Successful, Pending, Inconclusive, Error, Failed)",
            ["outcome"],
            registry=r,
        )
        self.snapshot_revision = Gauge(
            "hotswap_snapshot_revision", "Revision of the snapshot held in memory", ["environment"], registry=r
        )
        self.snapshot_compile = Histogram(
            "hotswap_snapshot_compile_seconds",
            "Time to load and compile an environment's snapshot",
            ["environment"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.snapshot_failures = Counter(
            "hotswap_snapshot_failures", "Snapshot loads or compiles that failed (the last good one stays)", registry=r
        )
        self.stream_clients = Gauge(
            "hotswap_stream_clients", "Open snapshot streams on this process", ["environment"], registry=r
        )
        self.stream_disconnects = Counter(
            "hotswap_stream_disconnects",
            "Snapshot streams that ended, by reason (disconnect, slow, shutdown, error)",
            ["reason"],
            registry=r,
        )
        self.event_activation_lag = Histogram(
            "hotswap_event_activation_lag_seconds",
            "From a live event window's scheduled start to the transaction that opens it",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.event_dead_letters = Counter(
            "hotswap_event_dead_letters", "Scheduled event transitions that failed every retry", registry=r
        )
        self.cache_warms = Counter(
            "hotswap_cache_warms",
            "Cache warm-ups run by this process (snapshots rebuilt, player profiles refilled), by origin: "
            "request (an admin asked this process) or bus (another replica asked every process)",
            ["origin"],
            registry=r,
        )
        self.webhook_refusals = Counter(
            "hotswap_webhook_deliveries_refused",
            "Webhook deliveries failed without a connection: the URL, or an address its host resolved to, "
            "is one webhooks may not reach, by kind (metadata, link-local, loopback, private, ...)",
            ["kind"],
            registry=r,
        )

        self.after_commit_failures = Counter(
            "hotswap_after_commit_failures",
            "Work after a commit that failed (logged; the committed request stood), by hook or signal handler",
            ["hook"],
            registry=r,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
