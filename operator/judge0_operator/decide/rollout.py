"""Instance refresh: which instances are outdated and how many may be replaced now.

STUB (owned by the capacity work, issue 7): hashes the template; rolls nothing yet.
"""

from __future__ import annotations

import hashlib
import json

from judge0_operator.api.fleet import InstanceSpec

# Fields whose change does not require new instances (placement, not the machine itself).
_NOT_IN_HASH = {"subnets", "fallbackInstanceTypes", "market"}


def template_hash(instance: InstanceSpec) -> str:
    """A short stable hash of what makes an instance (image, template, type, user data, tags…)."""
    wire = {k: v for k, v in instance.to_wire().items() if k not in _NOT_IN_HASH}
    return hashlib.sha256(json.dumps(wire, sort_keys=True).encode()).hexdigest()[:10]
