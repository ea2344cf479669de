"""The chart's high availability: two replicas, one acting through a Lease, spread over nodes.

Rendered by the real ``helm`` (fixtures and helpers from ``test_chart.py``); the container's
arguments are parsed by the operator's own CLI parser, so chart and CLI cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_chart import CHART, NAMESPACE, RELEASE, _binary, by_kind, run_helm, template, the

from judge0_operator.cli import build_parser


@pytest.fixture(scope="session")
def helm() -> Path:
    return _binary("helm")


def container_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return the(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def lease_rules(docs: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, namespace, rule) for every RBAC rule that mentions Leases."""
    found = []
    for doc in by_kind(docs, "Role") + by_kind(docs, "ClusterRole"):
        for rule in doc["rules"]:
            if "leases" in rule["resources"] or "coordination.k8s.io" in rule["apiGroups"]:
                found.append((doc["kind"], doc["metadata"].get("namespace", ""), rule))
    return found


def test_two_replicas_elect_a_leader_with_the_clis_default_timings(helm: Path, tmp_path: Path) -> None:
    docs = template(helm, tmp_path)
    deployment = the(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}
    }
    container = container_of(docs)
    args = build_parser().parse_args(["run", *container["args"]])
    defaults = build_parser().parse_args(["run"])
    assert args.leader_election is True and defaults.leader_election is False  # on in the chart only
    assert args.lease_namespace == NAMESPACE
    assert args.lease_name == deployment["metadata"]["name"]
    assert (args.lease_duration, args.renew_deadline, args.retry_period) == (15, 10, 2)
    assert (defaults.lease_duration, defaults.renew_deadline, defaults.retry_period) == (15, 10, 2)
    env = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in container["env"]}
    assert env["POD_NAME"] == "metadata.name" and env["POD_NAMESPACE"] == "metadata.namespace"


def test_standing_by_replicas_are_ready_and_probed_where_the_cli_serves(helm: Path, tmp_path: Path) -> None:
    container = container_of(template(helm, tmp_path))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == "/readyz"  # 200 for the leader and for a replica standing by
    assert ports[readiness["port"]] == ports[container["livenessProbe"]["httpGet"]["port"]]
    args = build_parser().parse_args(["run", *container["args"]])
    assert args.liveness.endswith(f":{ports[readiness['port']]}/healthz")


def test_replicas_spread_over_nodes_and_a_disruption_budget_keeps_one(helm: Path, tmp_path: Path) -> None:
    docs = template(helm, tmp_path)
    pod = the(docs, "Deployment")["spec"]["template"]
    labels = pod["metadata"]["labels"]
    [spread] = pod["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname" and spread["maxSkew"] == 1
    assert spread["labelSelector"]["matchLabels"].items() <= labels.items()
    budget = the(docs, "PodDisruptionBudget")
    assert budget["spec"]["maxUnavailable"] == 1
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_leases_are_granted_in_the_release_namespace_only(helm: Path, tmp_path: Path) -> None:
    for values in ({}, {"watchNamespaces": ["team-a", NAMESPACE]}):
        docs = template(helm, tmp_path, values)
        rules = lease_rules(docs)
        assert [(kind, ns) for kind, ns, _ in rules] == [("Role", NAMESPACE)], values
        rule = rules[0][2]
        assert rule["apiGroups"] == ["coordination.k8s.io"] and rule["resources"] == ["leases"]
        assert sorted(rule["verbs"]) == ["create", "get", "update"]
        assert "resourceNames" not in rule  # create cannot be limited by name
        role = next(r for r in by_kind(docs, "Role") if r["rules"] == [rule])
        binding = next(b for b in by_kind(docs, "RoleBinding") if b["roleRef"]["name"] == role["metadata"]["name"])
        assert binding["metadata"]["namespace"] == NAMESPACE
        account = the(docs, "ServiceAccount")["metadata"]["name"]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
        names = [(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")) for d in docs]
        assert len(names) == len(set(names)), "two objects with the same name"


def test_without_leader_election_one_pod_recreated_and_no_lease(helm: Path, tmp_path: Path) -> None:
    docs = template(helm, tmp_path, {"leaderElection": {"enabled": False}, "replicaCount": 1})
    deployment = the(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"] == {"type": "Recreate"}
    container = container_of(docs)
    assert build_parser().parse_args(["run", *container["args"]]).leader_election is False
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"  # Kopf's endpoint, the only one
    assert lease_rules(docs) == []
    assert "topologySpreadConstraints" not in deployment["spec"]["template"]["spec"]


def test_timings_are_passed_through_and_must_be_ordered(helm: Path, tmp_path: Path) -> None:
    timings = {"leaseDurationSeconds": 30, "renewDeadlineSeconds": 20, "retryPeriodSeconds": 2.5}
    container = container_of(template(helm, tmp_path, {"leaderElection": {"enabled": True, **timings}}))
    args = build_parser().parse_args(["run", *container["args"]])
    assert (args.lease_duration, args.renew_deadline, args.retry_period) == (30, 20, 2.5)

    result = run_helm(helm, "template", RELEASE, str(CHART), "--set", "leaderElection.renewDeadlineSeconds=15",
                      tmp=tmp_path)
    assert result.returncode != 0 and "leaseDurationSeconds > renewDeadlineSeconds" in result.stderr


def test_values_defaults_match_the_state_machines_defaults() -> None:
    from judge0_operator.controller.election.state_machine import Timings

    values = yaml.safe_load((CHART / "values.yaml").read_text())["leaderElection"]
    defaults = Timings()
    assert (values["leaseDurationSeconds"], values["renewDeadlineSeconds"], values["retryPeriodSeconds"]) == (
        defaults.lease_duration, defaults.renew_deadline, defaults.retry_period
    )
