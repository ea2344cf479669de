"""The chaos invariants judged from the world's records (chaos/ledger.py), on plain data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from judge0_operator.chaos import ledger
from judge0_operator.chaos.report import Row, crash_points_swept, rows
from judge0_operator.chaos.runs import RunResult, RunSpec

T0 = datetime(2025, 3, 1, 12, tzinfo=UTC)
UID = "uid-1"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record(
    instance_id: str,
    slot: str,
    attempt: int,
    launched: float,
    ended: float | None = None,
    *,
    uid: str = UID,
    state: str | None = None,
    calls: list[tuple[float, str]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    history = [{"at": at(launched), "state": "pending", "cause": "RunInstances"}]
    if ended is not None:
        history.append({"at": at(ended), "state": "shutting-down", "cause": "TerminateInstances"})
    return {
        "id": instance_id,
        "state": state or ("shutting-down" if ended is not None else "running"),
        "tags": {ledger.TAG_FLEET_UID: uid, ledger.TAG_SLOT: slot, ledger.TAG_ATTEMPT: str(attempt)},
        "history": history,
        "calls": [{"at": at(t), "action": a, "outcome": "ok"} for t, a in calls],
    }


def epoch(seconds: float) -> float:
    return (T0 + timedelta(seconds=seconds)).timestamp()


def test_a_duplicate_terminated_within_the_bound_is_only_an_extra_launch() -> None:
    lives = ledger.lives([record("i-a", "s0", 0, 0), record("i-b", "s0", 0, 1, ended=4)])
    verdict = ledger.duplicates(lives, UID, now=epoch(30), bound=5)
    assert (verdict.extra_launches, verdict.lasting) == (1, [])


def test_a_duplicate_left_alive_beyond_the_bound_is_a_violation() -> None:
    lives = ledger.lives([record("i-a", "s0", 0, 0), record("i-b", "s0", 0, 1, ended=9)])
    verdict = ledger.duplicates(lives, UID, now=epoch(30), bound=5)
    assert verdict.extra_launches == 1
    assert len(verdict.lasting) == 1 and "i-a" in verdict.lasting[0] and "i-b" in verdict.lasting[0]


def test_time_hidden_by_eventual_consistency_or_with_the_operator_down_does_not_count() -> None:
    records = [record("i-a", "s0", 0, 0), record("i-b", "s0", 0, 1, ended=12)]
    hidden = ledger.lives(records, {"i-b": epoch(8)})  # tags visible only at 8 s
    assert ledger.duplicates(hidden, UID, now=epoch(30), bound=5).lasting == []
    lives = ledger.lives(records)
    down = [(epoch(2), epoch(9))]  # the operator was dead 2 s .. 9 s
    assert ledger.duplicates(lives, UID, now=epoch(30), bound=5, downtime=down).lasting == []


def test_a_replacement_is_not_a_duplicate() -> None:
    lives = ledger.lives([record("i-a", "s0", 0, 0, ended=20), record("i-b", "s0", 1, 5)])
    assert ledger.duplicates(lives, UID, now=epoch(30), bound=5) == ledger.DuplicateVerdict(0, [])


def test_other_fleets_are_not_judged() -> None:
    lives = ledger.lives([record("i-a", "s0", 0, 0, uid="other"), record("i-b", "s0", 0, 0, uid="other")])
    assert ledger.duplicates(lives, UID, now=epoch(30), bound=5).extra_launches == 0


def test_leaks_are_live_unowned_and_old_enough() -> None:
    lives = ledger.lives(
        [
            record("i-owned", "s0", 0, 0),
            record("i-leak", "s1", 0, 0),
            record("i-young", "s2", 0, 28),
            record("i-gone", "s3", 0, 0, ended=10),
        ]
    )
    found = ledger.leaks(lives, UID, {"i-owned"}, now=epoch(30), bound=5)
    assert len(found) == 1 and found[0].startswith("i-leak")


def test_remediation_inside_a_safety_stop_is_found_and_outside_is_not() -> None:
    records = [record("i-a", "s0", 0, 0, calls=[(12, "SendCommand"), (40, "RebootInstances"), (13, "DescribeX")])]
    records[0]["calls"].append({"at": at(14), "action": "SendCommand", "comment": "judge0-operator disk probe"})
    found = ledger.remediation_during(records, UID, [(epoch(10), epoch(20))])
    assert len(found) == 1 and "SendCommand" in found[0] and "+2.0s" in found[0]


def result(row: str, *, converged: bool = True, extra: int = 0, crash: tuple[str, int] | None = None) -> RunResult:
    out = RunResult(RunSpec(row, "scale-up", crash=crash), converged=converged, seconds=3.0, extra_launches=extra)
    out.crash_fired = crash is not None
    return out


def test_rows_sum_runs_and_fail_when_one_run_did_not_converge() -> None:
    table = rows([result("a"), result("a", extra=2), result("b", converged=False)])
    by = {r.label: r for r in table}
    assert (by["a"].runs, by["a"].converged, by["a"].extra_launches, by["a"].ok) == (2, 2, 2, True)
    assert not by["b"].ok
    assert isinstance(by["a"], Row)


def test_crash_points_swept_counts_distinct_points_that_fired() -> None:
    runs = [
        result("c", crash=("RunInstances", 1)),
        result("c", crash=("RunInstances", 1)),
        result("c", crash=("RunInstances", 2)),
    ]
    assert crash_points_swept(runs) == 2


def test_the_sweep_covers_every_cloud_call_in_every_mode_and_status_writes_up_to_the_cap() -> None:
    from judge0_operator.chaos.plan import crash_runs
    from judge0_operator.chaos.runs import MODES

    counts = {"RunInstances": 2, "kube:judge0fleets/status": 9, "kube:judge0fleets": 3, "DescribeInstances": 7}
    runs = crash_runs("scale-up", counts, max_status_nth=4)
    launches = [r for r in runs if r.crash and r.crash[0] == "RunInstances"]
    assert sorted({(r.crash[1], r.mode) for r in launches if r.crash}) == sorted((n, m) for n in (1, 2) for m in MODES)
    writes = [r for r in runs if r.crash and r.crash[0] == "kube:judge0fleets/status"]
    assert sorted({r.crash[1] for r in writes if r.crash}) == [1, 2, 3, 4]
    assert not [r for r in runs if r.crash and r.crash[0] in ("kube:judge0fleets", "DescribeInstances")]
    deletion = crash_runs("deletion", counts, max_status_nth=4)
    assert {r.crash[1] for r in deletion if r.crash and r.crash[0] == "kube:judge0fleets"} == {1, 2, 3}


def test_every_other_kind_of_call_is_swept_up_to_its_cap_with_tokens_on() -> None:
    from judge0_operator.chaos.plan import NO_LAUNCH_MODES, crash_runs

    counts = {"SendCommand": 3, "RegisterTargets": 2, "kube:endpointslices": 5, "TerminateInstances": 2}
    runs = crash_runs("remediation", counts, max_status_nth=4, max_other_nth=2)
    by_point: dict[str, set[tuple[int, str]]] = {}
    for r in runs:
        if r.crash:
            by_point.setdefault(r.crash[0], set()).add((r.crash[1], r.mode))
    for point in ("SendCommand", "RegisterTargets", "kube:endpointslices"):
        assert by_point[point] == {(n, m) for n in (1, 2) for m in NO_LAUNCH_MODES}, point
    assert len(by_point["TerminateInstances"]) == 2 * 4, "every termination, in all four modes"


def test_the_markdown_table_has_a_row_per_label_with_its_figures() -> None:
    from judge0_operator.chaos.report import render_markdown

    runs = [result("crash: scale-up, after RunInstances", crash=("RunInstances", n)) for n in (1, 2, 3)]
    runs.append(result("lost | answers", converged=False))
    text = render_markdown(rows(runs), runs, elapsed=120.0, machine="2 cores")
    body = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert body[0].startswith("| crash: scale-up, after RunInstances (#1 to #3) | tokens-on | 3 | 3 | 3.0 | 0 |")
    assert body[1].startswith("| lost \\| answers | tokens-on | 1 | 0 | — |")
    assert "4 runs, 3 crash points swept, 3 converged, 1 failed, 2 min on 2 cores." in text
