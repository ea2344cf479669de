"""The Helm chart, rendered by the real ``helm`` binary and checked as a security reviewer would.

``helm lint`` and ``helm template`` run with the defaults, with every optional feature on, and
with a list of watched namespaces. Every rendered object is validated against the Kubernetes
OpenAPI schemas shipped by ``kubernetes-validate`` (ServiceMonitor has none there: its shape is
checked by hand). Then the policy: no RBAC wildcards, Role vs ClusterRole per mode, the pod
security settings, no ``:latest``, the chart's CRDs identical to the generated ones, and a
values schema that rejects bad input. The examples' kustomization renders with ``kubectl
kustomize`` and its objects validate too.

The binaries come from ``tools/install_helm.py`` (``make helm`` runs it); when they are missing
the session installs them once and fails loudly if it cannot.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from judge0_operator.api.crds import fleet_crd, policy_crd
from judge0_operator.cli import build_parser
from judge0_operator.world.kube.validation.validator import validate_custom_resource

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "judge0-operator"
TOOLS_BIN = ROOT / ".tools" / "bin"
INSTALLER = ROOT / "tools" / "install_helm.py"
KUBE_VERSION = "1.33.0"  # a version kubernetes-validate ships schemas for and helm accepts
NAMESPACE = "judge0-system"
RELEASE = "j0"

ALL_FEATURES: dict[str, Any] = {
    "aws": {"region": "eu-west-1", "endpoint": "https://ec2.eu-west-1.amazonaws.com"},
    "serviceAccount": {"roleArn": "arn:aws:iam::111122223333:role/judge0-operator",
                       "annotations": {"example.com/owner": "platform"}},
    "operator": {"verbose": True, "extraEnv": [{"name": "EXTRA", "value": "1"}]},
    "image": {"tag": "0.1.0-rc1"},
    "imagePullSecrets": [{"name": "regcred"}],
    "podAnnotations": {"example.com/a": "b"},
    "podLabels": {"team": "platform"},
    "priorityClassName": "system-cluster-critical",
    "nodeSelector": {"kubernetes.io/os": "linux"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    "metrics": {"service": {"enabled": True, "annotations": {"prometheus.io/scrape": "true"}},
                "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "podDisruptionBudget": {"enabled": True},
    "networkPolicy": {
        "enabled": True,
        "metricsFrom": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        ],
        "apiServer": {"ports": [443, 6443], "cidrs": ["172.20.0.0/16"]},
        "aws": {"ports": [443], "cidrs": ["10.0.0.0/16"]},
        "judge0": {"ports": [2358], "cidrs": ["10.0.0.0/16"]},
        "extraEgress": [{"ports": [{"port": 5000, "protocol": "TCP"}]}],
    },
}
SCENARIOS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "all-features": ALL_FEATURES,
    "namespaced": {"watchNamespaces": ["team-a", "team-b"]},
    "all-features-namespaced": {**ALL_FEATURES, "watchNamespaces": ["team-a", "team-b"]},
}


# --- helpers ----------------------------------------------------------------------------------------

def _binary(name: str) -> Path:
    path = TOOLS_BIN / name
    if not path.is_file():
        result = subprocess.run([sys.executable, str(INSTALLER)], capture_output=True, text=True, check=False)
        if result.returncode != 0 or not path.is_file():
            pytest.fail(
                f"{name} is not installed at {path} and `python tools/install_helm.py` failed "
                f"(exit {result.returncode}):\n{result.stderr}\nRun `make helm` and look at its output.",
                pytrace=False,
            )
    return path


@pytest.fixture(scope="session")
def helm() -> Path:
    return _binary("helm")


@pytest.fixture(scope="session")
def kubectl() -> Path:
    return _binary("kubectl")


def run_helm(helm: Path, *args: str, tmp: Path, values: dict[str, Any] | None = None
             ) -> subprocess.CompletedProcess[str]:
    """Run helm with its home, cache and config in ``tmp``; no kubeconfig, so no cluster."""
    cmd = [str(helm), *args]
    if values:
        values_file = tmp / "values.yaml"
        values_file.write_text(yaml.safe_dump(values))
        cmd += ["-f", str(values_file)]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp), "KUBECONFIG": "/dev/null",
           "HELM_CACHE_HOME": str(tmp / "helm-cache"), "HELM_CONFIG_HOME": str(tmp / "helm-config"),
           "HELM_DATA_HOME": str(tmp / "helm-data")}
    return subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, timeout=120)


def template(
    helm: Path, tmp: Path, values: dict[str, Any] | None = None, *extra: str
) -> list[dict[str, Any]]:
    result = run_helm(helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
                      "--kube-version", KUBE_VERSION, "--include-crds", *extra, values=values, tmp=tmp)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=list(SCENARIOS))
def rendered(request: pytest.FixtureRequest, helm: Path,
             tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[dict[str, Any]]]:
    name = request.param
    return name, template(helm, tmp_path_factory.mktemp(name), SCENARIOS[name])


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def the(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Helm's values merge: maps merge key by key, everything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# --- lint and schema validation ----------------------------------------------------------------------

@pytest.mark.parametrize("scenario", ["defaults", "all-features-namespaced"])
def test_helm_lint_strict(helm: Path, tmp_path: Path, scenario: str) -> None:
    result = run_helm(helm, "lint", "--strict", "--kube-version", KUBE_VERSION, str(CHART),
                      values=SCENARIOS[scenario], tmp=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout


def _check_service_monitor_shape(doc: dict[str, Any], docs: list[dict[str, Any]]) -> None:
    """No OpenAPI schema ships for monitoring.coreos.com: check what Prometheus Operator needs."""
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["metadata"]["name"] and doc["metadata"]["namespace"] == NAMESPACE
    spec = doc["spec"]
    service = next(s for s in by_kind(docs, "Service") if s["metadata"]["name"].endswith("-metrics"))
    selector = spec["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items(), "must select the metrics Service"
    assert spec["namespaceSelector"]["matchNames"] == [NAMESPACE]
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in spec["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"])


def test_every_rendered_object_validates_against_the_kubernetes_schemas(rendered) -> None:
    name, docs = rendered
    assert docs, name
    for doc in docs:
        if doc["kind"] == "ServiceMonitor":
            _check_service_monitor_shape(doc, docs)
            continue
        # strict: unknown fields are errors too. Raises on a missing schema rather than skipping.
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_every_optional_feature_renders_when_enabled(helm: Path, tmp_path: Path) -> None:
    kinds = {d["kind"] for d in template(helm, tmp_path, ALL_FEATURES)}
    assert kinds >= {"CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
                     "Deployment", "Service", "ServiceMonitor", "PodDisruptionBudget", "NetworkPolicy"}
    default_kinds = {d["kind"] for d in template(helm, tmp_path)}
    assert not default_kinds & {"Service", "ServiceMonitor", "NetworkPolicy"}  # the PDB is on: 2 replicas


# --- RBAC --------------------------------------------------------------------------------------------

def _rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [rule for d in docs if d["kind"] in ("Role", "ClusterRole") for rule in d["rules"]]


def _without_leader_election(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The Lease Role/RoleBinding in the release namespace is checked in test_chart_leader.py."""
    return [d for d in docs if not d["metadata"]["name"].endswith("-leader-election")]


