"""Every Prometheus metric of the operator, in one registry.

Serve it with ``prometheus_client.start_http_server(port, registry=REGISTRY)``.

Label values are bounded: namespaces/fleets (removed with ``forget_fleet``), signals, action kinds,
AWS operation names and outcome words — never instance ids.
"""

from __future__ import annotations

import contextlib

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)

from judge0_operator.aws.circuit import CircuitBreaker, CircuitBreakers

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

_PREFIX = "judge0_operator"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

FLEET_REPLICAS_DESIRED = Gauge(
    f"{_PREFIX}_fleet_replicas_desired",
    "Desired instances of a fleet, after scaling rules.",
    ["namespace", "fleet"],
    registry=REGISTRY,
)
FLEET_REPLICAS_READY = Gauge(
    f"{_PREFIX}_fleet_replicas_ready",
    "Instances running with Judge0's API answering.",
    ["namespace", "fleet"],
    registry=REGISTRY,
)
FLEET_REPLICAS_HEALTHY = Gauge(
    f"{_PREFIX}_fleet_replicas_healthy",
    "Instances healthy on every signal.",
    ["namespace", "fleet"],
    registry=REGISTRY,
)
UNHEALTHY_INSTANCES = Gauge(
    f"{_PREFIX}_unhealthy_instances",
    "Instances judged Unhealthy.",
    ["namespace", "fleet"],
    registry=REGISTRY,
)
PROBE_RESULTS = Counter(
    f"{_PREFIX}_probe_results",
    "Judge0 probe results by signal and result (ok, bad, unknown).",
    ["signal", "result"],
    registry=REGISTRY,
)
PROBE_DURATION = Histogram(
    f"{_PREFIX}_probe_duration_seconds",
    "Judge0 probe latency (a canary: submit to final status).",
    ["signal"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
REMEDIATION_ACTIONS = Counter(
    f"{_PREFIX}_actions",
    "Actions by kind and outcome (succeeded, failed, circuit-open, dry-run, …).",
    ["action", "outcome"],
    registry=REGISTRY,
)
AWS_CALLS = Counter(
    f"{_PREFIX}_aws_calls",
    "AWS API calls by operation and outcome (ok or the error kind).",
    ["operation", "outcome"],
    registry=REGISTRY,
)
AWS_CALL_DURATION = Histogram(
    f"{_PREFIX}_aws_call_duration_seconds",
    "AWS API call latency, botocore retries included.",
    ["operation"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
AWS_BUDGET_WAIT = Counter(
    f"{_PREFIX}_aws_budget_wait_seconds",
    "Seconds spent waiting for the client-side EC2 token buckets.",
    ["operation"],
    registry=REGISTRY,
)
CIRCUIT_STATE = Gauge(
    f"{_PREFIX}_circuit_state",
    "Circuit breaker per region and operation: 0 closed, 1 half-open, 2 open.",
    ["region", "operation"],
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    f"{_PREFIX}_reconcile_duration_seconds",
    "Duration of one fleet's observe-decide-act-report pass.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)


def watch_circuit(region: str, operation: str, breaker: CircuitBreaker) -> None:
    """Export a breaker's state, read at scrape time (so half-open shows without a call)."""
    CIRCUIT_STATE.labels(region=region, operation=operation).set_function(lambda: float(breaker.state))


def new_circuit_breakers(*, failure_threshold: int = 5, cooldown_seconds: float = 30.0) -> CircuitBreakers:
    """Breakers whose states are exported as ``judge0_operator_circuit_state``."""
    return CircuitBreakers(
        failure_threshold=failure_threshold, cooldown_seconds=cooldown_seconds, on_create=watch_circuit
    )


def set_fleet_replicas(
    namespace: str, fleet: str, *, desired: int, ready: int, healthy: int, unhealthy: int
) -> None:
    FLEET_REPLICAS_DESIRED.labels(namespace, fleet).set(desired)
    FLEET_REPLICAS_READY.labels(namespace, fleet).set(ready)
    FLEET_REPLICAS_HEALTHY.labels(namespace, fleet).set(healthy)
    UNHEALTHY_INSTANCES.labels(namespace, fleet).set(unhealthy)


def forget_fleet(namespace: str, fleet: str) -> None:
    """Drop a deleted fleet's series."""
    for gauge in (FLEET_REPLICAS_DESIRED, FLEET_REPLICAS_READY, FLEET_REPLICAS_HEALTHY, UNHEALTHY_INSTANCES):
        with contextlib.suppress(KeyError):
            gauge.remove(namespace, fleet)
