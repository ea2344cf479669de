"""Desired replicas: spec base, schedule floors, queue autoscaling (HPA-style), stabilisation, bounds."""

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from judge0_operator.api.fleet import Judge0FleetSpec
from judge0_operator.api.fleet_status import ScalingStatus
from judge0_operator.decide.capacity import desired_replicas, next_scaling_check, read_queue
from judge0_operator.decide.model import Ec2Instance, FleetObservation, InstanceObservation, ProbeResult
from judge0_operator.decide.schedule import ScheduleError

T0 = datetime(2024, 5, 6, 14, 0, tzinfo=UTC)  # a Monday afternoon


def make_spec(replicas: int = 2, **scaling: Any) -> Judge0FleetSpec:
    doc: dict[str, Any] = {
        "region": "eu-west-1",
        "replicas": replicas,
        "instance": {"imageId": "ami-12345678", "instanceType": "c6i.large", "subnets": ["subnet-0a0a0a0a"]},
    }
    if scaling:
        doc["scaling"] = scaling
    return Judge0FleetSpec.model_validate(doc)


def queue_spec(replicas: int = 2, target: float = 2.0, stab: int = 300, **scaling: Any) -> Judge0FleetSpec:
    scaling.setdefault("maxReplicas", 100)
    return make_spec(
        replicas, queue={"targetBacklogPerWorker": target}, scaleDownStabilizationSeconds=stab, **scaling
    )


def node(
    n: int,
    queue: int | None = 0,
    workers: int | None = 4,
    *,
    ok: bool | None = True,
    saturated: bool = False,
    state: str = "running",
) -> InstanceObservation:
    instance = Ec2Instance(
        instance_id=f"i-{n:08x}",
        state=state,  # type: ignore[arg-type]
        zone="eu-west-1a",
        subnet_id="subnet-0a0a0a0a",
        instance_type="c6i.large",
        launch_time=T0 - timedelta(hours=1),
    )
    probe = ProbeResult(
        signal="workers",
        ok=ok,
        observed_at=T0,
        queue_size=queue,
        available_workers=workers,
        saturated=saturated,
    )
    return InstanceObservation(instance=instance, probes={"workers": probe})


def unknown(n: int) -> InstanceObservation:
    """A node whose /workers answered [] (no job ever queued, or Redis restarted)."""
    return node(n, None, None, ok=None)


def fleet(*nodes: InstanceObservation) -> tuple[FleetObservation, frozenset[str]]:
    """The observation and, as healthy, every running node."""
    healthy = frozenset(o.instance.instance_id for o in nodes if o.instance.state == "running")
    return FleetObservation(observed_at=T0, instances=nodes), healthy


def run(spec, nodes, previous=None, *, now=T0, healthy=None):
    observation, all_running = fleet(*nodes)
    return desired_replicas(
        spec, observation, previous, healthy_instance_ids=all_running if healthy is None else healthy, now=now
    )


def loaded(count: int, queue: int, workers: int = 4, start: int = 0) -> list[InstanceObservation]:
    return [node(start + i, queue, workers) for i in range(count)]