def _permissions(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(group, resource, verb) for rule in rules for group in rule["apiGroups"]
            for resource in rule["resources"] for verb in rule["verbs"]}


def test_rbac_has_no_wildcards(rendered) -> None:
    _, docs = rendered
    rules = _rules(docs)
    assert rules
    for rule in rules:
        for field in ("apiGroups", "resources", "verbs"):
            assert all("*" not in item for item in rule[field]), rule
        assert "nonResourceURLs" not in rule
    for doc in docs:
        assert "aggregationRule" not in doc


def test_rbac_grants_exactly_what_the_operator_uses(rendered) -> None:
    name, docs = rendered
    own = {("judge0.dev", r, v) for r in ("judge0fleets", "recoverypolicies")
           for v in ("get", "list", "watch", "patch", "update")}
    status = {("judge0.dev", f"{r}/status", v) for r in ("judge0fleets", "recoverypolicies")
              for v in ("get", "patch", "update")}
    # spec.traffic.service: controller/endpoints.py reads, creates, merge-patches and deletes them.
    published = {(group, resource, v) for group, resource in (("", "services"), ("discovery.k8s.io", "endpointslices"))
                 for v in ("get", "create", "patch", "delete")}
    namespaced = own | status | published | {("judge0.dev", "judge0fleets/finalizers", "update"),
                                             ("", "events", "create"), ("", "secrets", "get")}
    crd_discovery = {("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")}
    for role in _without_leader_election(by_kind(docs, "Role")) + by_kind(docs, "ClusterRole"):
        expected = namespaced | (crd_discovery if role["kind"] == "ClusterRole" else set())
        assert _permissions(role["rules"]) == expected, (name, role["kind"])


