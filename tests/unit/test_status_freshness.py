"""A pass plans from the newest status it knows, and a status write the API refuses defers only
the actions whose intent must be recorded first (controller/freshness.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from judge0_operator.api.fleet_status import Judge0FleetStatus, LaunchIntent
from judge0_operator.controller.freshness import (
    StatusKeeper,
    deferred_outcome,
    split_for_write,
    status_patch,
    write_status,
)
from judge0_operator.decide.model import Launch, RestartJudge0, Terminate
from judge0_operator.decide.plan import record_outcomes

KEY = ("ns", "fleet")
NOW = datetime(2025, 1, 1, 12, tzinfo=UTC)


def body(rv: int, uid: str = "u1", next_slot: int = 0, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "fleet",
            "namespace": "ns",
            "uid": uid,
            "resourceVersion": str(rv),
            "generation": generation,
        },
        "spec": {"replicas": generation},
        "status": {"nextSlot": next_slot},
    }


class FakeKube:
    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.patches: list[dict[str, Any]] = []

    async def patch_fleet_status(self, namespace: str, name: str, status: dict[str, Any]) -> Any:
        self.patches.append(status)
        answer = self.answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer


class ApiError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")
        self.status, self.headers, self.reason = status, headers or {}, "x"


def test_the_watch_is_used_when_it_is_as_new_as_our_write() -> None:
    keeper = StatusKeeper()
    keeper.written(KEY, body(5, next_slot=3))
    view = keeper.view(KEY, body(7, next_slot=4))
    assert (view.source, view.status["nextSlot"]) == ("watch", 4)


def test_our_own_write_wins_over_a_lagging_watch_event() -> None:
    keeper = StatusKeeper()
    keeper.written(KEY, body(9, next_slot=3, generation=2))
    view = keeper.view(KEY, body(6, next_slot=1))
    assert (view.source, view.status["nextSlot"], view.generation, view.spec) == ("write", 3, 2, {"replicas": 2})


def test_a_fleet_created_again_under_the_same_name_starts_afresh() -> None:
    keeper = StatusKeeper()
    keeper.written(KEY, body(90, uid="old", next_slot=8))
    view = keeper.view(KEY, body(3, uid="new", next_slot=0))
    assert (view.source, view.status["nextSlot"]) == ("watch", 0)


def test_an_unwritten_status_wins_until_it_is_written() -> None:
    keeper = StatusKeeper()
    keeper.not_written(KEY, "u1", {"nextSlot": 6})
    assert keeper.pending(KEY)
    assert keeper.view(KEY, body(4, next_slot=2)).status == {"nextSlot": 6}
    keeper.written(KEY, body(5, next_slot=6))
    assert not keeper.pending(KEY)
    assert keeper.view(KEY, body(4, next_slot=2)).source == "write"


def test_patch_deletes_fields_the_api_may_still_hold() -> None:
    patch = status_patch(Judge0FleetStatus(next_slot=2), {"awsError", "nextSlot"})
    assert patch["awsError"] is None and patch["nextSlot"] == 2


async def test_a_write_that_lands_is_kept_with_what_the_api_returned() -> None:
    keeper, kube = StatusKeeper(), FakeKube(body(11, next_slot=5))
    assert await write_status(kube, keeper, KEY, "u1", Judge0FleetStatus(next_slot=5), ())  # type: ignore[arg-type]
    assert keeper.view(KEY, body(10)).status["nextSlot"] == 5


@pytest.mark.parametrize("code", [409, 429, 503])
async def test_a_refused_write_is_tried_once_more(code: int) -> None:
    keeper, kube = StatusKeeper(), FakeKube(ApiError(code, {"Retry-After": "0"}), body(3))
    assert await write_status(kube, keeper, KEY, "u1", Judge0FleetStatus(), ())  # type: ignore[arg-type]
    assert len(kube.patches) == 2


async def test_an_unreachable_api_keeps_the_status_unwritten() -> None:
    keeper, kube = StatusKeeper(), FakeKube(ConnectionResetError("reset"))
    status = Judge0FleetStatus(next_slot=7)
    assert not await write_status(kube, keeper, KEY, "u1", status, ())  # type: ignore[arg-type]
    assert keeper.pending(KEY)
    assert keeper.view(KEY, body(1)).status["nextSlot"] == 7
    assert len(kube.patches) == 1, "a connection error is not retried within the pass"


def launch(slot: str = "s0") -> Launch:
    return Launch(slot, 1, "tok", "subnet-1", "z1", "t3.small", "on-demand", "ScaleUp: x")


def test_without_a_written_intent_only_actions_needing_none_run() -> None:
    actions = [launch(), Terminate("i-1", "ScaleDown: x"), RestartJudge0("i-2", "Remediation: x")]
    assert split_for_write(actions, True) == (actions, [])
    run, deferred = split_for_write(actions, False)
    assert [a.kind for a in run] == ["RestartJudge0"]
    assert [a.kind for a in deferred] == ["Launch", "Terminate"]


def test_a_deferred_launch_keeps_its_intent_and_token_for_the_next_pass() -> None:
    intent = LaunchIntent(
        slot="s0", attempt=1, client_token="tok", subnet_id="subnet-1", requested_at="2025-01-01T12:00:00Z"
    )
    status = Judge0FleetStatus(pending_launches=[intent])
    after, _ = record_outcomes(status, [deferred_outcome(launch())], NOW, generation=1)
    assert after.pending_launches == [intent]


async def test_a_fleet_gone_behind_our_back_says_so_and_is_forgotten() -> None:
    from judge0_operator.controller.freshness import FleetGone

    keeper, kube = StatusKeeper(), FakeKube(ApiError(404))
    keeper.not_written(KEY, "u1", {"nextSlot": 1})
    with pytest.raises(FleetGone):
        await write_status(kube, keeper, KEY, "u1", Judge0FleetStatus(), ())  # type: ignore[arg-type]
    assert not keeper.pending(KEY)


def test_an_action_still_requested_when_a_pass_starts_was_interrupted() -> None:
    from judge0_operator.api.fleet_status import ActionRecord
    from judge0_operator.controller.freshness import settle_interrupted

    status = Judge0FleetStatus(
        last_actions=[
            ActionRecord(time="2025-01-01T12:00:00Z", instance_id="i-1", action="Terminate", outcome="Requested"),
            ActionRecord(time="2025-01-01T12:00:00Z", instance_id="i-2", action="Terminate", outcome="Succeeded"),
            ActionRecord(time="2025-01-01T12:00:00Z", instance_id="i-3", action="Terminate", outcome="DryRun"),
        ]
    )
    assert [r.outcome for r in settle_interrupted(status).last_actions] == ["Interrupted", "Succeeded", "DryRun"]
    untouched = Judge0FleetStatus()
    assert settle_interrupted(untouched) is untouched
