"""The Grafana dashboard: the committed JSON is the generated one, well formed, and its queries
name only metric families the operator registers (the label-level check against a live
operator's /metrics is tests/e2e/test_e2e_observability.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from judge0_operator.metrics import REGISTRY
from judge0_operator.telemetry.dashboard import build as dashboard
from judge0_operator.telemetry.dashboard.build import build_dashboard, queries, render
from judge0_operator.telemetry.dashboard.model import Panel, Query, Row
from judge0_operator.telemetry.dashboard.panels import ROWS
from promql_names import PROMETHEUS_MADE, names_in

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "charts" / "judge0-operator" / "dashboards" / "judge0-operator.json"
GRAFANA_BUILTINS = {"__rate_interval", "__range", "__interval"}


def registered_sample_names() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_sum", "_count"),
            "gauge": ("",),
        }.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names


def test_the_committed_dashboard_is_the_generated_one() -> None:
    assert COMMITTED.read_text() == render(), "stale: run `make dashboard`"


def test_panels_have_unique_ids_and_do_not_overlap() -> None:
    model = build_dashboard()
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in model["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel at {(x, y)}"
                cells.add((x, y))


def test_every_panel_queries_prometheus_through_the_datasource_variable() -> None:
    model = build_dashboard()
    variables = {v["name"] for v in model["templating"]["list"]}
    assert variables == {"datasource", "job", "namespace", "fleet"}
    for panel in model["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        assert panel["description"], panel["title"]
        for target in panel["targets"]:
            used = set(re.findall(r"\$\{?(\w+)", target["expr"]))
            assert used <= variables | GRAFANA_BUILTINS, (panel["title"], used)


def test_every_query_names_only_registered_metrics() -> None:
    registered = registered_sample_names() | set(PROMETHEUS_MADE)
    for title, expr, _ in queries(build_dashboard()):
        unknown = set(names_in(expr).metrics) - registered
        assert not unknown, f"{title}: {unknown} not registered by judge0_operator.metrics"


def test_the_check_catches_a_metric_that_does_not_exist() -> None:
    typo = Row("x", (Panel("typo", "d", (Query('sum(judge0_operator_fleet_replicas_desierd{job=~"$job"})'),)),))
    registered = registered_sample_names()
    ((_, expr, _),) = queries(build_dashboard([typo]))
    assert set(names_in(expr).metrics) - registered == {"judge0_operator_fleet_replicas_desierd"}


def test_the_panels_the_issue_asks_for_are_there() -> None:
    text = json.dumps(build_dashboard())
    for metric in (
        "judge0_operator_fleet_replicas_desired",
        "judge0_operator_fleet_replicas_ready",
        "judge0_operator_fleet_replicas_healthy",
        "judge0_operator_unhealthy_signals",
        "judge0_operator_actions_total",
        "judge0_operator_remediation_outcomes_total",
        "judge0_operator_time_to_detect_seconds_bucket",
        "judge0_operator_time_to_recover_seconds_bucket",
        "judge0_operator_fleet_condition",
        "judge0_operator_aws_calls_total",
        "judge0_operator_circuit_state",
        "judge0_operator_reconcile_duration_seconds_bucket",
    ):
        assert metric in text, metric


def test_the_module_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "d" / "dashboard.json"
    assert dashboard.main(["--output", str(out)]) == 0
    assert json.loads(out.read_text())["uid"] == "judge0-operator"
    assert len([p for p in json.loads(out.read_text())["panels"] if p["type"] != "row"]) == sum(
        len(r.panels) for r in ROWS
    )