def rfc(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# --- spec, min, max ------------------------------------------------------------------------------
def test_without_scaling_spec_replicas_rule():
    status = run(make_spec(3), [])
    assert (status.desired_replicas, status.reason) == (3, "Spec")


def test_without_queue_spec_replicas_within_bounds_rule():
    status = run(make_spec(3, minReplicas=1, maxReplicas=5), loaded(3, 1000))
    assert (status.desired_replicas, status.reason, status.backlog_per_worker) == (3, "Spec", None)


def test_queue_below_min_is_raised_to_min():
    previous = ScalingStatus(desired_replicas=4, recommendations=[])
    status = run(queue_spec(4, stab=0, minReplicas=3), loaded(4, 0), previous)
    assert (status.desired_replicas, status.reason) == (3, "Min")


def test_queue_above_max_is_capped_at_max():
    status = run(queue_spec(8, maxReplicas=10), loaded(8, 400))
    assert (status.desired_replicas, status.reason) == (10, "Max")


# --- queue scale-up ------------------------------------------------------------------------------
def test_backlog_scales_up_doubling_per_pass():
    # 2 nodes x 4 workers, 40 queued each: backlog 10 per worker, target 2 → wants ceil(2 x 5) = 10.
    status = run(queue_spec(2), loaded(2, 40))
    assert status.backlog_per_worker == 10.0
    assert (status.desired_replicas, status.reason) == (4, "QueueBacklog")  # 2 live → at most +2


def test_scale_up_adds_at_most_five_per_pass():
    status = run(queue_spec(8), loaded(8, 100))  # wants 8 x 12.5 = 100
    assert status.desired_replicas == 13


def test_scale_up_waits_for_launched_instances_to_appear():
    # Desired is already 10 but only 4 instances exist: no further growth this pass.
    previous = ScalingStatus(desired_replicas=10, recommendations=[])
    status = run(queue_spec(2), loaded(4, 100), previous)
    assert status.desired_replicas == 10


def test_pending_instances_count_as_live_for_the_step():
    nodes = [*loaded(2, 40), node(10, state="pending"), node(11, state="pending")]
    previous = ScalingStatus(desired_replicas=4, recommendations=[])
    status = run(queue_spec(2), nodes, previous)
    # Wants 10 (only the two healthy nodes measured); 4 live → at most 8.
    assert status.desired_replicas == 8


def test_scale_up_converges_without_overshooting():
    spec, previous, now = queue_spec(1, target=5), None, T0
    for _ in range(6):  # load stays at 50 queued per node while instances join, healthy at once
        count = previous.desired_replicas if previous else 1
        previous = run(spec, loaded(count, 50), previous, now=now)
        now += timedelta(seconds=15)
    # Each node of 4 workers holds 50 queued: ratio 2.5 per node, so the fleet grows x2.5 per
    # measurement until the step limit binds: 1 → 2 → 4 → 8 → 13 → 18 → 23.
    assert previous is not None and previous.desired_replicas == 23


def test_saturation_scales_up_at_least_one_step():
    nodes = [node(0, 8, 4), node(1, 8, 4, saturated=True), node(2, 8, 4)]  # backlog exactly on target
    status = run(queue_spec(3), nodes)
    assert (status.desired_replicas, status.reason) == (6, "QueueSaturated")


def test_saturation_without_worker_data_still_scales_up():
    status = run(queue_spec(2), [unknown(0), node(1, None, None, ok=None, saturated=True)])
    assert (status.desired_replicas, status.reason) == (4, "QueueSaturated")


def test_within_tolerance_nothing_changes():
    status = run(queue_spec(4, target=2.0), loaded(4, 8))  # 8 queued / 4 workers = 2.0
    assert status.desired_replicas == 4
    status = run(queue_spec(4, target=2.0), [node(0, 9), node(1, 8), node(2, 8), node(3, 8)])  # 2.06
    assert status.desired_replicas == 4


def test_unhealthy_nodes_do_not_count():
    nodes = [node(0, 0), node(1, 0), node(2, 10_000, 0)]  # node 2's workers are dead: health's problem
    previous = ScalingStatus(desired_replicas=3, recommendations=[])
    status = run(queue_spec(3, stab=0), nodes, previous, healthy=frozenset({"i-00000000", "i-00000001"}))
    assert status.backlog_per_worker == 0.0
    assert status.desired_replicas == 1


# --- unknown is not zero -------------------------------------------------------------------------
def test_empty_workers_everywhere_keeps_the_previous_count():
    previous = ScalingStatus(desired_replicas=7, recommendations=[])
    status = run(queue_spec(2, stab=0), [unknown(i) for i in range(7)], previous)
    assert (status.desired_replicas, status.reason, status.backlog_per_worker) == (7, "QueueNoData", None)


def test_empty_workers_never_scales_down_even_after_the_window():
    previous, now = ScalingStatus(desired_replicas=7, recommendations=[]), T0
    for _ in range(40):
        previous = run(queue_spec(2, stab=60), [unknown(i) for i in range(7)], previous, now=now)
        now += timedelta(seconds=30)
    assert previous.desired_replicas == 7


def test_nodes_with_unknown_queue_count_as_on_target_when_scaling_down():
    # One idle node reports, three say []: shrink only what was seen → 3, not 1.
    previous = ScalingStatus(desired_replicas=4, recommendations=[])
    status = run(queue_spec(4, stab=0), [node(0, 0), unknown(1), unknown(2), unknown(3)], previous)
    assert status.desired_replicas == 3


def test_nodes_with_unknown_queue_never_turn_a_scale_up_into_a_scale_down():
    # One busy node (ratio 1.5), three unknown: 1 x 1.5 → 2 would shrink a fleet of 4; keep 4.
    previous = ScalingStatus(desired_replicas=4, recommendations=[])
    status = run(queue_spec(4, stab=0), [node(0, 12), unknown(1), unknown(2), unknown(3)], previous)
    assert status.desired_replicas == 4


def test_read_queue_sums_only_conclusive_healthy_probes():
    observation, healthy = fleet(node(0, 10, 4), node(1, 6, 2), unknown(2), node(3, 99, 9, ok=False))
    reading = read_queue(observation, healthy - {"i-00000003"})
    assert (reading.queued, reading.workers, reading.reporting, reading.unknown) == (16, 6, 2, 1)


# --- scale-down stabilisation --------------------------------------------------------------------
def test_scale_down_waits_for_the_stabilisation_window():
    spec = queue_spec(2, stab=300)
    busy = run(spec, loaded(2, 40), ScalingStatus(desired_replicas=2), now=T0)  # → 4
    busy = run(spec, loaded(4, 40), busy, now=T0 + timedelta(seconds=30))  # → 8, last high at T0+30
    assert busy.desired_replicas == 8
    status = busy
    for seconds in range(60, 330, 30):  # idle from T0+60 on
        status = run(spec, loaded(8, 0), status, now=T0 + timedelta(seconds=seconds))
        assert status.desired_replicas == 8, seconds
        assert status.reason == "Stabilizing"
    status = run(spec, loaded(8, 0), status, now=T0 + timedelta(seconds=329))
    assert (status.desired_replicas, status.reason) == (8, "Stabilizing")  # one second before the end
    # T0+330: the last high recommendation (T0+30) has left the 300 s window.
    status = run(spec, loaded(8, 0), status, now=T0 + timedelta(seconds=330))
    assert (status.desired_replicas, status.reason) == (1, "QueueBacklog")


def test_highest_recommendation_in_the_window_wins():
    spec = queue_spec(10, target=1.0, stab=300)
    previous = ScalingStatus(
        desired_replicas=10,
        recommendations=[
            {"time": rfc(T0 - timedelta(seconds=400)), "replicas": 10},  # outside the window
            {"time": rfc(T0 - timedelta(seconds=200)), "replicas": 7},
            {"time": rfc(T0 - timedelta(seconds=100)), "replicas": 5},
        ],
    )
    status = run(spec, loaded(10, 1, 4), previous)  # 10 x 0.25 → 3
    assert (status.desired_replicas, status.reason) == (7, "Stabilizing")
    assert max(r["replicas"] for r in status.recommendations) == 7
    assert all(
        datetime.fromisoformat(r["time"]) > T0 - timedelta(seconds=300) for r in status.recommendations
    )


def test_recommendations_stay_few_under_steady_load():
    spec, status, now = queue_spec(4, stab=300), ScalingStatus(desired_replicas=4), T0
    for _ in range(100):
        status = run(spec, loaded(4, 8), status, now=now)
        now += timedelta(seconds=10)
    assert status.desired_replicas == 4
    assert len(status.recommendations) == 1  # equal recommendations: only the newest matters


def test_zero_stabilisation_scales_down_at_once():
    previous = ScalingStatus(desired_replicas=8, recommendations=[{"time": rfc(T0), "replicas": 8}])
    status = run(queue_spec(8, stab=0), loaded(8, 4), previous, now=T0 + timedelta(seconds=10))
    assert status.desired_replicas == 4  # backlog 1 per worker, target 2: 8 x 0.5 → 4


def test_first_pass_does_not_scale_down_before_a_window_of_evidence():
    status = run(queue_spec(6, stab=300), loaded(6, 0), None)
    assert (status.desired_replicas, status.reason) == (6, "Stabilizing")


def test_queue_turned_off_drops_the_recommendations():
    previous = ScalingStatus(desired_replicas=5, recommendations=[{"time": rfc(T0), "replicas": 5}])
    status = run(make_spec(3, maxReplicas=10), loaded(5, 100), previous)
    assert (status.desired_replicas, status.recommendations) == (3, [])


def test_malformed_recommendations_are_ignored():
    previous = ScalingStatus(
        desired_replicas=4,
        recommendations=[{"time": "yesterday", "replicas": 99}, {"time": rfc(T0), "replicas": "lots"}, {}],
    )
    status = run(queue_spec(4, stab=0), loaded(4, 0), previous, now=T0 + timedelta(seconds=1))
    assert status.desired_replicas == 1


# --- schedules -----------------------------------------------------------------------------------
EXAM = {"name": "exam", "cron": "30 8 * * 1-5", "durationSeconds": 4 * 3600, "minReplicas": 12}


def test_schedule_raises_the_floor_while_open():
    spec = make_spec(2, maxReplicas=20, schedules=[EXAM])
    during = run(spec, [], now=datetime(2024, 5, 6, 9, 0, tzinfo=UTC))
    assert (during.desired_replicas, during.reason, during.active_window) == (12, "Schedule exam", "exam")
    after = run(spec, [], now=datetime(2024, 5, 6, 12, 30, tzinfo=UTC))
    assert (after.desired_replicas, after.reason, after.active_window) == (2, "Spec", None)
    assert after.next_window_at == "2024-05-07T08:30:00Z"


def test_schedule_floor_beats_a_low_queue_and_a_high_queue_beats_the_floor():
    spec = queue_spec(2, stab=0, schedules=[EXAM])
    nine = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
    idle = run(spec, loaded(12, 0), ScalingStatus(desired_replicas=12), now=nine)
    assert (idle.desired_replicas, idle.reason) == (12, "Schedule exam")
    busy = run(spec, loaded(12, 40), ScalingStatus(desired_replicas=12), now=nine)
    assert (busy.desired_replicas, busy.reason, busy.active_window) == (17, "QueueBacklog", "exam")


def test_schedule_floor_is_still_clamped_to_max():
    spec = make_spec(2, maxReplicas=10, schedules=[EXAM])
    status = run(spec, [], now=datetime(2024, 5, 6, 9, 0, tzinfo=UTC))
    assert (status.desired_replicas, status.reason) == (10, "Max")


def test_invalid_cron_is_a_named_error():
    spec = make_spec(2, schedules=[EXAM, {**EXAM, "cron": "30 8 * * 1-5 2024"}])
    with pytest.raises(ScheduleError, match=r"spec\.scaling\.schedules\[1\]\.cron"):
        run(spec, [])


# --- next check ----------------------------------------------------------------------------------
def test_next_check_is_the_next_window_change():
    spec = make_spec(2, schedules=[EXAM])
    morning = datetime(2024, 5, 6, 7, 0, tzinfo=UTC)
    assert next_scaling_check(spec, run(spec, [], now=morning), morning) == datetime(
        2024, 5, 6, 8, 30, tzinfo=UTC
    )
    during = datetime(2024, 5, 6, 9, 0, tzinfo=UTC)
    assert next_scaling_check(spec, run(spec, [], now=during), during) == datetime(
        2024, 5, 6, 12, 30, tzinfo=UTC
    )


def test_next_check_is_the_end_of_stabilisation_when_sooner():
    spec = queue_spec(8, stab=300, schedules=[EXAM])
    previous = ScalingStatus(
        desired_replicas=8, recommendations=[{"time": rfc(T0 - timedelta(seconds=100)), "replicas": 8}]
    )
    status = run(spec, loaded(8, 0), previous)
    assert status.desired_replicas == 8
    assert next_scaling_check(spec, status, T0) == T0 + timedelta(seconds=200)


def test_next_check_is_none_when_nothing_is_scheduled():
    spec = make_spec(2)
    assert next_scaling_check(spec, run(spec, []), T0) is None
    steady = queue_spec(4, stab=0)
    assert next_scaling_check(steady, run(steady, loaded(4, 8)), T0) is None


# --- properties ----------------------------------------------------------------------------------
node_readings = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(0, 500)),  # queue size (None: [] answered)
        st.integers(0, 16),  # workers
        st.booleans(),  # saturated
        st.sampled_from(["running", "running", "pending", "stopped"]),
    ),
    max_size=12,
)


