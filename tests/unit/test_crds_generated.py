"""The checked-in CRDs are exactly what the models generate, and they are valid structural CRDs."""

from pathlib import Path

import yaml

from judge0_operator.api.crds import all_crds, render, write_crds

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_crds_are_not_stale():
    for name, crd in all_crds().items():
        checked_in = (ROOT / "crds" / name).read_text(encoding="utf-8")
        assert checked_in == render(crd), f"crds/{name} is stale: run `make crds`"
    assert sorted(p.name for p in (ROOT / "crds").glob("*.yaml")) == sorted(all_crds())


def test_cli_regenerates_byte_for_byte(tmp_path):
    written = write_crds(tmp_path)
    for path in written:
        assert path.read_bytes() == (ROOT / "crds" / path.name).read_bytes()


def _walk(node, path="$"):
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]")


def test_every_spec_field_has_a_description_for_kubectl_explain():
    for crd in all_crds().values():
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        missing = []
        for path, node in _walk(schema["properties"]["spec"]):
            if isinstance(node, dict) and "properties" in node:
                for prop_name, prop in node["properties"].items():
                    if not prop.get("description"):
                        missing.append(f"{path}.{prop_name}")
        assert not missing, f"fields without description: {missing}"


def test_no_leftover_json_schema_constructs():
    text = "".join(render(c) for c in all_crds().values())
    for construct in (
        "$ref",
        "$defs",
        "title:",
        "'null'",
        "additionalProperties: false",
        "x-judge0-optional",
    ):
        assert construct not in text, construct


def test_scale_subresource_and_names():
    fleet = yaml.safe_load((ROOT / "crds" / "judge0.dev_judge0fleets.yaml").read_text())
    version = fleet["spec"]["versions"][0]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    assert fleet["spec"]["names"]["shortNames"] == ["j0f"]
    assert fleet["spec"]["names"]["categories"] == ["judge0"]
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    for wanted in ("Desired", "Ready", "Healthy", "Updated", "Outdated", "Remediation", "Age"):
        assert wanted in columns
    policy = yaml.safe_load((ROOT / "crds" / "judge0.dev_recoverypolicies.yaml").read_text())
    assert policy["spec"]["names"]["shortNames"] == ["j0rp"]
    assert policy["spec"]["names"]["plural"] == "recoverypolicies"
