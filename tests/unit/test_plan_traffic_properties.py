"""Properties of rotation and drain over generated fleets (hypothesis): never an interrupting
action on a node still in rotation; a node leaves every target group before it is disrupted;
a node that can still run code drains first; never past the drain deadline; hard deadlines win;
broken nodes are not waited on."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_builders import CURRENT_HASH, T0, UID, Node, make_policy, make_spec, seen

from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.api.traffic import TrafficSpec
from judge0_operator.decide import drain
from judge0_operator.decide.model import Reboot, RestartJudge0, TargetGroupHealth, TargetHealth, Terminate
from judge0_operator.decide.plan import Plan, plan
from judge0_operator.decide.timeutil import parse_time

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/judge0/0123456789abcdef"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
INTERRUPTING = (Terminate, RestartJudge0, Reboot)

probe = st.sampled_from([True, True, True, True, False, None])


@st.composite
def worlds(draw) -> list[Node]:
    out = []
    for n in range(draw(st.integers(0, 6))):
        out.append(
            Node(
                f"i-{n}",
                slot=f"s{draw(st.integers(0, 5))}",
                attempt=draw(st.integers(0, 1)),
                zone=draw(st.sampled_from("abc")),
                state=draw(st.sampled_from(["running"] * 8 + ["pending", "stopped"])),
                api=draw(probe),
                workers=draw(probe),
                canary=draw(probe),
                events=draw(st.sampled_from([(), (), (), ("instance-stop",), ("instance-retirement",)])),
                not_before=T0 + timedelta(seconds=draw(st.integers(-30, 400))),
                template=draw(st.sampled_from([CURRENT_HASH] * 3 + ["oldhash"])),
                queued=draw(st.integers(0, 3)),
                running=draw(st.sampled_from([None, 0, 0, 1, 2])),
                private_ip=f"10.0.0.{n + 1}",
            )
        )
    return out


@st.composite
def cases(draw):
    published = draw(st.booleans()) or draw(st.booleans())
    spec = make_spec(
        draw(st.integers(0, 6)),
        traffic=TrafficSpec.model_validate({"service": {}, "targetGroupArns": [ARN]}) if published else TrafficSpec(),
        paused=draw(st.sampled_from([False] * 9 + [True])),
    )
    policy = make_policy(
        {
            "mode": draw(st.sampled_from(["Enforce"] * 4 + ["DryRun"])),
            "drain": {
                "timeoutSeconds": draw(st.sampled_from([0, 20, 300])),
                "graceSeconds": draw(st.sampled_from([0, 5])),
            },
            "probes": {"api": {"unhealthyAfterSeconds": draw(st.sampled_from([0, 30]))}},
            "graceAfterActionSeconds": 0,
        }
    )
    before = draw(worlds())
    earlier = T0 - timedelta(seconds=draw(st.integers(1, 120)))
    # First every node healthy and wanted (all in rotation), then the drawn spec and world (drains
    # begin: scale-in, rollout, spot notices), then now: the same nodes, their probes and work changed.
    calm = [n.but(state="running", api=True, workers=True, canary=True, events=(), template=CURRENT_HASH)
            for n in before]
    wanted = spec.model_copy(update={"replicas": len({n.slot for n in before})})
    previous = _plan(wanted, policy, calm, Judge0FleetStatus(), earlier - timedelta(seconds=60), _group(draw, calm))
    previous = _plan(spec, policy, before, previous.status, earlier, _group(draw, before))
    now = [
        n.but(
            api=draw(probe), canary=draw(probe), queued=draw(st.integers(0, 3)),
            running=draw(st.sampled_from([None, 0, 0, 1])),
        )
        if draw(st.booleans())
        else n
        for n in before
    ]
    return spec, policy, now, previous.status, _group(draw, now)


def _group(draw, world: list[Node]) -> dict[str, TargetGroupHealth]:
    states = st.sampled_from(["healthy", "healthy", "initial", "unhealthy", "draining"])
    targets = {n.iid: TargetHealth(n.iid, draw(states)) for n in world if draw(st.booleans())}
    return {ARN: TargetGroupHealth(ARN, T0, targets, error=draw(st.sampled_from([None] * 5 + ["Throttling"])))}


def _plan(spec, policy, world, previous, now, groups) -> Plan:
    observation = seen(now, world, target_groups=groups)
    return plan(spec, policy, observation, previous, now, fleet_uid=UID, generation=1, fleet_name="exam")


@SETTINGS
@given(cases())
def test_rotation_and_drain_properties(case) -> None:
    spec, policy, world, previous, groups = case
    result = _plan(spec, policy, world, previous, T0, groups)
    rows = {r.instance_id: r for r in result.status.instances}
    before = {r.instance_id: r for r in previous.instances}
    interrupted = {a.instance_id for a in result.actions if isinstance(a, INTERRUPTING)}
    group = groups[ARN]
    held = {i for i, t in group.targets.items() if t.state != "draining"}
    hard = {n.iid: n.not_before for n in world if n.events}

    for instance_id in interrupted:
        # never an interrupting action on a node still in rotation
        assert rows[instance_id].traffic != "InRotation", instance_id
        # … and it leaves every target group it is in, in the same pass, before the action runs
        if ARN in spec.traffic.target_group_arns and (instance_id in held or not group.complete):
            assert instance_id in result.traffic.deregistering.get(ARN, ()), instance_id
        # a node that can still run code, in rotation until now, drains first (hard deadlines aside)
        old = before.get(instance_id)
        if (
            policy.mode == "Enforce"
            and drain.controls_traffic(spec)
            and old is not None
            and old.traffic == "InRotation"
            and old.drain is None
            and drain.cannot_run_code(rows[instance_id]) is None
            and not (instance_id in hard and hard[instance_id] <= T0)
        ):
            raise AssertionError(f"{instance_id} was interrupted without a drain")

    for instance_id, new in rows.items():
        assert (new.traffic == "Draining") == (new.drain is not None), instance_id
        if new.traffic == "InRotation":
            assert new.health == "Healthy" and new.state == "running", instance_id
        if new.drain is not None and result.traffic.acting:
            assert drain.cannot_run_code(new) is None, instance_id  # broken nodes are not waited on
            deadline = parse_time(new.drain.deadline)
            assert deadline is not None and deadline > T0, instance_id  # never past the deadline
            if instance_id in hard:
                assert deadline <= hard[instance_id], instance_id  # hard deadlines win
    for endpoint in result.traffic.endpoints:
        assert endpoint.traffic == rows[endpoint.instance_id].traffic
    if result.traffic.acting:
        assert result.status.in_rotation_replicas == sum(r.traffic == "InRotation" for r in rows.values())
