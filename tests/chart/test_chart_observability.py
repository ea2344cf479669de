"""The chart's optional observability objects: the Grafana dashboard ConfigMap and the
PrometheusRule, rendered by the real ``helm`` and checked with the real ``promtool``.

- off by default; when enabled: a ConfigMap labelled for the Grafana sidecar that carries the
  committed dashboard JSON, and a PrometheusRule whose every alert has a severity, a summary, a
  description naming the fleet and namespace (fleet alerts), and a runbook_url into a
  docs/runbook.md section that exists;
- ``promtool check rules`` on the rendered rules, and ``promtool test rules`` with
  tests/chart/promtool/alerts_test.yaml, which must hold a firing and a quiet case per alert;
- values: per-alert overrides, the job matcher, the dashboard's labels/namespace; bad values
  are refused by the schema or the template;
- the README lists every dashboard panel and every alert.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from test_chart import CHART, KUBE_VERSION, NAMESPACE, RELEASE, ROOT, by_kind, helm, run_helm, template, the  # noqa: F401

from judge0_operator.telemetry.dashboard.panels import ROWS
from tooling import require_tool

PROMTOOL_TESTS = Path(__file__).parent / "promtool" / "alerts_test.yaml"
RUNBOOK = ROOT / "docs" / "runbook.md"
DASHBOARD = CHART / "dashboards" / "judge0-operator.json"
ALERTS = CHART / "files" / "alerts.yaml"
ENABLED: dict[str, Any] = {"metrics": {"prometheusRule": {"enabled": True}, "grafanaDashboard": {"enabled": True}}}
UNIT_TEST_JOB: dict[str, Any] = {"metrics": {"prometheusRule": {"enabled": True, "job": "judge0-operator"}}}


def rules_of(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rule = the(docs, "PrometheusRule")
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def write_rules(docs: list[dict[str, Any]], path: Path) -> Path:
    """The PrometheusRule's groups as a plain Prometheus rules file (what the Operator hands Prometheus)."""
    path.write_text(yaml.safe_dump({"groups": the(docs, "PrometheusRule")["spec"]["groups"]}, sort_keys=False))
    return path


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors() -> dict[str, str]:
    text = RUNBOOK.read_text()
    sections = re.split(r"^## ", text, flags=re.MULTILINE)[1:]
    return {github_anchor(s.splitlines()[0]): s for s in sections}


