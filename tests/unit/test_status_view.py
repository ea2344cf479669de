"""``judge0-operator status`` as pure logic: fleet objects captured from the simulated world
(tests/fixtures/statuses/) turned into the summary, then drawn as plain text and for a terminal.

What must show is stated by the command's purpose, not copied from its output: a settled
fleet shows no conditions; a fleet in trouble shows exactly the conditions off their expected
status; every instance shows its zone, state, health and each signal with how long it has been
so (worked out here from the status's ``since``); plain output has no colour codes.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from judge0_operator.decide.timeutil import parse_time
from judge0_operator.status.cli import fetch_fleets, plugin_parser
from judge0_operator.status.render import plain_text, status_renderable
from judge0_operator.status.view import EXPECTED, fleet_view, fleet_views, humanize

CAPTURED = Path(__file__).resolve().parents[1] / "fixtures" / "statuses"


def captured(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((CAPTURED / f"{name}.json").read_text())
    return data


def pass_time(fleet: dict[str, Any], later: float = 0.0) -> datetime:
    moment = parse_time(fleet["status"]["lastPassAt"])
    assert moment is not None
    return moment + timedelta(seconds=later)


def off_expected(fleet: dict[str, Any]) -> set[tuple[str, str]]:
    return {(c["type"], c["status"]) for c in fleet["status"]["conditions"] if EXPECTED[c["type"]] != c["status"]}


@pytest.mark.parametrize("name", sorted(p.stem for p in CAPTURED.glob("*.json")))
def test_exactly_the_conditions_off_their_expected_status_are_shown(name: str) -> None:
    fleet = captured(name)
    view = fleet_view(fleet, pass_time(fleet))
    assert {(c.type, c.status) for c in view.conditions} == off_expected(fleet)
    by_slot = sorted(fleet["status"]["instances"], key=lambda r: (r["slot"], r["instanceId"]))
    assert [r.instance_id for r in view.instances] == [r["instanceId"] for r in by_slot]


def test_a_ready_fleet_is_all_good() -> None:
    fleet = captured("ready")
    view = fleet_view(fleet, pass_time(fleet))
    assert view.tone == "good" and view.conditions == []
    text = plain_text(status_renderable([view], plain=True))
    assert "all conditions as expected" in text
    for item in fleet["status"]["instances"]:
        line = next(line for line in text.splitlines() if line.startswith(item["instanceId"]))
        assert item["zone"] in line and item["state"] in line and item["health"] in line


def test_signals_show_how_long_they_have_been_so() -> None:
    fleet = captured("remediating")
    now = pass_time(fleet, later=75)
    view = fleet_view(fleet, now)
    victim = next(r for r in fleet["status"]["instances"] if r["health"] == "Unhealthy")
    line = next(r for r in view.instances if r.instance_id == victim["instanceId"])
    assert line.health.tone == "bad"
    for name, signal in victim["signals"].items():
        age = humanize((now - parse_time(signal["since"])).total_seconds())  # type: ignore[operator]
        cell = line.signals[name]
        assert cell.text.endswith(age), (name, cell)
        assert (cell.tone == "bad") == (signal["status"] == "Unhealthy")
    assert line.last_action.text.startswith(victim["lastAction"]) and "ago" in line.last_action.text


def test_trouble_is_marked_bad_and_work_in_progress_warn() -> None:
    stop = fleet_view(captured("safety-stop"), pass_time(captured("safety-stop")))
    assert stop.tone == "bad"
    allowed = next(c for c in stop.conditions if c.type == "RemediationAllowed")
    assert (allowed.reason, allowed.tone) == ("TooManyUnhealthy", "bad")
    rolling = fleet_view(captured("rolling"), pass_time(captured("rolling")))
    assert [(c.type, c.tone) for c in rolling.conditions] == [("Progressing", "warn")] and rolling.tone == "warn"


def test_a_paused_fleet_says_so_and_is_not_shown_as_broken() -> None:
    view = fleet_view(captured("paused"), pass_time(captured("paused")))
    assert "paused" in view.counts
    assert all(c.tone == "warn" for c in view.conditions) and view.tone == "warn"


def test_gave_up_shows_on_the_instance() -> None:
    fleet = captured("gave-up")
    view = fleet_view(fleet, pass_time(fleet))
    left = {r["instanceId"] for r in fleet["status"]["instances"] if r.get("gaveUp")}
    assert left and {r.instance_id for r in view.instances if "gave up" in r.last_action.text} == left


def test_traffic_shows_rotation_and_for_how_long() -> None:
    """Statuses written since the traffic feature carry traffic per instance (added here to a capture)."""
    fleet = captured("remediating")
    now = pass_time(fleet, later=30)
    since = fleet["status"]["lastPassAt"]
    states = ["Draining", "InRotation", "Out"]
    for item, state in zip(fleet["status"]["instances"], states, strict=False):
        item.update(traffic=state, trafficSince=since)
    unpublished = fleet_view(fleet, now)
    assert {r.traffic.text for r in unpublished.instances} == {"—"}, "no Service, no target group: no rotation"
    assert "in rotation" not in unpublished.counts
    fleet["status"]["inRotationReplicas"] = 1
    fleet["status"]["traffic"] = {"service": "fleet.capture-lifecycle.svc:2358"}
    view = fleet_view(fleet, now)
    cells = {r.instance_id: r.traffic for r in view.instances}
    for item, state in zip(fleet["status"]["instances"], states, strict=False):
        assert cells[item["instanceId"]].text == f"{state} 30s"
    assert {c.tone for c in cells.values()} == {"good", "warn", "dim"}
    assert "in rotation 1" in view.counts


def test_a_fleet_without_instances_says_so() -> None:
    fleet = captured("launch-blocked")
    text = plain_text(status_renderable([fleet_view(fleet, pass_time(fleet))], plain=True))
    assert "no instances" in text and "LaunchBlocked" in text


def test_plain_text_has_no_colour_codes_no_box_drawing_and_no_trailing_blanks() -> None:
    fleets = [captured(n) for n in ("remediating", "safety-stop", "ready")]
    text = plain_text(status_renderable(fleet_views(fleets, pass_time(fleets[0])), plain=True))
    assert "\x1b[" not in text
    assert not set(text) & set("─━│┃┌┐└┘")
    assert all(line == line.rstrip() for line in text.splitlines())


def test_a_terminal_gets_colour() -> None:
    fleet = captured("remediating")
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, width=200).print(status_renderable([fleet_view(fleet, pass_time(fleet))]))
    assert "\x1b[" in buffer.getvalue()


def test_fleets_are_ordered_by_namespace_then_name() -> None:
    a, b = captured("ready"), captured("paused")
    a["metadata"].update(namespace="team-b", name="a")
    b["metadata"].update(namespace="team-a", name="z")
    assert [(v.namespace, v.name) for v in fleet_views([a, b], pass_time(a))] == [("team-a", "z"), ("team-b", "a")]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (61, "1m01s"), (3599, "59m"), (3660, "1h01m"), (90061, "1d1h"), (None, "?")],
)
def test_humanize(seconds: float | None, text: str) -> None:
    assert humanize(seconds) == text


class _Api:
    """A stand-in for CustomObjectsApi that records which call the command made."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def get_namespaced_custom_object(self, *args: Any) -> dict[str, Any]:
        self.calls.append(("get", args))
        return {"metadata": {"name": args[-1]}}

    def list_namespaced_custom_object(self, *args: Any) -> dict[str, Any]:
        self.calls.append(("list-namespaced", args))
        return {"items": []}

    def list_cluster_custom_object(self, *args: Any) -> dict[str, Any]:
        self.calls.append(("list-all", args))
        return {"items": []}


