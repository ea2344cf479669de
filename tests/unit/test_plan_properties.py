"""Properties of the planner over generated worlds (hypothesis): safety limits, slot rules, convergence."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from plan_builders import CURRENT_HASH, MISSING, T0, UID, Node, make_policy, make_spec, seen

from judge0_operator.api.fleet_status import Judge0FleetStatus
from judge0_operator.decide.model import MUTATING_KINDS, ActionOutcome, Launch, Terminate
from judge0_operator.decide.plan import Plan, plan, record_outcomes
from judge0_operator.decide.safety import max_in_flight

PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REMEDIATION_KINDS = {"RestartJudge0", "RebootInstance", "Start"}

probe_value = st.sampled_from([True, True, True, False, None, MISSING])


@st.composite
def nodes(draw, *, healthy: bool = False, max_size: int = 8) -> list[Node]:
    count = draw(st.integers(0, max_size))
    out = []
    for n in range(count):
        fields = {
            "slot": draw(st.sampled_from([f"s{k}" for k in range(6)] + [None] * (0 if healthy else 1))),
            "attempt": draw(st.integers(0, 2)),
            "zone": draw(st.sampled_from("abc")),
            "launched": T0 - timedelta(seconds=draw(st.integers(0, 7200))),
        }
        if not healthy:
            fields |= {
                "state": draw(st.sampled_from(["running"] * 6 + ["pending", "stopped", "stopping"])),
                "api": draw(probe_value),
                "workers": draw(probe_value),
                "canary": draw(probe_value),
                "instance_check": draw(st.sampled_from(["ok", "ok", "impaired", "initializing"])),
                "system_check": draw(st.sampled_from(["ok", "ok", "ok", "impaired"])),
                "events": draw(st.sampled_from([(), (), (), ("instance-retirement",)])),
                "probed_at": T0 - timedelta(seconds=draw(st.integers(0, 900))),
                "template": draw(st.sampled_from([CURRENT_HASH, CURRENT_HASH, "oldhash"])),
            }
        out.append(Node(f"i-{n:03d}", **fields))
    return out


policies = st.builds(
    lambda in_flight, unhealthy, mode, unhealthy_after: make_policy(
        {
            "mode": mode,
            "safety": {"maxInFlight": in_flight, "maxUnhealthy": unhealthy},
            "probes": {
                "api": {"unhealthyAfterSeconds": unhealthy_after},
                "ec2UnhealthyAfterSeconds": unhealthy_after,
            },
            "startupGraceSeconds": 300,
        }
    ),
    st.sampled_from([1, 2, "50%"]),
    st.sampled_from([1, 2, "40%", "100%"]),
    st.sampled_from(["Enforce", "Enforce", "DryRun"]),
    st.sampled_from([0, 30, 120]),
)


def run(spec, policy, world, previous, now) -> Plan:
    return plan(spec, policy, seen(now, world), previous, now, fleet_uid=UID, generation=1, fleet_name="f")


@st.composite
def scenarios(draw):
    """(spec, policy, world, previous status, now): previous comes from an earlier pass on the same world."""
    spec = make_spec(draw(st.integers(0, 6)), paused=draw(st.sampled_from([False] * 5 + [True])))
    policy = draw(policies)
    world = draw(nodes())
    previous = Judge0FleetStatus()
    now = T0
    for _ in range(draw(st.integers(0, 2))):
        earlier = run(spec, policy, world, previous, now)
        previous = earlier.status
        if draw(st.booleans()):
            outcomes = [
                ActionOutcome(a, ok=True, instance_id=f"i-x{n}" if isinstance(a, Launch) else None)
                for n, a in enumerate(earlier.actions)
            ]
            previous, _ = record_outcomes(previous, outcomes, now, generation=1)
        now += timedelta(seconds=draw(st.sampled_from([5, 60, 200])))
    return spec, policy, world, previous, now


def remediation_slots(result: Plan) -> set[str]:
    slots = set()
    for action in result.actions:
        is_replacement = isinstance(action, Launch) and action.replaces and action.reason.startswith("Remediation")
        if action.kind in REMEDIATION_KINDS or is_replacement:
            slots.add(action.slot)
    return slots


@PROPERTY_SETTINGS
@given(scenarios())
def test_remediations_never_exceed_max_in_flight(scenario):
    spec, policy, world, previous, now = scenario
    result = run(spec, policy, world, previous, now)
    desired = result.status.desired_replicas or 0
    assert len(remediation_slots(result)) <= max_in_flight(policy, desired)


@PROPERTY_SETTINGS
@given(scenarios())
def test_no_remediation_while_remediation_is_not_allowed(scenario):
    spec, policy, world, previous, now = scenario
    result = run(spec, policy, world, previous, now)
    allowed = next(c for c in result.status.conditions if c.type == "RemediationAllowed")
    if allowed.status == "False":
        assert remediation_slots(result) == set()
        assert not [a for a in result.actions if isinstance(a, Terminate) and a.reason.startswith("Replaced")]


@PROPERTY_SETTINGS
@given(scenarios())
def test_launches_never_double_up_a_slot(scenario):
    spec, policy, world, previous, now = scenario
    result = run(spec, policy, world, previous, now)
    launches = [a for a in result.actions if isinstance(a, Launch)]
    assert len(launches) <= 5
    assert all(count == 1 for count in Counter(a.slot for a in launches).values())
    for launch in launches:
        attempts_seen = [n.attempt for n in world if n.slot == launch.slot]
        live = [n.attempt for n in world if n.slot == launch.slot and n.state not in ("shutting-down", "terminated")]
        if live:  # only a replacement, with a newer attempt than anything in that slot
            assert launch.replaces is not None
            assert launch.attempt > max(attempts_seen)
        assert len(launch.client_token) <= 64
    assert len({(i.slot) for i in result.status.pending_launches}) == len(result.status.pending_launches)


@PROPERTY_SETTINGS
@given(scenarios())
def test_dry_run_never_acts_nor_counts_attempts(scenario):
    spec, policy, world, previous, now = scenario
    dry = policy.model_copy(update={"mode": "DryRun"})
    result = run(spec, dry, world, previous, now)
    assert not [a for a in result.actions if a.kind in MUTATING_KINDS]
    before = {r.instance_id: r.attempts for r in previous.instances}
    assert all(r.attempts == before.get(r.instance_id, 0) for r in result.status.instances)
    assert result.status.next_slot >= previous.next_slot


@PROPERTY_SETTINGS
@given(scenarios())
def test_plan_is_deterministic_pure_and_next_check_is_ahead(scenario):
    spec, policy, world, previous, now = scenario
    frozen = previous.model_dump()
    first = run(spec, policy, world, previous, now)
    second = run(spec, policy, world, previous, now)
    assert first == second
    assert previous.model_dump() == frozen  # the input is not modified
    assert now < first.next_check_at <= now + timedelta(seconds=10)  # the api probe's default interval


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 7), nodes(healthy=True, max_size=9))
def test_replicas_converge_in_a_healthy_world(desired, initial):
    """Apply every action to a toy EC2 (idempotent on client token) until a pass does nothing."""
    spec, policy = make_spec(desired), make_policy()
    world = {n.iid: n for n in initial}
    status = Judge0FleetStatus()
    now = T0
    for _ in range(40):
        result = plan(spec, policy, seen(now, world.values()), status, now, fleet_uid=UID, generation=1)
        if not result.actions:
            break
        outcomes = []
        for action in result.actions:
            if isinstance(action, Launch):
                iid = f"i-{action.client_token[3:15]}"
                world.setdefault(
                    iid,
                    Node(iid, slot=action.slot, attempt=action.attempt, zone=action.zone[-1], launched=now),
                )
                outcomes.append(ActionOutcome(action, ok=True, instance_id=iid, zone=action.zone))
            else:
                if isinstance(action, Terminate):
                    world.pop(action.instance_id, None)
                outcomes.append(ActionOutcome(action, ok=True))
        status, _ = record_outcomes(result.status, outcomes, now, generation=1)
        now += timedelta(seconds=30)
    else:
        raise AssertionError("the fleet never settled")
    assert len(world) == desired
    assert sorted(n.slot for n in world.values()) == sorted({n.slot for n in world.values()})
    assert result.status.pending_launches == []
    assert result.status.healthy_replicas == desired


FAULTS = {
    "api-down": {"api": False},
    "api-up": {"api": True},
    "workers-empty": {"workers": None},
    "system-impaired": {"system_check": "impaired"},
    "instance-impaired": {"instance_check": "impaired"},
    "stopped": {"state": "stopped", "ec2": False},
    "retirement": {"events": ("instance-retirement",)},
    "healed": {
        "api": True,
        "workers": True,
        "system_check": "ok",
        "instance_check": "ok",
        "state": "running",
        "ec2": True,
        "events": (),
    },
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(1, 6), policies)
def test_invariants_hold_pass_after_pass_in_a_faulty_world(data, desired, policy):
    """Faults come and go while actions are applied to a toy EC2; every pass keeps the safety rules."""
    spec = make_spec(desired)
    world: dict[str, Node] = {}
    status = Judge0FleetStatus()
    now = T0
    for _ in range(15):
        for iid in sorted(world):
            if data.draw(st.integers(0, 5)) == 0:
                fault = data.draw(st.sampled_from(sorted(FAULTS)))
                world[iid] = world[iid].but(probed_at=now, **FAULTS[fault])
        result = plan(spec, policy, seen(now, world.values()), status, now, fleet_uid=UID, generation=1)
        desired_now = result.status.desired_replicas or 0
        assert len(remediation_slots(result)) <= max_in_flight(policy, desired_now)
        allowed = next(c for c in result.status.conditions if c.type == "RemediationAllowed")
        if allowed.status == "False":
            assert remediation_slots(result) == set()
        launches = [a for a in result.actions if isinstance(a, Launch)]
        assert len({a.slot for a in launches}) == len(launches) <= 5
        for launch in launches:
            live = [n.attempt for n in world.values() if n.slot == launch.slot]
            assert not live or (launch.replaces is not None and launch.attempt > max(live))
        assert now < result.next_check_at
        outcomes = []
        for action in result.actions:
            if isinstance(action, Launch):
                iid = f"i-{action.client_token[3:15]}"
                world.setdefault(
                    iid,
                    Node(
                        iid,
                        slot=action.slot,
                        attempt=action.attempt,
                        zone=action.zone[-1],
                        launched=now,
                        probed_at=now,
                    ),
                )
                outcomes.append(ActionOutcome(action, ok=True, instance_id=iid, zone=action.zone))
            else:
                if isinstance(action, Terminate):
                    world.pop(action.instance_id, None)
                elif action.kind == "Start":
                    world[action.instance_id] = world[action.instance_id].but(
                        state="running", ec2=True, launched=now, probed_at=now
                    )
                outcomes.append(ActionOutcome(action, ok=True))
        status, _ = record_outcomes(result.status, outcomes, now, generation=1)
        now = max(result.next_check_at, now + timedelta(seconds=data.draw(st.sampled_from([10, 60, 400]))))
