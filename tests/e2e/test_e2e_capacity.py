"""Issue 7 end to end: the real operator sizes and refreshes fleets in the simulated world.

Queue autoscaling, a schedule window, a rolling instance refresh and spot fallback. The schedule
window opens at a real minute boundary (the operator reads the machine's clock), so its fleet is
created when the module starts and watched in the background while the other tests run; its
test, the last one, judges what was recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from e2e_support import E2E, OperatorHandle, actions, condition, is_ready

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(150)]

EXAM_NAMESPACE = "e2e-exam-window"
EXAM_LEAD_SECONDS = 10  # the window opens at the first minute boundary at least this far ahead


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_queue_burst_scales_up_then_back_down_after_the_window(e2e: E2E) -> None:
    stabilization = 5
    scaling = {
        "minReplicas": 2,
        "maxReplicas": 4,
        "queue": {"targetBacklogPerWorker": 2},
        "scaleDownStabilizationSeconds": stabilization,
    }
    _, ids = e2e.ready_fleet(replicas=2, scaling=scaling)
    high: list[datetime] = []  # when the operator recommended more than the base count

    def note(fleet: dict[str, Any]) -> None:
        for item in (fleet["status"].get("scaling") or {}).get("recommendations") or []:
            if item["replicas"] > 2:
                high.append(parse_time(item["time"]))

    def scaled_up(fleet: dict[str, Any]) -> bool:
        for iid in ids:  # keep every node's queue deep (not full: 60 of 100) until the operator reacts
            e2e.control.post("/load", {"target": iid, "jobs": 60})
        note(fleet)
        return (fleet["status"].get("desiredReplicas") or 0) > 2

    burst = e2e.wait_fleet(scaled_up, timeout=20, interval=0.3, what="a scale-up under queue load")
    why = burst["status"]["scaling"]
    # The backlog recommends more; "Max" when maxReplicas clamps that recommendation.
    assert why["reason"] in ("QueueBacklog", "Max") and why["backlogPerWorker"] > 2, why
    assert max(r["replicas"] for r in why["recommendations"]) > 2, why
    assert burst["status"]["desiredReplicas"] <= 4

    peak: list[int] = []

    def back_down(fleet: dict[str, Any]) -> bool:
        note(fleet)
        status = fleet["status"]
        peak.append(len(e2e.instances()))
        done = status.get("desiredReplicas") == 2 and len(status["instances"]) == 2 and is_ready(fleet)
        return done and peak[-1] == 2

    fleet = e2e.wait_fleet(back_down, timeout=40, what="back to 2 replicas after the stabilisation window")
    assert max(peak) > 2, f"the fleet should have grown before shrinking: {peak}"
    assert max(peak) <= 4
    ups = [a for a in actions(fleet, "Launch") if a["reason"].startswith("ScaleUp") and a["instanceId"] not in ids]
    assert ups, actions(fleet)
    downs = [a for a in actions(fleet, "Terminate") if a["reason"].startswith("ScaleDown")]
    assert downs, actions(fleet)
    # The stabilisation window: no scale-down while a higher recommendation is younger than it.
    first_down = min(parse_time(a["time"]) for a in downs)
    assert high and first_down >= max(high) + timedelta(seconds=stabilization - 1), (first_down, max(high))
    reasons = e2e.event_reasons()
    assert "ScalingUp" in reasons and "ScalingDown" in reasons, reasons
    # Scale-in removes the newer, idle instances, not the original ones.
    assert sorted(i["id"] for i in e2e.instances()) == ids


def test_instance_type_change_rolls_every_instance_within_the_limits(e2e: E2E) -> None:
    fleet, old_ids = e2e.ready_fleet(replicas=3, rollout={"maxSurge": 1, "maxUnavailable": 0})
    old_hash = fleet["status"]["templateHash"]
    e2e.patch_fleet_spec("fleet", {"instance": {"instanceType": "t3.medium"}})

    live_counts: list[int] = []
    healthy_counts: list[int] = []

    def rolled(fleet: dict[str, Any]) -> bool:
        live = [i for i in e2e.instances() if i["state"] in ("pending", "running")]
        live_counts.append(len(live))
        status = fleet["status"]
        healthy = [r for r in status.get("instances", []) if r["health"] == "Healthy" and r["state"] == "running"]
        if status.get("observedGeneration") == fleet["metadata"]["generation"]:
            healthy_counts.append(len(healthy))
        done = status.get("updatedReplicas") == 3 and status.get("outdatedReplicas") == 0 and is_ready(fleet)
        return done and len(status["instances"]) == 3

    fleet = e2e.wait_fleet(rolled, timeout=60, interval=0.15, what="every instance rolled to t3.medium")

    assert max(live_counts) <= 3 + 1, f"never more than desired + maxSurge live: {live_counts}"
    assert max(live_counts) == 4, "the rollout should use its surge (launch first)"
    assert min(healthy_counts) >= 3 - 0, f"never fewer healthy than desired - maxUnavailable: {healthy_counts}"
    assert fleet["status"]["templateHash"] != old_hash
    live = e2e.instances()
    assert len(live) == 3 and all(i["instanceType"] == "t3.medium" for i in live)
    assert not {i["id"] for i in live} & set(old_ids), "every old instance was replaced"
    assert sorted(i["tags"]["judge0.dev/slot"] for i in live) == ["s0", "s1", "s2"]
    assert condition(fleet, "Available")["status"] == "True"
    assert "RollingOut" in e2e.event_reasons()


@pytest.mark.parametrize(
    ("case", "fault_zones", "fault_params", "fallbacks"),
    [
        ("fallback-type", "all", {"market": "spot", "instanceTypes": ["t3.small"]}, ["t3.medium"]),
        ("other-zone", "first", {"market": "spot"}, []),
        ("on-demand", "all", {"market": "spot"}, []),
    ],
)
def test_spot_capacity_errors_fall_back_as_specified(
    e2e: E2E, case: str, fault_zones: str, fault_params: dict[str, Any], fallbacks: list[str]
) -> None:
    zones = e2e.zones if fault_zones == "all" else e2e.zones[:1]
    for zone in zones:
        e2e.fault(f"zone:{zone}", "capacity-error", **fault_params)
    e2e.apply_policy()
    e2e.apply_fleet(replicas=2, instance={"market": "Spot", "fallbackInstanceTypes": fallbacks})
    fleet = e2e.wait_ready(timeout=40)

    live = e2e.instances()
    assert len(live) == 2
    if case == "fallback-type":
        assert all(i["market"] == "spot" and i["instanceType"] == "t3.medium" for i in live), live
    elif case == "other-zone":
        assert all(i["market"] == "spot" and i["instanceType"] == "t3.small" for i in live), live
        assert not [i for i in live if i["zone"] == zones[0]], "nothing lands in the zone without capacity"
    else:
        assert all(i["market"] == "on-demand" and i["instanceType"] == "t3.small" for i in live), live
    exhausted = fleet["status"]["exhaustedOfferings"]
    assert exhausted and all(o["market"] == "spot" for o in exhausted), exhausted
    assert {o["zone"] for o in exhausted} <= set(zones)
    assert "CapacityExhausted" in e2e.event_reasons()


def test_spot_interruption_notice_triggers_a_launch_first_replacement(e2e: E2E) -> None:
    _, ids = e2e.ready_fleet(replicas=2, instance={"market": "Spot"})
    victim = ids[0]
    slot = e2e.control.instance(victim)["tags"]["judge0.dev/slot"]
    e2e.fault(victim, "spot-interruption", noticeSeconds=400)  # terminated by EC2 in 20 s (speed 20)

    fleet = e2e.wait_fleet(
        lambda f: victim not in {r["instanceId"] for r in f["status"]["instances"]} and is_ready(f),
        timeout=30,
        what=f"{victim} replaced ahead of its interruption",
        sample_world=True,
    )

    launches = [a for a in actions(fleet, "Launch") if a["slot"] == slot and a["reason"].startswith("Remediation")]
    assert len(launches) == 1, actions(fleet)
    new_id = launches[0]["instanceId"]
    ended = actions(fleet, "Terminate", victim)
    assert len(ended) == 1 and ended[0]["reason"].startswith(f"Replaced: replacement {new_id} is healthy"), ended
    history = e2e.seen[victim]["history"]
    assert not [h for h in history if "SpotInstanceTermination" in str(h.get("cause"))], "the operator got there first"
    live = e2e.instances()
    assert len(live) == 2 and all(i["market"] == "spot" for i in live)
    assert not {"RestartJudge0", "RebootInstance"} & {a["action"] for a in actions(fleet)}


# --- the schedule window: created at module start, judged last ------------------------------------
@dataclass
class ExamWindow:
    """A fleet of 1 whose schedule raises the floor to 3 at ``opens``; its status sampled meanwhile."""

    helper: E2E
    opens: datetime
    samples: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[str] = field(default_factory=list)

    def run(self) -> None:
        while not self.stop.wait(0.5):
            try:
                fleet = self.helper.fleet_or_none()
            except Exception as error:
                self.errors.append(repr(error))
                continue
            if fleet is not None and fleet.get("status"):
                self.samples.append((time.time(), fleet["status"]))


@pytest.fixture(scope="module", autouse=True)
def exam_window(e2e_world: Any, e2e_kube: Any, e2e_operator: OperatorHandle) -> Iterator[ExamWindow]:
    helper = E2E(e2e_world, e2e_kube, e2e_operator, EXAM_NAMESPACE)
    soon = datetime.now(UTC) + timedelta(seconds=EXAM_LEAD_SECONDS)
    opens = soon.replace(second=0, microsecond=0) + timedelta(minutes=1)
    helper.apply_policy()
    helper.apply_fleet(
        replicas=1,
        scaling={
            "minReplicas": 1,
            "maxReplicas": 4,
            "schedules": [
                {
                    "name": "exam",
                    "cron": f"{opens.minute} {opens.hour} * * *",
                    "timeZone": "UTC",
                    "durationSeconds": 300,
                    "minReplicas": 3,
                }
            ],
        },
    )
    window = ExamWindow(helper, opens)
    sampler = threading.Thread(target=window.run, name="exam-window-sampler", daemon=True)
    sampler.start()
    yield window
    window.stop.set()
    sampler.join(5)
    helper.cleanup()


def test_schedule_window_raises_the_floor_at_its_time(exam_window: ExamWindow) -> None:
    e2e, opens = exam_window.helper, exam_window.opens
    stamp = opens.strftime("%Y-%m-%dT%H:%M:%SZ")
    wait = (opens - datetime.now(UTC)).total_seconds()
    if wait > 0:
        time.sleep(wait)
    fleet = e2e.wait_fleet(
        lambda f: f["status"].get("desiredReplicas") == 3 and f["status"].get("healthyReplicas") == 3,
        timeout=30,
        what="three healthy instances once the window opened",
    )

    before = [s for t, s in exam_window.samples if t < opens.timestamp()]
    assert before, f"the fleet was never observed before the window opened: {exam_window.errors}"
    assert all(s.get("desiredReplicas") == 1 for s in before), [s.get("scaling") for s in before]
    assert before[-1]["scaling"]["nextWindowAt"] == stamp, before[-1]["scaling"]
    scaling = fleet["status"]["scaling"]
    assert scaling["activeWindow"] == "exam" and "exam" in scaling["reason"], scaling
    assert fleet["metadata"]["generation"] == 1 and fleet["spec"]["replicas"] == 1, "the spec was never edited"
    assert len(e2e.instances()) == 3
    ups = [e for e in e2e.events() if e["reason"] == "ScalingUp"]
    assert any("exam" in e["message"] for e in ups), ups