def test_one_fleet_a_namespace_or_every_namespace() -> None:
    api = _Api()
    fetch_fleets(api, "team-a", "judge0")
    fetch_fleets(api, "team-a", None)
    fetch_fleets(api, None, None)
    assert [c[0] for c in api.calls] == ["get", "list-namespaced", "list-all"]
    assert api.calls[0][1] == ("judge0.dev", "v1alpha1", "team-a", "judge0fleets", "judge0")


def test_the_kubectl_plugin_takes_kubectl_style_arguments() -> None:
    args = plugin_parser().parse_args(["status", "judge0", "-n", "team-a", "--watch", "--interval", "5"])
    assert (args.fleet, args.namespace, args.watch, args.interval) == ("judge0", "team-a", True, 5.0)
    assert plugin_parser().parse_args(["status", "-A"]).all_namespaces


def test_a_compact_well_row_reads_back_healthy_and_in_rotation_since_it_became_healthy() -> None:
    from judge0_operator.status.view import instance_line

    now = datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    well = {"instanceId": "i-1", "slot": "s0", "state": "running", "health": "Healthy",
            "healthySince": "2025-06-02T09:50:00Z", "traffic": "InRotation"}  # as api/compact.py stores it
    line = instance_line(well, now)
    assert line.signals["api"].text.startswith("ok") and line.signals["api"].tone == "good"
    assert line.signals["disk"].text == "—", "a disk reading left out is not known"
    assert line.traffic.text.startswith("InRotation 10m"), line.traffic.text
