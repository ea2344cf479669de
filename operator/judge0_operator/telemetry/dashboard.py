"""The Grafana dashboard the chart ships, built from one list of panels.

    python -m judge0_operator.telemetry.dashboard --output charts/judge0-operator/dashboards/judge0-operator.json

(``make dashboard`` runs that; a test fails while the committed file is stale.) Adding a panel
is one ``Panel`` entry in ``ROWS``: layout, ids, datasource and variables are worked out here.
Every query may use only metrics and labels the operator exports (or ``up``, which Prometheus
adds per target) and the variables below: tests check each one against a live operator's
``/metrics`` and evaluate it in a real Prometheus.

Variables: ``$datasource`` (any Prometheus), ``$job`` (the scrape job(s) of the operator),
``$namespace`` and ``$fleet`` (multi-select, All by default). Per-fleet metrics are filtered by
all three; operator-wide ones (AWS, reconcile, probes) by ``$job``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLEET = '{job=~"$job", namespace=~"$namespace", fleet=~"$fleet"}'
JOB = '{job=~"$job"}'


def fleet_sel(*matchers: str) -> str:
    """The per-fleet selector with extra matchers, e.g. ``fleet_sel('condition="Ready"')``."""
    return FLEET[:-1] + "".join(f", {m}" for m in matchers) + "}"


def job_sel(*matchers: str) -> str:
    return JOB[:-1] + "".join(f", {m}" for m in matchers) + "}"


NOT_READY = fleet_sel('condition="Ready"', 'status!="True"')
SAFETY_STOPPED = fleet_sel('condition="RemediationAllowed"', 'status="False"')
THROTTLED = job_sel('outcome="throttled"')


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: str = "timeseries"  # timeseries, stat, bargauge
    width: int = 12
    height: int = 8
    stack: bool = False
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    thresholds: tuple[tuple[float, str], ...] = ()  # (value, colour) above a green base


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...] = field(default_factory=tuple)


def _quantiles(metric: str, by: str, selector: str, window: str) -> tuple[Query, ...]:
    group = f"le, {by}" if by else "le"
    label = f" {{{{{by}}}}}" if by else ""
    return tuple(
        Query(
            f"histogram_quantile({q}, sum by ({group}) (increase({metric}_bucket{selector}[{window}])))",
            f"p{round(q * 100)}{label}",
            instant=window == "$__range",
        )
        for q in (0.5, 0.95)
    )


ROWS: tuple[Row, ...] = (
    Row(
        "Fleets",
        (
            Panel(
                "Replicas: desired, ready, healthy, in rotation",
                "Desired after scaling rules; ready = running with Judge0's API answering; "
                "healthy = healthy on every signal; in rotation = registered and ready where clients "
                "reach the fleet (spec.traffic).",
                (
                    Query(f"sum by (namespace, fleet) (judge0_operator_fleet_replicas_desired{FLEET})",
                          "{{namespace}}/{{fleet}} desired"),
                    Query(f"sum by (namespace, fleet) (judge0_operator_fleet_replicas_ready{FLEET})",
                          "{{namespace}}/{{fleet}} ready"),
                    Query(f"sum by (namespace, fleet) (judge0_operator_fleet_replicas_healthy{FLEET})",
                          "{{namespace}}/{{fleet}} healthy"),
                    Query(f"sum by (namespace, fleet) (judge0_operator_fleet_in_rotation{FLEET})",
                          "{{namespace}}/{{fleet}} in rotation"),
                ),
                decimals=0,
                min=0,
            ),
            Panel(
                "Unhealthy instances by signal",
                "Instances Unhealthy on each signal (bad for longer than its probe's unhealthyAfterSeconds).",
                (
                    Query(f"sum by (namespace, fleet, signal) (judge0_operator_unhealthy_signals{FLEET})",
                          "{{namespace}}/{{fleet}} {{signal}}"),
                ),
                decimals=0,
                min=0,
                stack=True,
            ),
            Panel(
                "Availability (healthy ÷ desired replica-seconds)",
                "Over the dashboard's time range, as the simulation report defines it: healthy replicas "
                "capped at desired, weighted by time.",
                (
                    Query(
                        "sum by (namespace, fleet) "
                        f"(increase(judge0_operator_fleet_healthy_replica_seconds_total{FLEET}[$__range])) / "
                        "sum by (namespace, fleet) "
                        f"(increase(judge0_operator_fleet_desired_replica_seconds_total{FLEET}[$__range]))",
                        "{{namespace}}/{{fleet}}",
                        instant=True,
                    ),
                ),
                unit="percentunit",
                kind="stat",
                width=8,
                decimals=2,
                min=0,
                max=1,
            ),
            Panel(
                "Fleets not Ready",
                "Fleets whose Ready condition is not True.",
                (
                    Query(
                        "count(judge0_operator_fleet_condition"
                        f"{NOT_READY}) or vector(0)",
                        "not Ready",
                        instant=True,
                    ),
                ),
                kind="stat",
                width=4,
                decimals=0,
                thresholds=((1, "red"),),
            ),
            Panel(
                "Safety stops (RemediationAllowed=False)",
                "Fleets where all remediation is stopped, by reason: TooManyUnhealthy (maxUnhealthy "
                "tripped), PolicyNotFound, Paused (spec.paused).",
                (
                    Query(
                        "sum by (namespace, fleet, reason) (judge0_operator_fleet_condition"
                        f"{SAFETY_STOPPED})",
                        "{{namespace}}/{{fleet}} {{reason}}",
                    ),
                ),
                decimals=0,
                min=0,
                width=6,
            ),
            Panel(
                "Instances remediation gave up on",
                "Left for a human: maxRetries reached or every rung of the ladder tried.",
                (
                    Query(f"sum by (namespace, fleet) (judge0_operator_gave_up_instances{FLEET})",
                          "{{namespace}}/{{fleet}}"),
                ),
                decimals=0,
                min=0,
                width=6,
            ),
        ),
    ),
    Row(
        "Remediation and recovery",
        (
            Panel(
                "Remediation actions by kind and outcome",
                "Every action the operator took (or, in DryRun, would have taken), operator-wide.",
                (
                    Query(
                        "sum by (action, outcome) "
                        f"(increase(judge0_operator_actions_total{JOB}[$__rate_interval]))",
                        "{{action}} {{outcome}}",
                    ),
                ),
                decimals=0,
                min=0,
                stack=True,
            ),
            Panel(
                "Incidents ended, by outcome",
                "How each Unhealthy instance's incident ended: the rung that recovered it "
                "(RestartJudge0, RebootInstance, Start), ReplaceInstance, NoAction, GaveUp or Removed.",
                (
                    Query(
                        "sum by (outcome) "
                        f"(increase(judge0_operator_remediation_outcomes_total{FLEET}[$__rate_interval]))",
                        "{{outcome}}",
                    ),
                ),
                decimals=0,
                min=0,
                stack=True,
            ),
            Panel(
                "Time to detect, by signal",
                "First bad observation to the instance judged Unhealthy, over the dashboard's time range.",
                _quantiles("judge0_operator_time_to_detect_seconds", "signal", FLEET, "$__range"),
                unit="s",
                kind="bargauge",
                decimals=1,
                min=0,
            ),
            Panel(
                "Time to recover, by outcome",
                "Judged Unhealthy to Healthy again (or replaced), over the dashboard's time range.",
                _quantiles("judge0_operator_time_to_recover_seconds", "outcome", FLEET, "$__range"),
                unit="s",
                kind="bargauge",
                decimals=1,
                min=0,
            ),
        ),
    ),
    Row(
        "Traffic",
        (
            Panel(
                "Drain duration, by how it ended",
                "Leaving rotation to the interrupting action (restart, reboot, scale-in), over the "
                "dashboard's time range: drained, timed-out, deadline or broken.",
                _quantiles("judge0_operator_drain_seconds", "outcome", FLEET, "$__range"),
                unit="s",
                kind="bargauge",
                decimals=1,
                min=0,
            ),
            Panel(
                "Drain timeouts",
                "Drains that ended at drain.timeoutSeconds (or a hard deadline) with work still queued "
                "or running: those submissions were cut short.",
                (
                    Query(
                        "sum by (namespace, fleet) "
                        f"(increase(judge0_operator_drain_timeouts_total{FLEET}[$__rate_interval]))",
                        "{{namespace}}/{{fleet}}",
                    ),
                ),
                decimals=0,
                min=0,
                thresholds=((1, "red"),),
            ),
        ),
    ),
    Row(
        "AWS",
        (
            Panel(
                "AWS calls by operation and outcome",
                "Calls to EC2 and SSM: ok, or the error kind (throttled, transient, capacity, terminal, "
                "circuit-open: refused locally by an open breaker).",
                (
                    Query(
                        f"sum by (operation, outcome) (rate(judge0_operator_aws_calls_total{JOB}[$__rate_interval]))",
                        "{{operation}} {{outcome}}",
                    ),
                ),
                unit="reqps",
                min=0,
                stack=True,
            ),
            Panel(
                "Throttling: throttled calls and token-bucket waits",
                "Calls AWS answered with throttling, and seconds per second spent waiting for the "
                "operator's own EC2 token buckets.",
                (
                    Query(
                        "sum by (operation) (rate(judge0_operator_aws_calls_total"
                        f"{THROTTLED}[$__rate_interval]))",
                        "throttled {{operation}}",
                    ),
                    Query(
                        "sum by (operation) "
                        f"(rate(judge0_operator_aws_budget_wait_seconds_total{JOB}[$__rate_interval]))",
                        "waiting {{operation}}",
                    ),
                ),
                min=0,
            ),
            Panel(
                "Circuit breakers",
                "Per region and operation: 0 closed, 1 half-open (one trial call), 2 open (calls refused).",
                (
                    Query(f"max by (region, operation) (judge0_operator_circuit_state{JOB})",
                          "{{region}} {{operation}}"),
                ),
                decimals=0,
                min=0,
                max=2,
                thresholds=((1, "orange"), (2, "red")),
            ),
            Panel(
                "AWS call latency",
                "botocore retries included.",
                _quantiles("judge0_operator_aws_call_duration_seconds", "operation", JOB, "$__rate_interval"),
                unit="s",
                min=0,
            ),
        ),
    ),
    Row(
        "Operator",
        (
            Panel(
                "Reconcile pass duration",
                "One fleet's observe → decide → act → report pass.",
                _quantiles("judge0_operator_reconcile_duration_seconds", "", JOB, "$__rate_interval"),
                unit="s",
                min=0,
            ),
            Panel(
                "Probe results by signal",
                "Judge0 probes per second: ok, bad or unknown (inconclusive, e.g. /workers answering []).",
                (
                    Query(
                        f"sum by (signal, result) (rate(judge0_operator_probe_results_total{JOB}[$__rate_interval]))",
                        "{{signal}} {{result}}",
                    ),
                ),
                unit="reqps",
                min=0,
                stack=True,
            ),
            Panel(
                "Operator process",
                "Scrape up and CPU (cores) of each operator process.",
                (
                    Query(f"up{JOB}", "up {{instance}}"),
                    Query(f"rate(process_cpu_seconds_total{JOB}[$__rate_interval])", "cpu {{instance}}"),
                ),
                min=0,
                width=8,
            ),
            Panel(
                "Operator memory",
                "Resident set size of each operator process.",
                (Query(f"process_resident_memory_bytes{JOB}", "{{instance}}"),),
                unit="bytes",
                min=0,
                width=8,
            ),
            Panel(
                "Leader",
                "1 on the replica that holds the leader-election Lease and acts (the others stand by), "
                "and how often leadership changed.",
                (
                    Query(f"max by (instance) (judge0_operator_leader{JOB})", "leader {{instance}}"),
                    Query(
                        f"sum(increase(judge0_operator_leadership_changes_total{JOB}[$__rate_interval]))",
                        "leadership changes",
                    ),
                ),
                decimals=0,
                min=0,
                width=8,
            ),
        ),
    ),
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
PALETTE = {"green": "green", "orange": "orange", "red": "red"}


def _variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-values"},
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
    }


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    for key in ("decimals", "min", "max"):
        value = getattr(panel, key)
        if value is not None:
            defaults[key] = value
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    steps += [{"color": PALETTE[colour], "value": value} for value, colour in panel.thresholds]
    defaults["thresholds"] = {"mode": "absolute", "steps": steps}
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 20 if panel.stack else 0,
            "stacking": {"mode": "normal" if panel.stack else "none", "group": "A"},
            "showPoints": "never",
        }
        options: dict[str, Any] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    elif panel.kind == "stat":
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "colorMode": "value", "graphMode": "none", "textMode": "auto"}
    else:
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "orientation": "horizontal", "displayMode": "gradient", "showUnfilled": True}
    targets = [
        {
            "refId": chr(ord("A") + i),
            "datasource": DATASOURCE,
            "expr": q.expr,
            "legendFormat": q.legend or "__auto",
            "instant": q.instant,
            "range": not q.instant,
        }
        for i, q in enumerate(panel.queries)
    ]
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
    }


def build_dashboard(rows: Sequence[Row] = ROWS) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model (schemaVersion 39), deterministic for a given ``rows``."""
    panels: list[dict[str, Any]] = []
    panel_id, y = 1, 0
    for row in rows:
        panels.append({"id": panel_id, "type": "row", "title": row.title, "collapsed": False,
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
        panel_id, y = panel_id + 1, y + 1
        x, row_height = 0, 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            panels.append(_panel_json(panel, panel_id, x, y))
            panel_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return {
        "title": "Judge0 operator",
        "uid": "judge0-operator",
        "description": "Judge0 fleets kept healthy by judge0-operator: replicas, health by signal, "
        "remediation and recovery, AWS, the operator itself.",
        "tags": ["judge0", "judge0-operator"],
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "annotations": {"list": []},
        "links": [],
        "templating": {
            "list": [
                {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
                 "current": {}, "hide": 0, "refresh": 1, "regex": ""},
                _variable("job", "Job", "label_values(judge0_operator_reconcile_duration_seconds_count, job)"),
                _variable("namespace", "Namespace",
                          'label_values(judge0_operator_fleet_replicas_desired{job=~"$job"}, namespace)'),
                _variable("fleet", "Fleet",
                          'label_values(judge0_operator_fleet_replicas_desired{job=~"$job", '
                          'namespace=~"$namespace"}, fleet)'),
            ]
        },
        "panels": panels,
    }


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, expr, legend) of every target in a dashboard's JSON."""
    return [
        (panel["title"], target["expr"], target.get("legendFormat", ""))
        for panel in dashboard["panels"]
        for target in panel.get("targets", [])
    ]


def render(rows: Sequence[Row] = ROWS) -> str:
    return json.dumps(build_dashboard(rows), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the Grafana dashboard JSON")
    parser.add_argument("--output", required=True, help="file to write")
    args = parser.parse_args(argv)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(render())
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