# The operator's own kubernetes-client calls on core objects (Kopf's watching is covered above).
_CLIENT_CALL = re.compile(r"\.(read|create|patch|delete|list|replace)_namespaced_(secret|service|endpoint_slice)\b")
_CLIENT_RESOURCE = {"secret": ("", "secrets"), "service": ("", "services"),
                    "endpoint_slice": ("discovery.k8s.io", "endpointslices")}
_CLIENT_VERB = {"read": "get", "create": "create", "patch": "patch", "delete": "delete", "list": "list",
                "replace": "update"}


def _client_calls() -> set[tuple[str, str, str]]:
    package = ROOT / "operator" / "judge0_operator"
    found = set()
    for path in package.rglob("*.py"):
        if {"world", "simulate"} & set(path.relative_to(package).parts):
            continue
        for verb, kind in _CLIENT_CALL.findall(path.read_text()):
            found.add((*_CLIENT_RESOURCE[kind], _CLIENT_VERB[verb]))
    return found


def test_rbac_on_core_objects_is_exactly_the_calls_the_code_makes(rendered) -> None:
    """Secrets, Services and EndpointSlices: every call the code makes is granted, every grant is called."""
    _, docs = rendered
    calls = _client_calls()
    assert ("discovery.k8s.io", "endpointslices", "create") in calls  # the scan works
    granted = {p for p in _permissions(_rules(docs)) if p[1] in ("secrets", "services", "endpointslices")}
    assert granted == calls


def test_secrets_are_read_only_and_nothing_else_is_sensitive(rendered) -> None:
    _, docs = rendered
    perms = _permissions(_rules(docs))
    assert {v for g, r, v in perms if r == "secrets"} == {"get"}
    resources = {r for _, r, _ in perms}
    # No peering (Kopf is standalone), no namespaces, no pods or exec. (Leases: test_chart_leader.py.)
    assert not resources & {"kopfpeerings", "clusterkopfpeerings", "namespaces", "pods",
                            "pods/exec", "serviceaccounts/token", "configmaps"}
    assert not {v for _, _, v in perms} & {"deletecollection", "escalate", "bind", "impersonate"}
    # delete only what the operator publishes for a fleet (and deletes only when the fleet owns it)
    assert {r for _, r, v in perms if v == "delete"} == {"services", "endpointslices"}


