"""The diagnosis table: every failure of judge0-failures.md, as the probes report it, names its cause.

Each row is evidence the way ``observe/`` records it (status codes, bodies, Judge0 status and message,
EC2 checks), and the diagnosis ``decide.diagnosis.diagnose`` must derive from it, with the traits the
ladder then follows. Rows are written from the failure table, not from the code's output.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from judge0_operator.api.fleet_status import SignalStatus
from judge0_operator.decide.diagnosis import DIAGNOSES, TRAITS, diagnose
from judge0_operator.decide.model import Ec2Health, Ec2Instance, InstanceObservation, ProbeResult, ScheduledEvent

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
ISOLATE = "No such file or directory @ rb_sysopen - /box/script.py"


def probe(signal: str, ok: bool | None = True, **evidence: Any) -> ProbeResult:
    return ProbeResult(signal=signal, ok=ok, observed_at=NOW, **evidence)  # type: ignore[arg-type]


HEALTHY = {
    "api": probe("api", http_status=200, version="1.13.1", detail="version 1.13.1"),
    "workers": probe("workers", http_status=200, available_workers=4, queue_size=0),
    "canary": probe("canary", stage="poll", http_status=200, judge0_status=3),
}


def observation(
    *,
    state: str = "running",
    checks: tuple[str, str] = ("ok", "ok"),
    events: tuple[str, ...] = (),
    **probes: ProbeResult,
) -> InstanceObservation:
    instance = Ec2Instance(
        instance_id="i-0abc",
        state=state,
        zone="eu-west-1a",
        subnet_id="subnet-1",
        instance_type="c6i.large",  # type: ignore[arg-type]
        launch_time=NOW,
    )
    ec2 = Ec2Health(
        instance_status=checks[0],  # type: ignore[arg-type]
        system_status=checks[1],  # type: ignore[arg-type]
        events=tuple(ScheduledEvent(code=c) for c in events),
    )
    return InstanceObservation(instance=instance, ec2=ec2, probes={**HEALTHY, **probes})


def signals_of(seen: InstanceObservation, disk: bool = False) -> dict[str, SignalStatus]:
    out = {
        name: SignalStatus(
            status="Healthy" if p.ok is not False else "Unhealthy", since="t", bad=p.ok is False, detail=p.detail
        )
        for name, p in seen.probes.items()
    }
    if disk:
        out["disk"] = SignalStatus(
            status="Unhealthy", since="t", bad=True, detail="data volume /var/lib/docker 93% used"
        )
    return out


ROWS: list[tuple[str, InstanceObservation, str, bool]] = [
    # (row, evidence, diagnosis, disk pressure)
    (
        "1 broken sandbox",
        observation(
            canary=probe("canary", False, stage="poll", http_status=200, judge0_status=13, judge0_message=ISOLATE)
        ),
        "SandboxBroken",
        False,
    ),
    (
        "2 dead workers",
        observation(workers=probe("workers", False, http_status=200, available_workers=0, queue_size=7)),
        "WorkersStuck",
        False,
    ),
    (
        "2 canary never picked up",
        observation(
            canary=probe(
                "canary", False, stage="poll", http_status=200, judge0_status=1, detail="not finished (last: In Queue)"
            )
        ),
        "WorkersStuck",
        False,
    ),
    (
        "3 stuck Processing",
        observation(canary=probe("canary", False, stage="poll", http_status=200, judge0_status=2)),
        "WorkersStuck",
        False,
    ),
    (
        "4 Redis down",
        observation(
            workers=probe("workers", False, http_status=500),
            canary=probe("canary", False, stage="submit", http_status=500),
        ),
        "RedisDown",
        False,
    ),
    (
        "6 Postgres down (submit)",
        observation(canary=probe("canary", False, stage="submit", http_status=500)),
        "DatabaseDown",
        False,
    ),
    (
        "6 Postgres down (result read)",
        observation(canary=probe("canary", False, stage="poll", http_status=500, judge0_status=1)),
        "DatabaseDown",
        False,
    ),
    (
        "7 queue full",
        observation(
            canary=probe(
                "canary", None, stage="submit", http_status=503, judge0_message="queue is full", saturated=True
            )
        ),
        "QueueSaturated",
        False,
    ),
    (
        "7 busy, not broken",
        observation(
            canary=probe(
                "canary",
                None,
                stage="poll",
                http_status=200,
                judge0_status=1,
                detail="not finished: busy (40 queued for 4 workers), not broken",
            )
        ),
        "QueueSaturated",
        False,
    ),
    (
        "maintenance",
        observation(
            canary=probe(
                "canary", None, stage="submit", http_status=503, judge0_message="Judge0 is currently in maintenance."
            )
        ),
        "Maintenance",
        False,
    ),
    ("8 disk pressure", observation(), "DiskPressure", True),
    (
        "8 full disk takes Postgres down",
        observation(canary=probe("canary", False, stage="submit", http_status=500)),
        "DiskPressure",
        True,
    ),
    (
        "9 token rejected",
        observation(api=probe("api", False, http_status=401), workers=probe("workers", False, http_status=401)),
        "AuthRejected",
        False,
    ),
    ("9 IP filtered", observation(api=probe("api", False, http_status=403)), "AuthRejected", False),
    (
        "web process down",
        observation(api=probe("api", False, no_answer="refused"), workers=probe("workers", False, no_answer="refused")),
        "WebDown",
        False,
    ),
    ("web process hung", observation(api=probe("api", False, no_answer="timeout")), "WebDown", False),
    (
        "web process 500",
        observation(api=probe("api", False, http_status=500), workers=probe("workers", False, http_status=500)),
        "WebDown",
        False,
    ),
    (
        "host silent",
        observation(checks=("insufficient-data", "ok"), api=probe("api", False, no_answer="timeout")),
        "Unreachable",
        False,
    ),
    (
        "impaired",
        observation(checks=("impaired", "ok"), api=probe("api", False, no_answer="timeout")),
        "Impaired",
        False,
    ),
    ("hardware", observation(checks=("ok", "impaired")), "Impaired", False),
    ("retirement", observation(events=("instance-retirement",)), "Retiring", False),
    ("stopped", observation(state="stopped"), "Stopped", False),
]


@pytest.mark.parametrize(("row", "seen", "expected", "disk"), ROWS, ids=[r[0] for r in ROWS])
def test_each_failure_names_its_cause(row: str, seen: InstanceObservation, expected: str, disk: bool) -> None:
    found = diagnose(seen, signals_of(seen, disk))
    assert found is not None and found.name == expected, (row, found)
    assert found.evidence, "a diagnosis always says why"


def test_the_isolate_message_is_the_evidence_of_a_broken_sandbox() -> None:
    seen = observation(
        canary=probe("canary", False, stage="poll", http_status=200, judge0_status=13, judge0_message=ISOLATE)
    )
    found = diagnose(seen, signals_of(seen))
    assert found is not None and ISOLATE in found.evidence


def test_a_version_other_than_expected_is_a_mismatch_only_when_a_version_is_expected() -> None:
    seen = observation(
        api=probe("api", False, http_status=200, version="1.12.0", detail="version 1.12.0, expected 1.13.1")
    )
    found = diagnose(seen, signals_of(seen), expected_version="1.13.1")
    assert found is not None and found.name == "VersionMismatch"


def test_healthy_evidence_names_nothing_and_inconclusive_evidence_names_nothing() -> None:
    assert diagnose(observation(), signals_of(observation())) is None
    empty = observation(workers=probe("workers", None, http_status=200, detail="no queues yet ([] is inconclusive)"))
    assert diagnose(empty, signals_of(empty)) is None


def test_bad_evidence_no_rule_knows_is_unknown_with_the_signal_as_evidence() -> None:
    seen = observation(api=probe("api", False, http_status=200, detail="HTTP 200 but /about is not JSON"))
    found = diagnose(seen, signals_of(seen))
    assert found is not None and found.name == "Unknown" and "not JSON" in found.evidence


def test_the_traits_table_covers_every_diagnosis_and_says_what_must_never_act() -> None:
    assert set(TRAITS) == set(DIAGNOSES)
    never = {name for name, t in TRAITS.items() if not t.acts}
    assert never == {"AuthRejected", "Maintenance", "QueueSaturated"}
    assert {n for n, t in TRAITS.items() if t.configuration} == {"AuthRejected", "Maintenance"}
    components = {n: t.component for n, t in TRAITS.items() if t.component}
    assert components == {"WebDown": "server", "WorkersStuck": "workers", "RedisDown": "redis", "DatabaseDown": "db"}
    host = {n for n, t in TRAITS.items() if not t.restart_helps and not t.reboot_helps}
    assert {"SandboxBroken", "DiskPressure"} <= host
    assert TRAITS["DiskPressure"].cleanup_first


def test_the_precedence_puts_the_host_before_its_symptoms() -> None:
    """An impaired host that also fails every probe is Impaired, not WebDown; a full disk that kills
    Postgres is DiskPressure, not DatabaseDown; a wrong token answering 401 everywhere is AuthRejected."""
    broken = {
        "api": probe("api", False, no_answer="timeout"),
        "canary": probe("canary", False, stage="submit", http_status=500),
    }
    seen = observation(checks=("impaired", "ok"), **broken)
    assert diagnose(seen, signals_of(seen, disk=True)).name == "Impaired"  # type: ignore[union-attr]
    seen = observation(canary=broken["canary"])
    assert diagnose(seen, signals_of(seen, disk=True)).name == "DiskPressure"  # type: ignore[union-attr]
    seen = observation(api=probe("api", False, http_status=401), canary=replace(broken["canary"], http_status=401))
    assert diagnose(seen, signals_of(seen, disk=True)).name == "AuthRejected"  # type: ignore[union-attr]


def test_a_signal_bad_only_from_memory_names_nothing_new() -> None:
    """After a Redis restart /workers answers [] (inconclusive): the signal stays bad from memory, but
    that is no new cause (the planner keeps the diagnosis it had)."""
    seen = observation(workers=probe("workers", None, http_status=200, detail="no queues yet"))
    signals = signals_of(seen)
    signals["workers"] = SignalStatus(status="Unhealthy", since="t", bad=True, detail="no queues yet")
    assert diagnose(seen, signals) is None


def test_a_canary_that_got_no_answer_while_the_api_answers_again_names_nothing() -> None:
    seen = observation(canary=probe("canary", False, stage="submit", no_answer="refused", detail="submit: refused"))
    assert diagnose(seen, signals_of(seen)) is None


def test_a_probe_begun_before_the_last_action_is_stale_even_if_it_ended_after() -> None:
    started_before = replace(
        probe("canary", False, stage="submit", http_status=500), latency_seconds=4.0
    )  # observed at NOW, began 4 s earlier
    seen = observation(canary=started_before)
    assert diagnose(seen, signals_of(seen)).name == "DatabaseDown"  # type: ignore[union-attr]
    assert diagnose(seen, signals_of(seen), fresh_after=NOW - timedelta(seconds=2)) is None
