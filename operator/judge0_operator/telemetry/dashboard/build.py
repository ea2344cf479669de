"""The Grafana dashboard the chart ships, built from one list of panels.

    python -m judge0_operator.telemetry.dashboard --output charts/judge0-operator/dashboards/judge0-operator.json

(``make dashboard`` runs that; a test fails while the committed file is stale.) Adding a panel
is one ``Panel`` entry in ``ROWS`` (``panels.py``): layout, ids, datasource and
variables are worked out here. Every query may use only metrics and labels the operator exports
(or ``up``, which Prometheus adds per target) and the variables below: tests check each one
against a live operator's ``/metrics`` and evaluate it in a real Prometheus.

Variables: ``$datasource`` (any Prometheus), ``$job`` (the scrape job(s) of the operator),
``$namespace`` and ``$fleet`` (multi-select, All by default). Per-fleet metrics are filtered by
all three; operator-wide ones (AWS, reconcile, probes) by ``$job``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judge0_operator.telemetry.dashboard.model import Panel, Row
from judge0_operator.telemetry.dashboard.panels import ROWS

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