def test_all_namespaces_mode_uses_one_cluster_role(helm: Path, tmp_path: Path) -> None:
    docs = template(helm, tmp_path)
    assert not _without_leader_election(by_kind(docs, "Role") + by_kind(docs, "RoleBinding"))
    role, binding = the(docs, "ClusterRole"), the(docs, "ClusterRoleBinding")
    sa = the(docs, "ServiceAccount")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa["metadata"]["name"],
                                    "namespace": NAMESPACE}]
    args = the(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not [a for a in args if a.startswith("--namespace")]


def test_watched_namespaces_get_a_role_each_and_nothing_cluster_scoped(helm: Path, tmp_path: Path) -> None:
    watched = ["team-a", "team-b", "team-c"]
    docs = template(helm, tmp_path, {"watchNamespaces": watched})
    assert not by_kind(docs, "ClusterRole") and not by_kind(docs, "ClusterRoleBinding")
    roles = _without_leader_election(by_kind(docs, "Role"))
    bindings = _without_leader_election(by_kind(docs, "RoleBinding"))
    assert sorted(r["metadata"]["namespace"] for r in roles) == watched
    assert sorted(b["metadata"]["namespace"] for b in bindings) == watched
    sa = the(docs, "ServiceAccount")["metadata"]["name"]
    for binding in bindings:
        assert binding["roleRef"]["kind"] == "Role"
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": sa, "namespace": NAMESPACE}]
    args = the(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--namespace")] == [f"--namespace={ns}" for ns in watched]
    # The CLI accepts exactly these arguments.
    parsed = build_parser().parse_args(["run", *args])
    assert parsed.namespace == watched


# --- the pod -----------------------------------------------------------------------------------------

def _deployment(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    deployment = the(docs, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    return deployment, pod, pod["containers"][0]


def test_pod_security_settings(rendered) -> None:
    _, docs = rendered
    deployment, pod, container = _deployment(docs)
    assert deployment["spec"]["replicas"] == 2  # leader election: one acts, one stands by
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    psc, csc = pod["securityContext"], container["securityContext"]
    assert psc["runAsNonRoot"] is True and csc["runAsNonRoot"] is True
    assert isinstance(psc["runAsUser"], int) and psc["runAsUser"] > 0
    assert psc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert csc["seccompProfile"] == {"type": "RuntimeDefault"}
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc.get("privileged", False) is False
    assert csc["capabilities"] == {"drop": ["ALL"]}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        assert not pod.get(host)
    assert all("hostPath" not in v for v in pod["volumes"])
    assert pod["automountServiceAccountToken"] is True
    resources = container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"} and set(resources["limits"]) == {"cpu", "memory"}
    tmp_volume = next(m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp")
    assert "emptyDir" in next(v for v in pod["volumes"] if v["name"] == tmp_volume)


def test_liveness_probe_and_ports_match_the_cli(rendered) -> None:
    _, docs = rendered
    _, _, container = _deployment(docs)
    args = build_parser().parse_args(["run", *container["args"]])
    liveness = re.fullmatch(r"http://0\.0\.0\.0:(\d+)(/\S+)", args.liveness)
    assert liveness, args.liveness
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    probe = container["livenessProbe"]["httpGet"]
    assert ports[probe["port"]] == int(liveness.group(1))
    assert probe["path"] == liveness.group(2)
    assert ports["metrics"] == args.metrics_port
    # The chart's defaults are the CLI's defaults (and the Dockerfile's EXPOSE, tested there).
    defaults = build_parser().parse_args(["run"])
    values = yaml.safe_load((CHART / "values.yaml").read_text())["operator"]
    assert values["metricsPort"] == defaults.metrics_port
    assert defaults.liveness == f"http://0.0.0.0:{values['livenessPort']}/healthz"


def test_aws_region_endpoint_and_irsa(helm: Path, tmp_path: Path) -> None:
    docs = template(helm, tmp_path, ALL_FEATURES)
    _, _, container = _deployment(docs)
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["EXTRA"] == "1"
    args = build_parser().parse_args(["run", *container["args"]])
    assert args.aws_endpoint == "https://ec2.eu-west-1.amazonaws.com"
    assert args.verbose is True
    annotations = the(docs, "ServiceAccount")["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"] == "arn:aws:iam::111122223333:role/judge0-operator"
    assert annotations["example.com/owner"] == "platform"

    defaults = template(helm, tmp_path)
    _, _, container = _deployment(defaults)
    assert "AWS_REGION" not in {e["name"] for e in container["env"]}
    assert build_parser().parse_args(["run", *container["args"]]).aws_endpoint is None
    assert "annotations" not in the(defaults, "ServiceAccount")["metadata"]


# --- image -------------------------------------------------------------------------------------------

def _pyproject_version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_app_version_is_the_package_version() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == _pyproject_version()


def test_image_defaults_to_app_version_and_never_latest(rendered) -> None:
    _, docs = rendered
    for doc in docs:
        for container in doc.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            image = container["image"]
            pinned = "@sha256:" in image or ":" in image.rsplit("/", 1)[-1]
            assert pinned and not image.endswith(":latest"), image


def test_image_tag_and_digest(helm: Path, tmp_path: Path) -> None:
    image = _deployment(template(helm, tmp_path))[2]["image"]
    assert image.endswith(f":{_pyproject_version()}")
    digest = "sha256:" + "a" * 64
    image = _deployment(template(helm, tmp_path, {"image": {"digest": digest}}))[2]["image"]
    assert image.endswith(f"@{digest}")


# --- CRDs --------------------------------------------------------------------------------------------

def test_chart_crds_are_byte_identical_to_the_generated_ones() -> None:
    top = {p.name: p.read_bytes() for p in (ROOT / "crds").glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").iterdir()}
    assert top, "no generated CRDs in crds/"
    assert chart.keys() == top.keys(), "run `make crds` to copy the generated CRDs into the chart"
    for name in top:
        assert chart[name] == top[name], f"charts/judge0-operator/crds/{name} is stale: run `make crds`"


def test_crds_are_rendered_with_include_crds(helm: Path, tmp_path: Path) -> None:
    names = {d["metadata"]["name"] for d in by_kind(template(helm, tmp_path), "CustomResourceDefinition")}
    assert names == {"judge0fleets.judge0.dev", "recoverypolicies.judge0.dev"}


# --- values schema -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("args", "field"), [
    (["--set", "replicaCount=abc"], "replicaCount"),
    (["--set", "replicaCount=2", "--set", "leaderElection.enabled=false"], "replicaCount"),
    (["--set", "image.tag=latest"], "image/tag"),
    (["--set", "image.digest=sha1:abc"], "image/digest"),
    (["--set", "securityContext.readOnlyRootFilesystem=false"], "readOnlyRootFilesystem"),
    (["--set", "securityContext.allowPrivilegeEscalation=true"], "allowPrivilegeEscalation"),
    (["--set", "podSecurityContext.runAsUser=0"], "runAsUser"),
    (["--set-json", 'watchNamespaces=["Not_A_Namespace"]'], "watchNamespaces"),
    (["--set", "aws.region=Europe"], "aws/region"),
    (["--set", "operator.metricsPort=70000"], "metricsPort"),
    (["--set", "serviceAccount.roleArn=not-an-arn"], "roleArn"),
    (["--set", "replicas=1"], "replicas"),  # a typo of replicaCount: unknown keys are refused
])
def test_values_schema_rejects_bad_values(helm: Path, tmp_path: Path, args: list[str], field: str) -> None:
    result = run_helm(helm, "template", RELEASE, str(CHART), *args, tmp=tmp_path)
    assert result.returncode != 0, f"{args} rendered"
    assert "schema" in result.stderr and field in result.stderr, result.stderr


def test_service_monitor_requires_the_metrics_service(helm: Path, tmp_path: Path) -> None:
    result = run_helm(helm, "template", RELEASE, str(CHART), "--set", "metrics.serviceMonitor.enabled=true",
                      tmp=tmp_path)
    assert result.returncode != 0 and "metrics.service.enabled" in result.stderr


def test_values_schema_is_valid_json_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(defaults)


# Blocks passed to Kubernetes verbatim (toYaml): commented as a whole, their fields are the API's.
VERBATIM_BLOCKS = ("livenessProbe.", "readinessProbe.", "resources.", "podSecurityContext.", "securityContext.",
                   "networkPolicy.dns.podLabels.")


def test_values_file_is_fully_commented() -> None:
    """Every key in values.yaml has a comment on the line above (or inline)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing keys
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if not match:
            continue
        indent, key = len(match.group(1)), match.group(2)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [key])
        stack.append((indent, key))
        if any(path.startswith(block) for block in VERBATIM_BLOCKS):
            continue
        above = lines[i - 1].strip() if i else ""
        section = line.rstrip().endswith(":")  # a header: its keys carry the comments
        assert above.startswith("#") or "#" in line or section, f"values.yaml:{i + 1} {path} has no comment"


# --- network policy ----------------------------------------------------------------------------------

def test_network_policy_allows_only_dns_api_aws_and_judge0(helm: Path, tmp_path: Path) -> None:
    values = {**ALL_FEATURES, "networkPolicy": {**ALL_FEATURES["networkPolicy"], "extraEgress": []}}
    policy = the(template(helm, tmp_path, values), "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    ingress_ports = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert ingress_ports == {"metrics", "liveness"}
    egress = {(p.get("protocol", "TCP"), p["port"])
              for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert egress == {("UDP", 53), ("TCP", 53), ("TCP", 443), ("TCP", 6443), ("TCP", 2358)}
    for rule in policy["spec"]["egress"]:
        assert rule.get("to"), f"egress rule open to everywhere: {rule}"


# --- NOTES -------------------------------------------------------------------------------------------

def test_notes_tell_the_next_command(helm: Path, tmp_path: Path) -> None:
    result = run_helm(helm, "install", RELEASE, str(CHART), "--dry-run=client", "--namespace", NAMESPACE,
                      tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "kubectl apply -k examples/" in notes and "kubectl get j0f" in notes
    assert "all namespaces" in notes


# --- examples: kustomize and Argo CD ------------------------------------------------------------------

CUSTOM_KINDS = {"Judge0Fleet": fleet_crd(), "RecoveryPolicy": policy_crd()}


def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "examples" / "kustomization.yaml").read_text())


def test_kustomization_lists_existing_files() -> None:
    resources = _kustomization()["resources"]
    assert resources
    for resource in resources:
        assert (ROOT / "examples" / resource).is_file(), resource


def test_kustomize_renders_valid_objects(kubectl: Path) -> None:
    result = subprocess.run(
        [str(kubectl), "kustomize", str(ROOT / "examples")], capture_output=True, text=True, check=False,
        env={"PATH": "/usr/bin:/bin", "KUBECONFIG": "/dev/null", "HOME": "/tmp"},
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = {d["kind"] for d in docs}
    assert {"Judge0Fleet", "RecoveryPolicy"} <= kinds
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            _, errors = validate_custom_resource(CUSTOM_KINDS[doc["kind"]], doc)
            assert errors == [], (doc["metadata"]["name"], errors)
        else:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    # Every fleet's referenced policy and secret are part of the same apply.
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for fleet in (d for d in docs if d["kind"] == "Judge0Fleet"):
        spec = fleet["spec"]
        if "recoveryPolicyRef" in spec:
            assert ("RecoveryPolicy", spec["recoveryPolicyRef"]["name"]) in names
        secret_ref = spec.get("judge0", {}).get("authSecretRef")
        if secret_ref:
            assert ("Secret", secret_ref["name"]) in names


def _argocd_docs() -> Iterator[dict[str, Any]]:
    text = (ROOT / "examples" / "argocd-application.yaml").read_text()
    yield from (d for d in yaml.safe_load_all(text) if d)


def test_argocd_applications_point_at_this_repository() -> None:
    docs = list(_argocd_docs())
    assert docs
    paths = set()
    for app in docs:
        assert app["apiVersion"] == "argoproj.io/v1alpha1" and app["kind"] == "Application"
        assert app["metadata"]["namespace"] == "argocd"
        spec = app["spec"]
        assert spec["project"] and spec["destination"]["server"] and spec["destination"]["namespace"]
        source = spec["source"]
        assert source["repoURL"] and source["targetRevision"]
        assert (ROOT / source["path"]).is_dir(), source["path"]
        paths.add(source["path"])
        assert spec["syncPolicy"]["automated"]["prune"] in (True, False)
        if "helm" in source:  # the values it sets pass the chart's schema
            defaults = yaml.safe_load((CHART / "values.yaml").read_text())
            merged = deep_merge(defaults, source["helm"].get("valuesObject", {}))
            schema = json.loads((CHART / "values.schema.json").read_text())
            jsonschema.Draft7Validator(schema).validate(merged)
    assert paths == {"charts/judge0-operator", "examples"}


# --- the kind demo script, with the cluster tools stubbed ---------------------------------------------

HELM_STUB = """#!/usr/bin/env bash
# `helm upgrade --install NAME CHART ...` becomes `helm template NAME CHART ...` (no cluster).
set -euo pipefail
[[ "$1 $2" == "upgrade --install" ]] || { echo "unexpected helm call: $*" >&2; exit 1; }
shift 2
args=()
for arg in "$@"; do [[ "$arg" == --wait ]] || args+=("$arg"); done
exec REAL_HELM template "${args[@]}" --kube-version KUBE_VERSION > "$STUB_LOG/rendered.yaml"
"""
RECORDING_STUB = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$STUB_LOG/calls.txt"
"""


def test_kind_demo_script_runs_to_the_end_with_stubbed_tools(helm: Path, tmp_path: Path) -> None:
    """No Docker engine here: docker, kind and kubectl are recorders, helm renders instead of
    installing. The script's own logic and its helm command line are what is exercised."""
    stubs = tmp_path / "bin"
    stubs.mkdir()
    helm_stub = HELM_STUB.replace("REAL_HELM", str(helm)).replace("KUBE_VERSION", KUBE_VERSION)
    (stubs / "helm").write_text(helm_stub)
    for tool in ("docker", "kind", "kubectl"):
        (stubs / tool).write_text(RECORDING_STUB)
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    env = {"PATH": f"{stubs}:/usr/bin:/bin", "HOME": str(tmp_path), "STUB_LOG": str(tmp_path),
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT": "http://172.18.0.1:5000",
           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "HELM_CACHE_HOME": str(tmp_path / "c"), "HELM_CONFIG_HOME": str(tmp_path / "g"),
           "HELM_DATA_HOME": str(tmp_path / "d")}
    result = subprocess.run(["bash", str(ROOT / "scripts" / "kind-demo.sh")], capture_output=True, text=True,
                            check=False, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    assert "kind create cluster --name judge0" in calls
    assert "docker build -t judge0-operator:dev ." in calls
    assert "kind load docker-image judge0-operator:dev --name judge0" in calls
    assert "kubectl apply -k examples/" in calls
    docs = [d for d in yaml.safe_load_all((tmp_path / "rendered.yaml").read_text()) if d]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    container = _deployment(docs)[2]
    assert container["image"] == "judge0-operator:dev" and container["imagePullPolicy"] == "Never"
    assert build_parser().parse_args(["run", *container["args"]]).aws_endpoint == "http://172.18.0.1:5000"
    secret_env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]
                  if "secretKeyRef" in e.get("valueFrom", {})}
    assert set(secret_env) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_kind_demo_script_refuses_to_run_without_credentials(tmp_path: Path) -> None:
    result = subprocess.run(["bash", str(ROOT / "scripts" / "kind-demo.sh")], capture_output=True, text=True,
                            check=False, env={"PATH": "/usr/bin:/bin", "AWS_REGION": "eu-west-1"}, timeout=60)
    assert result.returncode != 0 and "AWS_ACCESS_KEY_ID" in result.stderr


def _readme_helm_install() -> list[str]:
    """The README's `helm install …` command (continuation lines joined), as words."""
    import shlex

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Install in a cluster"):]
    match = re.search(r"^helm install (?:.*\\\n)*.*$", section, re.MULTILINE)
    assert match, "the README's install section has no `helm install` command"
    return shlex.split(match.group(0).replace("\\\n", " "))


def test_the_readme_install_command_renders_as_written(helm: Path, tmp_path: Path) -> None:
    words = _readme_helm_install()
    assert words[:4] == ["helm", "install", "judge0-operator", "charts/judge0-operator"], words
    options = [w for w in words[4:] if w != "--create-namespace"]
    result = run_helm(helm, "template", "judge0-operator", str(CHART), "--kube-version", KUBE_VERSION,
                      *options, tmp=tmp_path)
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    container = the(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    sets = dict(w.split("=", 1) for w in options if "=" in w and not w.startswith("-"))
    assert container["image"].startswith(sets["image.repository"] + ":")
    account = the(docs, "ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"] == sets["serviceAccount.roleArn"]
    assert the(docs, "Deployment")["metadata"]["namespace"] == "judge0-system"
