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

# --- recovery figures and fleet state (fed by judge0_operator.telemetry from each pass's status) ---
_DETECT_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800)
_RECOVER_BUCKETS = (5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)

TIME_TO_DETECT = Histogram(
    f"{_PREFIX}_time_to_detect_seconds",
    "First bad observation of a signal to the instance judged Unhealthy, by that signal.",
    ["namespace", "fleet", "signal"],
    buckets=_DETECT_BUCKETS,
    registry=REGISTRY,
)
TIME_TO_RECOVER = Histogram(
    f"{_PREFIX}_time_to_recover_seconds",
    "Instance judged Unhealthy to Healthy again (or replaced), by the rung that did it.",
    ["namespace", "fleet", "outcome"],
    buckets=_RECOVER_BUCKETS,
    registry=REGISTRY,
)
REMEDIATION_OUTCOMES = Counter(
    f"{_PREFIX}_remediation_outcomes",
    "How incidents ended: the rung that recovered the instance (RestartJudge0, RebootInstance, Start,"
    " ReplaceInstance), NoAction, GaveUp, or Removed (gone without a replacement).",
    ["namespace", "fleet", "outcome"],
    registry=REGISTRY,
)
UNHEALTHY_SIGNALS = Gauge(
    f"{_PREFIX}_unhealthy_signals",
    "Instances Unhealthy on a signal (ec2, api, workers, canary).",
    ["namespace", "fleet", "signal"],
    registry=REGISTRY,
)
INSTANCE_DIAGNOSES = Gauge(
    f"{_PREFIX}_instance_diagnoses",
    "Instances per diagnosis (RedisDown, SandboxBroken, DiskPressure, …; the README's table).",
    ["namespace", "fleet", "diagnosis"],
    registry=REGISTRY,
)
GAVE_UP_INSTANCES = Gauge(
    f"{_PREFIX}_gave_up_instances",
    "Instances remediation gave up on (maxRetries or the ladder exhausted): left for a human.",
    ["namespace", "fleet"],
    registry=REGISTRY,
)
FLEET_CONDITION = Gauge(
    f"{_PREFIX}_fleet_condition",
    "1 for each condition of a fleet, labelled with its current status and reason.",
    ["namespace", "fleet", "condition", "status", "reason"],
    registry=REGISTRY,
)
HEALTHY_REPLICA_SECONDS = Counter(
    f"{_PREFIX}_fleet_healthy_replica_seconds",
    "Healthy replica-seconds (healthy capped at desired): divided by desired replica-seconds, the availability.",
    ["namespace", "fleet"],
    registry=REGISTRY,
)
DESIRED_REPLICA_SECONDS = Counter(
    f"{_PREFIX}_fleet_desired_replica_seconds",
    "Desired replica-seconds.",
    ["namespace", "fleet"],
    registry=REGISTRY,
)
FLEET_AVAILABILITY = Gauge(
    f"{_PREFIX}_fleet_availability",
    "Healthy ÷ desired replica-seconds since this operator process started watching the fleet (0-1).",
    ["namespace", "fleet"],
    registry=REGISTRY,
)
# --- traffic: rotation and drains (decide/traffic.py, decide/drain.py; reported by controller/traffic.py) ---
_DRAIN_BUCKETS = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)
FLEET_IN_ROTATION = Gauge(
    f"{_PREFIX}_fleet_in_rotation",
    "Instances in rotation: registered in every target group of the fleet and ready in its EndpointSlice.",
    ["namespace", "fleet"],
    registry=REGISTRY,
)
DRAIN_SECONDS = Histogram(
    f"{_PREFIX}_drain_seconds",
    "Leaving rotation to the interrupting action, by how the drain ended (drained, timed-out, deadline, broken).",
    ["namespace", "fleet", "outcome"],
    buckets=_DRAIN_BUCKETS,
    registry=REGISTRY,
)
DRAIN_TIMEOUTS = Counter(
    f"{_PREFIX}_drain_timeouts",
    "Drains that ended at drain.timeoutSeconds (or a hard deadline) with work still queued or running.",
    ["namespace", "fleet"],
    registry=REGISTRY,
)
_PER_FLEET: tuple[tuple[Gauge | Counter | Histogram, tuple[str, ...]], ...] = (
    (FLEET_IN_ROTATION, ("namespace", "fleet")),
    (DRAIN_SECONDS, ("namespace", "fleet", "outcome")),
    (DRAIN_TIMEOUTS, ("namespace", "fleet")),
    (TIME_TO_DETECT, ("namespace", "fleet", "signal")),
    (TIME_TO_RECOVER, ("namespace", "fleet", "outcome")),
    (REMEDIATION_OUTCOMES, ("namespace", "fleet", "outcome")),
    (UNHEALTHY_SIGNALS, ("namespace", "fleet", "signal")),
    (GAVE_UP_INSTANCES, ("namespace", "fleet")),
    (INSTANCE_DIAGNOSES, ("namespace", "fleet", "diagnosis")),
    (FLEET_CONDITION, ("namespace", "fleet", "condition", "status", "reason")),
    (HEALTHY_REPLICA_SECONDS, ("namespace", "fleet")),
    (DESIRED_REPLICA_SECONDS, ("namespace", "fleet")),
    (FLEET_AVAILABILITY, ("namespace", "fleet")),
)

# --- leader election (controller/election/) ---
LEADER = Gauge(
    f"{_PREFIX}_leader",
    "1 while this replica holds the leader-election Lease and acts, else 0 (standing by).",
    registry=REGISTRY,
)
LEADERSHIP_CHANGES = Counter(
    f"{_PREFIX}_leadership_changes",
    "Times this replica became the leader or stopped being it (lost or released the Lease).",
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
    for metric, labelnames in _PER_FLEET:
        for values in _fleet_children(metric, labelnames, namespace, fleet):
            with contextlib.suppress(KeyError):
                metric.remove(*values)


def _fleet_children(
    metric: Gauge | Counter | Histogram, labelnames: tuple[str, ...], namespace: str, fleet: str
) -> set[tuple[str, ...]]:
    """Label values of every child of ``metric`` that belongs to this fleet (read via collect())."""
    found = set()
    for family in metric.collect():
        for sample in family.samples:
            labels = sample.labels
            if labels.get("namespace") == namespace and labels.get("fleet") == fleet:
                found.add(tuple(labels[name] for name in labelnames))
    return found
