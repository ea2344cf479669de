"""The Secret, RecoveryPolicy and Judge0Fleet a simulation applies, fitted to the world.

The example manifests (``examples/``) name a real account's AMI, subnets and security group and
a production policy whose timings are minutes long. The simulation keeps their shape and swaps
in the world's values (region, subnets, AMI, security group, instance types it knows, the Judge0
endpoint template) and, unless told otherwise, compresses the policy's timings so a scenario
runs in minutes; the report states every timing it used.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from judge0_operator.api.fleet import Judge0Fleet
from judge0_operator.api.policy import RecoveryPolicy

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SECRET_NAME = "judge0-auth"
SECRET_KEY = "token"
SIM_REPLICAS = 6  # two per zone: one broken node (50% of a zone) is told apart from a zone outage (100%)

# Timings that keep every rule of the example policy but make a scenario take minutes, not hours.
FAST_POLICY: dict[str, Any] = {
    "startupGraceSeconds": 8,
    "graceAfterActionSeconds": 3,
    "probes": {
        "ec2UnhealthyAfterSeconds": 4,
        "api": {"intervalSeconds": 1, "timeoutSeconds": 1, "unhealthyAfterSeconds": 3},
        "workers": {"intervalSeconds": 1, "timeoutSeconds": 1, "unhealthyAfterSeconds": 3},
        "canary": {"intervalSeconds": 5, "timeoutSeconds": 4, "unhealthyAfterSeconds": 5},
        "disk": {"intervalSeconds": 10, "timeoutSeconds": 10},  # one batched SSM df per fleet
    },
    "remediation": {
        "ladder": [
            {"action": "RestartJudge0", "attempts": 2, "timeoutSeconds": 10},
            {"action": "RebootInstance", "attempts": 1, "timeoutSeconds": 10},
            {"action": "ReplaceInstance", "attempts": 1, "timeoutSeconds": 30},
        ],
        "backoff": {"initialSeconds": 1, "maxSeconds": 5, "multiplier": 2, "jitter": 0.2},
        "healthyPeriodSeconds": 20,
    },
    # A drain waits for a node's queue and running jobs, then 2 s for clients to fetch their results.
    "drain": {"timeoutSeconds": 30, "graceSeconds": 2},
}
# Publishing: the simulation always creates this target group in the world (``world/aws/elbv2.py``)
# and runs its student load (``world/clients``) through what ``spec.traffic`` publishes.
TARGET_GROUP_NAME = "judge0-students"
TARGET_GROUP_TAGS = {"judge0.dev/managed-by": "judge0-operator"}  # what the IAM policy asks of a group
TARGET_GROUP_PLACEHOLDER = "{world.targetGroupArn}"  # replaced by the created group's ARN
# spec.traffic of the simulated fleet: its Service and the world's target group; the student load
# goes through the target group (a fleet with spec.traffic.service only: through the Service; None:
# "no client load: fleet not published").
SIM_TRAFFIC: dict[str, Any] | None = {"service": {}, "targetGroupArns": [TARGET_GROUP_PLACEHOLDER]}
# Queue autoscaling added to the default fleet so the exam burst has something to scale.
SIM_SCALING: dict[str, Any] = {
    "minReplicas": SIM_REPLICAS,
    "maxReplicas": SIM_REPLICAS + 3,
    "queue": {"targetBacklogPerWorker": 2},
    "scaleDownStabilizationSeconds": 10,
}
_FALLBACK_FLEET: dict[str, Any] = {
    "apiVersion": "judge0.dev/v1alpha1",
    "kind": "Judge0Fleet",
    "metadata": {"name": "judge0", "namespace": "default"},
    "spec": {
        "replicas": 3,
        "region": "eu-west-1",
        "recoveryPolicyRef": {"name": "judge0-default"},
        "instance": {
            "imageId": "ami-0123456789abcdef0",
            "instanceType": "c6i.large",
            "subnets": ["subnet-0aaaaaaaaaaaaaaa1"],
        },
        "judge0": {"authSecretRef": {"name": SECRET_NAME, "key": SECRET_KEY}, "expectedVersion": "1.13.1"},
        "rollout": {"maxSurge": 1, "maxUnavailable": 0},
    },
}
_FALLBACK_POLICY: dict[str, Any] = {
    "apiVersion": "judge0.dev/v1alpha1",
    "kind": "RecoveryPolicy",
    "metadata": {"name": "judge0-default", "namespace": "default"},
    "spec": {
        "mode": "Enforce",
        "safety": {"maxUnhealthy": "40%", "maxInFlight": 1, "zoneOutageThreshold": 60},
    },
}


def read_manifest(path: str | Path | None, example: str, fallback: Mapping[str, Any]) -> dict[str, Any]:
    """The first YAML document of ``path``, else of ``examples/<example>``, else the fallback."""
    candidate = Path(path) if path else EXAMPLES / example
    if path or candidate.is_file():
        docs = [d for d in yaml.safe_load_all(candidate.read_text()) if isinstance(d, dict)]
        if not docs:
            raise ValueError(f"{candidate}: no YAML object found")
        return docs[0]
    return copy.deepcopy(dict(fallback))


def _merge(base: dict[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def fit_policy(manifest: Mapping[str, Any], *, fast: bool) -> dict[str, Any]:
    """The policy, with the compressed timings when ``fast``; validated against the model."""
    policy = copy.deepcopy(dict(manifest))
    policy.setdefault("metadata", {}).setdefault("namespace", "default")
    if fast:
        _merge(policy.setdefault("spec", {}), FAST_POLICY)
    RecoveryPolicy.model_validate(policy)
    return policy


def _world_type(wanted: str | None, known: list[str]) -> str:
    """The type if the world knows it, else a world type of the same family letter and size
    (c6i.large → c5.large), else of the same size, else the world's first type."""
    if not known:
        return wanted or "t3.small"
    if wanted in known:
        return wanted
    family, _, size = (wanted or "").partition(".")
    same_size = [t for t in known if t.partition(".")[2] == size]
    same_family = [t for t in same_size if family[:1] and t.startswith(family[:1])]
    return (same_family or same_size or known)[0]


