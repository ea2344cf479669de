"""The public API of the operator: the two custom resources, as pydantic models.

These models are the single source of truth: ``crds.py`` turns them into the CRD YAML in
``crds/`` (checked in; a test fails when it is stale), and the controller parses every
object it receives with them.
"""

from judge0_operator.api.fleet import Judge0Fleet, Judge0FleetSpec
from judge0_operator.api.policy import RecoveryPolicy, RecoveryPolicySpec

GROUP = "judge0.dev"
VERSION = "v1alpha1"

__all__ = ["GROUP", "VERSION", "Judge0Fleet", "Judge0FleetSpec", "RecoveryPolicy", "RecoveryPolicySpec"]
