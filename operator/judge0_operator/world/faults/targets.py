"""Where a fault may be aimed, and how a target string is read.

A fault is aimed at one *target*: an instance id (``i-…``), a zone (``zone:us-east-1a``), an AMI
(``image:ami-…``: every instance launched from it, as a broken image would), the AWS API as a
whole (``aws``) or the Kubernetes API (``kube``).
"""

from __future__ import annotations

from typing import Literal

from judge0_operator.world.faults.errors import FaultError

TargetKind = Literal["instance", "zone", "image", "aws", "kube"]
ZONE_PREFIX = "zone:"
IMAGE_PREFIX = "image:"  # every instance launched from that AMI (a broken image, e.g. a cgroup v2 host)
AWS_TARGET = "aws"
KUBE_TARGET = "kube"  # the Kubernetes API (world/kube/faults.py)


def target_kind(target: str) -> TargetKind:
    """Classify a target string; raises FaultError for a string that is none of the three kinds."""
    if target == AWS_TARGET:
        return "aws"
    if target == KUBE_TARGET:
        return "kube"
    if target.startswith(ZONE_PREFIX) and len(target) > len(ZONE_PREFIX):
        return "zone"
    if target.startswith(IMAGE_PREFIX + "ami-") and len(target) > len(IMAGE_PREFIX) + 4:
        return "image"
    if target.startswith("i-") and len(target) > 2:
        return "instance"
    raise FaultError(
        f"unknown target {target!r}: use an instance id (i-…), 'zone:<zone>', 'image:<ami-…>', 'aws' or 'kube'"
    )