def fit_fleet(
    manifest: Mapping[str, Any],
    info: Mapping[str, Any],
    *,
    policy_name: str,
    default_shape: bool,
    with_scaling: bool = True,
    traffic: Mapping[str, Any] | None = None,
    target_group_arn: str | None = None,
) -> dict[str, Any]:
    """The fleet aimed at the world: its region, subnets, AMI, security group, types and endpoints
    (and ``spec.traffic``: ``traffic`` when given, else the manifest's, with the world's target group
    ARN in place of ``TARGET_GROUP_PLACEHOLDER``)."""
    fleet = copy.deepcopy(dict(manifest))
    meta = fleet.setdefault("metadata", {})
    meta.setdefault("namespace", "default")
    spec = fleet.setdefault("spec", {})
    instance = spec.setdefault("instance", {})
    known = list(info.get("instance_types") or [])
    subnets = dict(info.get("subnets") or {})
    spec["region"] = info["region"]
    instance.pop("launchTemplate", None)
    instance["imageId"] = info["image_id"]
    instance["instanceType"] = _world_type(instance.get("instanceType"), known)
    fallbacks = [_world_type(t, known) for t in instance.get("fallbackInstanceTypes") or []]
    instance["fallbackInstanceTypes"] = [t for t in dict.fromkeys(fallbacks) if t != instance["instanceType"]]
    instance["subnets"] = [subnets[z] for z in sorted(subnets)]
    instance["securityGroupIds"] = [info["security_group_id"]]
    instance.pop("iamInstanceProfile", None)  # the world has no IAM; SSM needs no profile there
    instance.pop("keyName", None)
    judge0 = spec.setdefault("judge0", {})
    judge0["endpointTemplate"] = info["judge0_endpoint_template"]
    judge0["authSecretRef"] = {"name": SECRET_NAME, "key": SECRET_KEY}
    judge0.setdefault("expectedVersion", "1.13.1")
    spec["recoveryPolicyRef"] = {"name": policy_name}
    if traffic is not None:
        spec["traffic"] = copy.deepcopy(dict(traffic))
    if isinstance(spec.get("traffic"), dict) and target_group_arn:
        arns = spec["traffic"].get("targetGroupArns")
        if isinstance(arns, list):
            spec["traffic"]["targetGroupArns"] = [
                target_group_arn if a == TARGET_GROUP_PLACEHOLDER else a for a in arns
            ]
    if default_shape:
        spec["replicas"] = SIM_REPLICAS
        if with_scaling:
            spec["scaling"] = copy.deepcopy(SIM_SCALING)
        spec.setdefault("rollout", {"maxSurge": 1, "maxUnavailable": 0})
    Judge0Fleet.model_validate(fleet)
    return fleet