def build_nodes(readings) -> list[InstanceObservation]:
    return [
        node(i, q, None if q is None else w, ok=None if q is None else True, saturated=s, state=state)
        for i, (q, w, s, state) in enumerate(readings)
    ]


@st.composite
def scaling_specs(draw):
    low = draw(st.integers(0, 20))
    high = draw(st.integers(low, 40))
    replicas = draw(st.integers(low, high))
    scaling: dict[str, Any] = {"minReplicas": low, "maxReplicas": high}
    scaling["scaleDownStabilizationSeconds"] = draw(st.sampled_from([0, 30, 300]))
    if draw(st.booleans()):
        scaling["queue"] = {"targetBacklogPerWorker": draw(st.sampled_from([0.5, 1.0, 2.0, 5.0, 7.5]))}
    if draw(st.booleans()):
        scaling["schedules"] = [
            {"cron": "0 * * * *", "durationSeconds": 1800, "minReplicas": draw(st.integers(0, 60))}
        ]
    return make_spec(replicas, **scaling)


@settings(max_examples=200, deadline=None)
@given(
    spec=scaling_specs(),
    readings=node_readings,
    previous_desired=st.one_of(st.none(), st.integers(0, 1000)),
    old=st.lists(st.tuples(st.integers(0, 600), st.integers(0, 1000)), max_size=5),
    minute=st.integers(0, 59),
)
def test_desired_is_always_within_bounds(spec, readings, previous_desired, old, minute):
    now = T0 + timedelta(minutes=minute)
    previous = None
    if previous_desired is not None:
        recs = [{"time": rfc(now - timedelta(seconds=age)), "replicas": r} for age, r in old]
        previous = ScalingStatus(desired_replicas=previous_desired, recommendations=recs)
    status = run(spec, build_nodes(readings), previous, now=now)
    assert spec.scaling.min_replicas <= status.desired_replicas <= spec.scaling.max_replicas