@pytest.fixture(scope="module")
def enabled_docs(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:  # noqa: F811
    return template(helm, tmp_path_factory.mktemp("observability"), ENABLED)


# --- defaults and shape --------------------------------------------------------------------------


def test_neither_renders_by_default(helm: Path, tmp_path: Path) -> None:  # noqa: F811
    docs = template(helm, tmp_path)
    assert not by_kind(docs, "PrometheusRule")
    assert not [d for d in by_kind(docs, "ConfigMap") if "grafana_dashboard" in d["metadata"].get("labels", {})]


def test_helm_lint_strict_with_both_enabled(helm: Path, tmp_path: Path) -> None:  # noqa: F811
    result = run_helm(
        helm, "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART), values=ENABLED, tmp=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_configmap_carries_the_committed_dashboard_for_the_sidecar(enabled_docs) -> None:
    (configmap,) = [d for d in by_kind(enabled_docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    kubernetes_validate.validate(configmap, KUBE_VERSION, strict=True)
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["namespace"] == NAMESPACE
    assert json.loads(configmap["data"]["judge0-operator.json"]) == json.loads(DASHBOARD.read_text())


def test_dashboard_labels_annotations_and_namespace_are_configurable(helm: Path, tmp_path: Path) -> None:  # noqa: F811
    values = {
        "metrics": {
            "grafanaDashboard": {
                "enabled": True,
                "labels": {"dashboards": "judge0"},
                "annotations": {"grafana_folder": "Judge0"},
                "namespace": "monitoring",
            }
        }
    }
    (configmap,) = by_kind(template(helm, tmp_path, values), "ConfigMap")
    meta = configmap["metadata"]
    assert meta["namespace"] == "monitoring" and meta["annotations"] == {"grafana_folder": "Judge0"}
    assert meta["labels"]["dashboards"] == "judge0"  # besides the default label (helm merges maps)


def test_prometheus_rule_shape(enabled_docs) -> None:
    """No OpenAPI schema ships for monitoring.coreos.com: check what the Prometheus Operator reads."""
    rule = the(enabled_docs, "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == NAMESPACE
    assert set(rule["spec"]) == {"groups"}
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert set(r) == {"alert", "expr", "for", "labels", "annotations"}, r


def test_every_alert_has_severity_summary_description_and_a_runbook_section(enabled_docs) -> None:
    scopes = {a["alert"]: a["scope"] for a in yaml.safe_load(ALERTS.read_text())["alerts"]}
    anchors = runbook_anchors()
    rules = rules_of(enabled_docs)
    assert {r["alert"] for r in rules} == set(scopes)
    for r in rules:
        assert r["labels"]["severity"] in {"critical", "warning"}, r["alert"]
        notes = r["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, r["alert"]
        assert notes["summary"] and len(notes["description"]) > len(notes["summary"])
        if scopes[r["alert"]] == "fleet":
            for label in ("$labels.fleet", "$labels.namespace"):
                assert label in notes["description"], (r["alert"], label)
        assert "FOR_DURATION" not in notes["description"] and "JOB_MATCHER" not in r["expr"]
        base, anchor = notes["runbook_url"].split("#")
        assert base == "https://github.com/judge0-operator/judge0-operator/blob/main/docs/runbook.md"
        assert anchor in anchors, f"{r['alert']}: docs/runbook.md has no section #{anchor}"
        assert "**Means**" in anchors[anchor] and "**Do**" in anchors[anchor], anchor


def test_the_runbook_has_no_section_for_an_alert_that_does_not_exist(enabled_docs) -> None:
    alerts = {r["alert"].lower() for r in rules_of(enabled_docs)}
    assert set(runbook_anchors()) == alerts


# --- promtool -------------------------------------------------------------------------------------


def test_promtool_check_rules_accepts_the_rendered_rules(enabled_docs, tmp_path: Path) -> None:
    promtool = require_tool("promtool", "Debian's prometheus package: make test installs it (mk/debian.mk)")
    rules = write_rules(enabled_docs, tmp_path / "rules.yaml")
    result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules_of(enabled_docs))} rules found" in result.stdout


def test_promtool_check_rules_rejects_a_broken_rule(enabled_docs, tmp_path: Path) -> None:
    """The check can fail: one unbalanced parenthesis and promtool says no."""
    promtool = require_tool("promtool", "Debian's prometheus package: make test installs it (mk/debian.mk)")
    rules = write_rules(enabled_docs, tmp_path / "rules.yaml")
    rules.write_text(rules.read_text().replace("absent(up", "absent((up", 1))
    result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0


def _promtool_test(helm: Path, tmp_path: Path, values: dict[str, Any]) -> subprocess.CompletedProcess[str]:  # noqa: F811
    promtool = require_tool("promtool", "Debian's prometheus package: make test installs it (mk/debian.mk)")
    write_rules(template(helm, tmp_path, values), tmp_path / "rules.yaml")
    shutil.copy(PROMTOOL_TESTS, tmp_path / "alerts_test.yaml")
    return subprocess.run(
        [promtool, "test", "rules", "alerts_test.yaml"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )


def test_promtool_unit_tests_pass_on_the_rendered_rules(helm: Path, tmp_path: Path) -> None:  # noqa: F811
    result = _promtool_test(helm, tmp_path, UNIT_TEST_JOB)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_unit_tests_fail_when_an_alert_fires_too_early(helm: Path, tmp_path: Path) -> None:  # noqa: F811
    values = {
        "metrics": {
            "prometheusRule": {
                **UNIT_TEST_JOB["metrics"]["prometheusRule"],
                "overrides": {"Judge0FleetNotReady": {"for": "1m"}},
            }
        }
    }
    result = _promtool_test(helm, tmp_path, values)
    assert result.returncode != 0 and "Judge0FleetNotReady" in result.stdout + result.stderr, result.stdout


def test_every_alert_has_a_firing_and_a_quiet_unit_test(enabled_docs) -> None:
    cases = [
        case
        for group in yaml.safe_load(PROMTOOL_TESTS.read_text())["tests"]
        for case in group.get("alert_rule_test", [])
    ]
    for alert in {r["alert"] for r in rules_of(enabled_docs)}:
        mine = [c for c in cases if c["alertname"] == alert]
        assert any(c["exp_alerts"] for c in mine), f"{alert}: no test where it fires"
        assert any(not c["exp_alerts"] for c in mine), f"{alert}: no test where it stays quiet"


# --- values ---------------------------------------------------------------------------------------


def test_overrides_change_for_and_severity_or_disable(helm: Path, tmp_path: Path) -> None:  # noqa: F811
    overrides = {
        "Judge0FleetNotReady": {"for": "30m", "severity": "critical"},
        "Judge0AWSCircuitOpen": {"disabled": True},
    }
    values = {
        "metrics": {
            "prometheusRule": {
                "enabled": True,
                "overrides": overrides,
                "additionalLabels": {"team": "platform"},
                "labels": {"release": "kps"},
            }
        }
    }
    docs = template(helm, tmp_path, values)
    rules = {r["alert"]: r for r in rules_of(docs)}
    assert "Judge0AWSCircuitOpen" not in rules
    assert rules["Judge0FleetNotReady"]["for"] == "30m"
    assert rules["Judge0FleetNotReady"]["labels"] == {"severity": "critical", "team": "platform"}
    assert "30m" in rules["Judge0FleetNotReady"]["annotations"]["description"]
    assert the(docs, "PrometheusRule")["metadata"]["labels"]["release"] == "kps"


def test_an_override_for_an_unknown_alert_fails_the_render(helm: Path, tmp_path: Path) -> None:  # noqa: F811
    values = {"metrics": {"prometheusRule": {"enabled": True, "overrides": {"Judge0FleetNotRedy": {"for": "1m"}}}}}
    result = run_helm(helm, "template", RELEASE, str(CHART), values=values, tmp=tmp_path)
    assert result.returncode != 0 and "Judge0FleetNotRedy: no such alert" in result.stderr


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"for": "ten minutes"}, "for"),
        ({"severity": "page"}, "severity"),
        ({"silence": True}, "silence"),
    ],
)
def test_the_schema_refuses_bad_overrides(helm: Path, tmp_path: Path, override: dict[str, Any], field: str) -> None:  # noqa: F811
    values = {"metrics": {"prometheusRule": {"enabled": True, "overrides": {"Judge0FleetNotReady": override}}}}
    result = run_helm(helm, "template", RELEASE, str(CHART), values=values, tmp=tmp_path)
    assert result.returncode != 0 and "schema" in result.stderr and field in result.stderr, result.stderr


def test_the_no_leader_alert_comes_only_with_leader_election(helm: Path, tmp_path: Path) -> None:  # noqa: F811
    standalone = {
        "leaderElection": {"enabled": False},
        "replicaCount": 1,
        "metrics": {"prometheusRule": {"enabled": True}},
    }
    alerts = {r["alert"] for r in rules_of(template(helm, tmp_path, standalone))}
    assert "Judge0OperatorNoLeader" not in alerts and "Judge0OperatorAbsent" in alerts
    assert "Judge0OperatorNoLeader" in {r["alert"] for r in rules_of(template(helm, tmp_path, ENABLED))}


def test_the_job_matcher_defaults_to_the_metrics_service_name(helm: Path, tmp_path: Path) -> None:  # noqa: F811
    values = {"metrics": {"service": {"enabled": True}, "prometheusRule": {"enabled": True}}}
    docs = template(helm, tmp_path, values)
    service = the(docs, "Service")["metadata"]["name"]
    rules = {r["alert"]: r for r in rules_of(docs)}
    assert rules["Judge0OperatorAbsent"]["expr"] == f'absent(up{{job="{service}"}} == 1)'
    custom = {r["alert"]: r for r in rules_of(template(helm, tmp_path, UNIT_TEST_JOB))}
    assert custom["Judge0OperatorAbsent"]["expr"] == 'absent(up{job="judge0-operator"} == 1)'


def test_the_service_monitor_keeps_the_fleets_namespace_label(helm: Path, tmp_path: Path) -> None:  # noqa: F811
    values = {"metrics": {"service": {"enabled": True}, "serviceMonitor": {"enabled": True}}}
    (endpoint,) = the(template(helm, tmp_path, values), "ServiceMonitor")["spec"]["endpoints"]
    assert endpoint["honorLabels"] is True


# --- README ---------------------------------------------------------------------------------------


def test_the_readme_lists_every_panel_and_every_alert(enabled_docs) -> None:
    readme = (ROOT / "README.md").read_text()
    for row in ROWS:
        for panel in row.panels:
            assert panel.title in readme, f"README does not list the panel {panel.title!r}"
    for r in rules_of(enabled_docs):
        assert f"`{r['alert']}`" in readme, f"README does not list the alert {r['alert']}"