def client_target(fleet: Mapping[str, Any]) -> str | None:
    """Where the simulated students send their work: the fleet's first target group
    (``tg:<arn>``), else its Service (``svc:<namespace>/<fleet name>``); None when unpublished."""
    traffic = (fleet.get("spec") or {}).get("traffic")
    if not isinstance(traffic, Mapping):
        return None
    arns = [a for a in traffic.get("targetGroupArns") or [] if isinstance(a, str) and a.startswith("arn:")]
    if arns:
        return f"tg:{arns[0]}"
    service = traffic.get("service")
    enabled = service.get("enabled", True) if isinstance(service, Mapping) else bool(service)
    if service is not None and enabled:
        meta = fleet.get("metadata") or {}
        name = (service.get("name") if isinstance(service, Mapping) else None) or meta.get("name")
        return f"svc:{meta.get('namespace', 'default')}/{name}"
    return None


def secret(token: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": SECRET_NAME, "namespace": namespace},
        "stringData": {SECRET_KEY: token},
    }


def world_manifests(info: Mapping[str, Any], *, fast: bool = True) -> list[dict[str, Any]]:
    """The policy and fleet of ``examples/`` aimed at a running world (and the Secret with the
    Judge0 token, when the world's nodes ask for one), ready to apply."""
    policy = fit_policy(read_manifest(None, "policy.yaml", _FALLBACK_POLICY), fast=fast)
    fleet = fit_fleet(
        read_manifest(None, "fleet.yaml", _FALLBACK_FLEET),
        info,
        policy_name=policy["metadata"]["name"],
        default_shape=True,
    )
    token = info.get("judge0_auth_token")
    if not token:  # the world's nodes ask for no token: no Secret to read
        fleet["spec"]["judge0"].pop("authSecretRef", None)
        return [policy, fleet]
    return [secret(str(token)), policy, fleet]


def write_world_manifests(info: Mapping[str, Any], path: str | Path) -> Path:
    """``world up --manifests FILE``: one multi-document YAML for ``kubectl apply -f``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump_all(world_manifests(info), sort_keys=False))
    return target


def describe_policy(policy: Mapping[str, Any]) -> dict[str, Any]:
    """The timings that matter for reading the report's figures."""
    spec = RecoveryPolicy.model_validate(policy).spec
    probes = spec.probes
    return {
        "name": policy.get("metadata", {}).get("name"),
        "mode": spec.mode,
        "startupGraceSeconds": spec.startup_grace_seconds,
        "graceAfterActionSeconds": spec.grace_after_action_seconds,
        "ec2UnhealthyAfterSeconds": probes.ec2_unhealthy_after_seconds,
        "probes": {
            name: {
                "intervalSeconds": p.interval_seconds,
                "timeoutSeconds": p.timeout_seconds,
                "unhealthyAfterSeconds": p.unhealthy_after_seconds,
            }
            for name, p in (("api", probes.api), ("workers", probes.workers), ("canary", probes.canary))
        },
        "ladder": [f"{r.action} x{r.attempts} ({r.timeout_seconds}s)" for r in spec.remediation.ladder],
        "backoff": spec.remediation.backoff.to_wire(),
        "healthyPeriodSeconds": spec.remediation.healthy_period_seconds,
        "maxUnhealthy": spec.safety.max_unhealthy,
        "maxInFlight": spec.safety.max_in_flight,
        "zoneOutageThreshold": spec.safety.zone_outage_threshold,
    }


def describe_fleet(fleet: Mapping[str, Any]) -> dict[str, Any]:
    spec = fleet.get("spec", {})
    return {
        "name": fleet.get("metadata", {}).get("name"),
        "replicas": spec.get("replicas"),
        "instanceType": spec.get("instance", {}).get("instanceType"),
        "zones": len(spec.get("instance", {}).get("subnets", [])),
        "scaling": spec.get("scaling"),
        "rollout": spec.get("rollout"),
    }