@settings(max_examples=200, deadline=None)
@given(
    readings=node_readings,
    previous_desired=st.integers(0, 60),
    target=st.sampled_from([0.5, 1.0, 2.0, 5.0]),
)
def test_queue_scale_up_per_pass_is_bounded(readings, previous_desired, target):
    spec = queue_spec(1, target=target, minReplicas=0, maxReplicas=1000)
    nodes = build_nodes(readings)
    status = run(spec, nodes, ScalingStatus(desired_replicas=previous_desired))
    live = sum(1 for n in nodes if n.instance.state in ("pending", "running"))
    if status.desired_replicas > previous_desired:
        assert status.desired_replicas - live <= min(max(1, live), 5)


@settings(max_examples=150, deadline=None)
@given(
    passes=st.lists(
        st.tuples(
            st.integers(1, 8),  # healthy nodes reporting
            st.integers(0, 60),  # queued per node
            st.integers(1_000, 120_000),  # milliseconds since the previous pass
        ),
        min_size=2,
        max_size=25,
    ),
    stab=st.sampled_from([0, 60, 300]),
    replicas=st.integers(1, 10),
)
def test_never_scales_down_below_what_the_window_recommended(passes, stab, replicas):
    """Oracle, independent of the implementation: every node has 4 workers and reports, so a pass
    with backlog ratio r ≥ 0.9 recommended at least its node count n (HPA tolerance keeps it
    there or raises it), and a lower ratio at least ceil(n x r). The first pass recommends the
    starting count. A drop may only go as low as the highest of those within the window."""
    spec = queue_spec(replicas, target=2.0, stab=stab, minReplicas=0, maxReplicas=1000)
    window = timedelta(seconds=stab)
    now, previous = T0, None
    floors: list[tuple[datetime, int]] = [(T0, replicas)]
    for nodes, queued, gap in passes:
        now += timedelta(milliseconds=gap)
        before = previous.desired_replicas if previous else replicas
        previous = run(spec, loaded(nodes, queued), previous, now=now)
        ratio = (queued / 4) / 2.0
        floors.append((now, nodes if ratio >= 0.9 else math.ceil(nodes * ratio - 1e-9)))
        if previous.desired_replicas < before:
            in_window = [f for t, f in floors if t > now - window or t == now]
            assert previous.desired_replicas >= min(before, max(in_window))
