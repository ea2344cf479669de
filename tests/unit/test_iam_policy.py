"""deploy/iam-policy.json against the code: every AWS call it makes is allowed, nothing else is,
and every mutating permission is fenced by the operator's ownership tag.

The calls are found by scanning the operator's sources for boto3 client methods: every EC2, SSM
and ELBv2 operation name from botocore's service models, in snake_case, referenced as an attribute
(``client.run_instances`` — the guarded caller takes the method, it does not call it inline) or
named to ``get_paginator``/``get_waiter``. The simulated world, the scenario runner and the chaos
runner (``world/``, ``simulate/``, ``chaos/``) are test harness, not the operator, and are left out.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import botocore
import botocore.session
import pytest

from judge0_operator.act.aws import SSM_DOCUMENT
from judge0_operator.decide.model import MANAGED_BY, TAG_MANAGED, TAG_RETAINED

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "judge0_operator"
HARNESS_DIRS = {"world", "simulate", "chaos"}
POLICY = json.loads((ROOT / "deploy" / "iam-policy.json").read_text())
SERVICES = {"ec2": "ec2", "ssm": "ssm", "elbv2": "elasticloadbalancing"}  # client name -> IAM prefix
READ_PREFIXES = ("Describe", "Get", "List")
# Permissions no client method names: RunInstances needs them when its request carries
# TagSpecifications (ec2:CreateTags) or an IamInstanceProfile (iam:PassRole).
IMPLIED_BY_REQUEST_FIELD = {"ec2:CreateTags": "TagSpecifications", "iam:PassRole": "IamInstanceProfile"}


# --- what the code calls -----------------------------------------------------------------------------

@cache
def _all_operations() -> dict[str, frozenset[str]]:
    """snake_case method name -> the IAM actions of every client that has a method of that name."""
    session = botocore.session.get_session()
    names: dict[str, set[str]] = {}
    for service, prefix in SERVICES.items():
        model = session.get_service_model(service)
        for op in model.operation_names:
            names.setdefault(botocore.xform_name(op), set()).add(f"{prefix}:{op}")
    return {snake: frozenset(actions) for snake, actions in names.items()}


@cache
def operations() -> dict[str, str]:
    """snake_case method name -> IAM action, for every operation whose name one client alone has."""
    return {snake: next(iter(a)) for snake, a in _all_operations().items() if len(a) == 1}


@cache
def ambiguous_operations() -> dict[str, frozenset[str]]:
    """Method names several clients share (``describe_tags``: EC2 and ELBv2): the scan cannot tell
    which service such a call goes to, so the operator must not use them (a test checks)."""
    return {snake: a for snake, a in _all_operations().items() if len(a) > 1}


def operator_sources() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if not HARNESS_DIRS & set(path.relative_to(PACKAGE).parts[:-1]):
            yield path


@cache
def called_actions() -> dict[str, list[str]]:
    """IAM action -> the source files that reference its client method."""
    ops = operations()
    alternatives = "|".join(sorted(ops, key=len, reverse=True))
    attribute = re.compile(rf"\.({alternatives})\b")
    named = re.compile(rf"get_(?:paginator|waiter)\(\s*[\"']({alternatives})[\"']")
    found: dict[str, list[str]] = {}
    for path in operator_sources():
        text = path.read_text()
        for match in [*attribute.finditer(text), *named.finditer(text)]:
            found.setdefault(ops[match.group(1)], []).append(str(path.relative_to(ROOT)))
    return found


def source_text() -> str:
    return "\n".join(p.read_text() for p in operator_sources())


# --- the policy --------------------------------------------------------------------------------------

def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def statements() -> list[dict[str, Any]]:
    return POLICY["Statement"]


def allowing(action: str) -> list[dict[str, Any]]:
    return [s for s in statements() if any(fnmatch.fnmatchcase(action, a) for a in as_list(s["Action"]))]


def is_read(action: str) -> bool:
    return action.split(":", 1)[1].startswith(READ_PREFIXES)


def resource_type(arn: str) -> str:
    """arn:aws:ec2:*:*:instance/* -> instance; arn:aws:ssm:*::document/X -> document."""
    return arn.split(":", 5)[5].split("/", 1)[0]


def conditions(statement: dict[str, Any]) -> dict[str, str]:
    """Flatten ``Condition`` to key -> value: StringEquals with one value, or a tag-key allow-list."""
    flat: dict[str, str] = {}
    for operator, entries in statement.get("Condition", {}).items():
        if operator == "ForAllValues:StringEquals":  # only ever the list of tag keys a request may set
            assert set(entries) == {"aws:TagKeys"}, f"{statement['Sid']}: unexpected keys {entries}"
            flat["aws:TagKeys"] = ",".join(entries["aws:TagKeys"])
            continue
        assert operator == "StringEquals", f"{statement['Sid']}: unexpected condition operator {operator}"
        for key, value in entries.items():
            assert isinstance(value, str), f"{statement['Sid']}: {key} must be one exact value"
            flat[key] = value
    return flat


def ownership_condition(statement: dict[str, Any]) -> str | None:
    """The condition key that pins the ownership tag to the operator's value, if any."""
    for key, value in conditions(statement).items():
        prefix, _, tag = key.partition("/")
        if prefix in ("aws:RequestTag", "aws:ResourceTag", "ec2:ResourceTag", "ssm:resourceTag",
                      "elasticloadbalancing:ResourceTag") \
                and tag == TAG_MANAGED and value == MANAGED_BY:
            return prefix
    return None


# --- tests -------------------------------------------------------------------------------------------

def test_policy_is_well_formed() -> None:
    assert POLICY["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in statements()]
    assert len(sids) == len(set(sids))
    for statement in statements():
        assert statement["Effect"] == "Allow"
        assert not {"NotAction", "NotResource", "Principal"} & statement.keys(), statement["Sid"]
        for action in as_list(statement["Action"]):
            assert re.fullmatch(r"(ec2|ssm|iam|elasticloadbalancing):[A-Z][A-Za-z]+", action), (
                f"{statement['Sid']}: {action}"
            )
        for arn in as_list(statement["Resource"]):
            assert arn == "*" or arn.startswith("arn:aws:"), arn


def test_the_scan_finds_the_operators_aws_calls() -> None:
    """Guard the scanner itself: the operator launches, terminates and reads instances, and keeps
    target groups following rotation."""
    called = called_actions()
    assert {"ec2:RunInstances", "ec2:TerminateInstances", "ec2:DescribeInstances"} <= called.keys(), called
    assert {
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:RegisterTargets",
        "elasticloadbalancing:DeregisterTargets",
    } <= called.keys(), called


def test_the_operator_calls_no_method_name_several_clients_share() -> None:
    """Otherwise the scan could not tell which permission the call needs."""
    alternatives = "|".join(sorted(ambiguous_operations(), key=len, reverse=True))
    pattern = re.compile(rf"\.({alternatives})\b|get_(?:paginator|waiter)\(\s*[\"']({alternatives})[\"']")
    used = {m.group(1) or m.group(2) for path in operator_sources() for m in pattern.finditer(path.read_text())}
    assert not used, {name: sorted(ambiguous_operations()[name]) for name in used}


def test_every_aws_call_in_the_code_is_allowed() -> None:
    missing = {action: files for action, files in called_actions().items() if not allowing(action)}
    assert not missing, f"add to deploy/iam-policy.json (tag-conditioned if they mutate): {missing}"


def test_every_permission_is_used_by_the_code() -> None:
    """Least privilege: the policy grants nothing the operator does not call."""
    called = called_actions()
    text = source_text()
    for statement in statements():
        for action in as_list(statement["Action"]):
            if action in IMPLIED_BY_REQUEST_FIELD:
                request_field = f'"{IMPLIED_BY_REQUEST_FIELD[action]}"'
                assert "ec2:RunInstances" in called and request_field in text, action
            else:
                assert action in called, f"{statement['Sid']} grants {action}, which the operator never calls"


def test_read_only_statements_are_the_only_ones_on_any_resource() -> None:
    for statement in statements():
        if "*" in as_list(statement["Resource"]):
            assert all(is_read(a) for a in as_list(statement["Action"])), statement["Sid"]


def test_every_mutating_statement_is_fenced() -> None:
    """Mutations need the ownership tag (on the request or the resource), or are pinned otherwise:
    CreateTags only inside RunInstances, PassRole only of one named role to EC2, and the two
    unconditioned RunInstances/SendCommand statements only name resources that are referenced,
    never created or acted on (the instance itself is always checked by a tagged statement)."""
    for statement in statements():
        sid, actions = statement["Sid"], as_list(statement["Action"])
        if all(is_read(a) for a in actions):
            continue
        assert all(not is_read(a) for a in actions), f"{sid} mixes reads and writes"
        resources = as_list(statement["Resource"])
        assert "*" not in resources, sid
        cond = conditions(statement)
        if actions == ["ec2:CreateTags"] and "ec2:CreateAction" in cond:
            assert cond == {"ec2:CreateAction": "RunInstances"}, sid
        elif actions == ["ec2:CreateTags"]:  # later tagging: only owned instances, only the retained marker
            assert ownership_condition(statement) == "ec2:ResourceTag", sid
            assert cond["aws:TagKeys"] == TAG_RETAINED, sid
            assert {resource_type(r) for r in resources} == {"instance"}, sid
        elif actions == ["iam:PassRole"]:
            assert cond == {"iam:PassedToService": "ec2.amazonaws.com"}, sid
            assert all(re.fullmatch(r"arn:aws:iam::[A-Z0-9_]+:role/[\w+=,.@-]+", r) for r in resources), sid
        elif ownership_condition(statement) is None:
            types = {resource_type(r) for r in resources}
            if actions == ["ec2:RunInstances"]:
                assert not types & {"instance", "volume"}, f"{sid}: launches without the ownership tag"
            elif actions == ["ssm:SendCommand"]:
                assert resources == [f"arn:aws:ssm:*::document/{SSM_DOCUMENT}"], sid
            else:
                pytest.fail(f"{sid}: {actions} without the ownership tag condition")


def test_lifecycle_actions_require_the_tag_on_the_instance() -> None:
    for action in ("ec2:TerminateInstances", "ec2:RebootInstances", "ec2:StartInstances",
                   "ec2:StopInstances", "ssm:SendCommand"):
        for statement in allowing(action):
            if any(resource_type(r) == "instance" for r in as_list(statement["Resource"])):
                expected = "ssm:resourceTag" if action.startswith("ssm:") else "ec2:ResourceTag"
                assert ownership_condition(statement) == expected, (action, statement["Sid"])


def test_target_changes_require_the_tag_on_the_target_group() -> None:
    """RegisterTargets/DeregisterTargets act on a target group (the instance named is not checked by
    IAM): only target groups, only those tagged for the operator."""
    for action in ("elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"):
        found = allowing(action)
        assert found, action
        for statement in found:
            assert {resource_type(r) for r in as_list(statement["Resource"])} == {"targetgroup"}, statement["Sid"]
            assert ownership_condition(statement) == "elasticloadbalancing:ResourceTag", statement["Sid"]


def test_launch_tags_match_the_request_tag_condition() -> None:
    """RunInstances is denied unless every tag-conditioned resource type is tagged in the request,
    and CreateTags must cover exactly the types the code tags."""
    tagged_types = set(re.findall(r'"ResourceType":\s*"([a-z-]+)"', source_text()))
    assert tagged_types, "the operator tags nothing at launch"
    conditioned: set[str] = set()
    for statement in allowing("ec2:RunInstances"):
        if ownership_condition(statement) == "aws:RequestTag":
            conditioned |= {resource_type(r) for r in as_list(statement["Resource"])}
    assert conditioned == tagged_types
    create_tags = {resource_type(r) for s in allowing("ec2:CreateTags") for r in as_list(s["Resource"])}
    assert create_tags == tagged_types
    # The tag the conditions check is the one the operator writes.
    assert re.search(r"TAG_MANAGED:\s*MANAGED_BY", source_text()), "launch tags no longer carry TAG_MANAGED"
