"""`judge0-operator chaos --quick`, end to end: crash points and API faults against the real
operator process, the table and JSON report it writes — and, from the same run, two proofs:

* the Judge0 token (chosen here) appears nowhere: not in the report or its output, the
  operator's log, and (checked by the run itself) no fleet status, Event or metric;
* RBAC by traffic: every Kubernetes request the operator made (the emulator logged verb, group,
  resource, subresource, namespace) is allowed by the chart's rendered ClusterRole under
  Kubernetes' RBAC rules — a call a hand-written list forgot would fail here.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from judge0_operator.world import loopback

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "judge0-operator"
HELM = ROOT / ".tools" / "bin" / "helm"
# What every authenticated user may GET (the system:discovery and system:public-info-viewer roles).
DISCOVERY = ("/api", "/apis", "/healthz", "/livez", "/readyz", "/version", "/openapi")


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("chaos")
    token = "e2e-" + secrets.token_hex(16)
    env = {**os.environ, loopback.ENV_FLAG: "1", "JUDGE0_CHAOS_TOKEN": token}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "judge0_operator.cli",
            "chaos",
            "--quick",
            "--report",
            str(work / "report.json"),
            "--work-dir",
            str(work / "logs"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
    )
    report_path = work / "report.json"
    assert report_path.exists(), f"no report\nstdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    return {"proc": proc, "report": json.loads(report_path.read_text()), "token": token, "work": work}


def test_every_row_converged_with_no_duplicate_and_no_leak(quick: dict[str, Any]) -> None:
    proc, report = quick["proc"], quick["report"]
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert report["ok"] is True and "PASS" in proc.stdout
    assert report["rows"]
    for row in report["rows"]:
        assert row["converged"] == row["runs"] > 0, row
        assert row["duplicates"] == row["leaks"] == row["remediationDuringSafetyStop"] == 0, row
    assert report["crashPointsSwept"] >= 2
    kills = [r for r in report["runs"] if r["crash"]]
    assert kills and all(r["crashFired"] and r["operatorRestarts"] >= 1 for r in kills), kills


def test_students_kept_submitting_and_none_lost_work_to_the_operator(quick: dict[str, Any]) -> None:
    judged = [r for r in quick["report"]["runs"] if r["lostSubmissions"] is not None]
    assert judged, "client load ran through the fleet's Service"
    assert all(r["lostSubmissions"] == 0 for r in judged), [r["evidence"].get("clients") for r in judged]
    assert sum(r["evidence"]["clients"]["delivered"] for r in judged) > 0


def test_tokens_off_and_a_lost_answer_made_an_extra_launch_that_was_cleaned_up(quick: dict[str, Any]) -> None:
    lost = [
        r for r in quick["report"]["runs"] if r["row"].startswith("lost RunInstances") and r["mode"] == "tokens-off"
    ]
    assert lost and lost[0]["extraLaunches"] >= 1, "the world launched twice: the retry had no idempotency"
    assert lost[0]["duplicates"] == [] and lost[0]["converged"]


def test_the_restart_ran_while_the_kubernetes_api_was_down(quick: dict[str, Any]) -> None:
    run = next(r for r in quick["report"]["runs"] if r["row"].startswith("Kubernetes API down"))
    down = next(f for f in run["evidence"]["apiFaults"] if f["fault"] == "kube-down")
    healed = next(f for f in run["evidence"]["flowFaults"] if f["fault"] == "judge0-down")
    assert healed["healedBy"].startswith("restart:")

    def t(stamp: str) -> datetime:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))

    assert t(down["createdAt"]) < t(healed["healedAt"]) < t(down["endedAt"]), (down, healed)


def test_the_judge0_token_appears_nowhere(quick: dict[str, Any]) -> None:
    token, proc, work = quick["token"], quick["proc"], quick["work"]
    assert token not in (work / "report.json").read_text()
    assert token not in proc.stdout and token not in proc.stderr
    assert token not in (work / "logs" / "operator.log").read_text(errors="replace")
    assert all(not r["secretSeen"] for r in quick["report"]["runs"]), "status, Events, metrics"


def _cluster_rules(tmp: Path) -> list[dict[str, Any]]:
    if not HELM.is_file():
        result = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "install_helm.py")], capture_output=True, text=True
        )
        assert HELM.is_file(), f"helm missing and tools/install_helm.py failed:\n{result.stderr}"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "KUBECONFIG": "/dev/null",
        "HELM_CACHE_HOME": str(tmp / "c"),
        "HELM_CONFIG_HOME": str(tmp / "g"),
        "HELM_DATA_HOME": str(tmp / "d"),
    }
    out = subprocess.run(
        [str(HELM), "template", "j0", str(CHART), "--namespace", "judge0-system"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    docs = [d for d in yaml.safe_load_all(out) if d]
    roles = [d for d in docs if d["kind"] == "ClusterRole"]
    assert roles, "the default (all namespaces) install has a ClusterRole"
    return [rule for role in roles for rule in role["rules"]]


def allowed(rules: list[dict[str, Any]], request: dict[str, Any]) -> bool:
    """Kubernetes' RBAC: some rule names the verb, the API group and the resource (or resource/subresource)."""
    if "path" in request and not request.get("resource"):
        path = request["path"].rstrip("/") or "/"
        return request["verb"] == "get" and any(path == p or path.startswith(p + "/") for p in DISCOVERY)
    resource = request["resource"] + (f"/{request['subresource']}" if request.get("subresource") else "")
    for rule in rules:
        if (
            request["verb"] in rule.get("verbs", [])
            and request.get("group", "") in rule.get("apiGroups", [])
            and resource in rule.get("resources", [])
        ):
            return True
    return False


def test_allowed_follows_rbac_rules() -> None:
    rules = [{"apiGroups": ["judge0.dev"], "resources": ["judge0fleets/status"], "verbs": ["patch"]}]
    assert allowed(rules, {"verb": "patch", "group": "judge0.dev", "resource": "judge0fleets", "subresource": "status"})
    assert not allowed(rules, {"verb": "patch", "group": "judge0.dev", "resource": "judge0fleets", "subresource": ""})
    assert not allowed(
        rules, {"verb": "update", "group": "judge0.dev", "resource": "judge0fleets", "subresource": "status"}
    )
    assert allowed(rules, {"verb": "get", "path": "/apis/judge0.dev/v1alpha1"})
    assert not allowed(rules, {"verb": "post", "path": "/apis"})


def test_every_request_the_operator_made_is_allowed_by_the_charts_rbac(quick: dict[str, Any], tmp_path: Path) -> None:
    requests = quick["report"]["operatorKubernetesRequests"]
    seen = {(r.get("verb"), r.get("resource"), r.get("subresource")) for r in requests}
    # the log is the operator's real traffic: its watches, status writes, Events and Secret reads
    assert {
        ("watch", "judge0fleets", ""),
        ("patch", "judge0fleets", "status"),
        ("create", "events", ""),
        ("get", "secrets", ""),
    } <= seen, sorted(map(str, seen))
    rules = _cluster_rules(tmp_path)
    denied = [r for r in requests if not allowed(rules, r)]
    assert not denied, f"requests the chart's RBAC would refuse: {json.dumps(denied, indent=1)}"
