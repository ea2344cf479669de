"""Classify AWS failures into what the planner must do about them.

- ``terminal``: the request itself is wrong (bad AMI, subnet, permissions): retrying the same
  call cannot help; the planner surfaces the AWS text and waits for the spec to change.
- ``capacity``: the request is fine but that (type, zone, market) has no room now: try another.
- ``throttled``: EC2 asked us to slow down (botocore already retried with backoff).
- ``transient``: 5xx, connection errors, timeouts and anything unrecognised: back off and retry.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

ErrorKind = Literal["terminal", "capacity", "transient", "throttled", "circuit-open"]

_TERMINAL_EXACT = frozenset(
    {
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "InvalidParameter",
        "MissingParameter",
        "UnknownParameter",
        "UnauthorizedOperation",
        "AuthFailure",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "IdempotentParameterMismatch",
        "Blocked",
        "OptInRequired",
        "PendingVerification",
        "UnsupportedOperation",
        "InvalidUserData.Malformed",
        "InvalidBlockDeviceMapping",
        "InvalidInstanceID.Malformed",
        "NoSuchEntity",  # IAM: the instance profile does not exist
        "ValidationException",
        # SSM: the instance is not a managed node / the document or parameters are wrong
        "InvalidInstanceId",
        "InvalidDocument",
        "InvalidParameters",
        "UnsupportedPlatformType",
        # ELBv2: the target group named in spec.traffic does not exist (or is not in this region)
        "TargetGroupNotFound",
    }
)
_TERMINAL_PREFIXES = (
    "InvalidAMIID.",
    "InvalidSubnetID.",
    "InvalidSubnet",
    "InvalidGroup.",
    "InvalidGroupId.",
    "InvalidSecurityGroupID.",
    "AccessDenied",
    "InvalidKeyPair.",
    "InvalidLaunchTemplate",
    "InvalidIamInstanceProfile",
    "InvalidInstanceType",
)
_CAPACITY_EXACT = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientCapacity",
        "InsufficientHostCapacity",
        "InsufficientReservedInstanceCapacity",
        "InsufficientFreeAddressesInSubnet",
        "SpotMaxPriceTooLow",
        "MaxSpotInstanceCountExceeded",
        "Unsupported",  # the instance type is not offered in this zone
        "VcpuLimitExceeded",
        "InstanceLimitExceeded",
    }
)
_THROTTLED_EXACT = frozenset(
    {
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestThrottledException",
        "TooManyRequestsException",
        "TooManyUpdates",
        "SlowDown",
    }
)

MAX_MESSAGE_CHARS = 300
_ENCODED_AUTH = re.compile(r"\s*Encoded authorization failure message:.*", re.DOTALL)
_ACCESS_KEY = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{12,}\b")
_LONG_BLOB = re.compile(r"[A-Za-z0-9+/=_-]{120,}")


def kind_of_code(code: str, http_status: int | None = None) -> ErrorKind:
    """The kind for an AWS error code (and its HTTP status when the code is unknown)."""
    if code in _THROTTLED_EXACT or code.startswith("Throttling"):
        return "throttled"
    if code in _CAPACITY_EXACT:
        return "capacity"
    if code in _TERMINAL_EXACT or code.startswith(_TERMINAL_PREFIXES):
        return "terminal"
    if http_status == 429:
        return "throttled"
    return "transient"


def summarize_message(message: str) -> str:
    """The AWS error text, short and free of encoded blobs or key ids (safe for status and Events)."""
    text = _ENCODED_AUTH.sub(" (encoded authorization message omitted)", message)
    text = _ACCESS_KEY.sub("<access-key-id>", text)
    text = _LONG_BLOB.sub("<omitted>", text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


@dataclass(frozen=True)
class ClassifiedError:
    """One failure, ready for an ``ActionOutcome``: kind, AWS code and a safe summary."""

    kind: ErrorKind
    code: str
    message: str
    http_status: int | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


def classify(exc: BaseException) -> ClassifiedError:
    """Classify any exception raised by a boto3 call."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {}) or {}
        meta = exc.response.get("ResponseMetadata", {}) or {}
        status = meta.get("HTTPStatusCode")
        code = str(error.get("Code") or (f"HTTP{status}" if status else "Unknown"))
        message = summarize_message(str(error.get("Message") or ""))
        return ClassifiedError(kind_of_code(code, status), code, message, status)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ClassifiedError("terminal", type(exc).__name__, summarize_message(str(exc)))
    # EndpointConnectionError, Connect/ReadTimeoutError, ConnectionClosedError, OSError, anything else
    return ClassifiedError("transient", type(exc).__name__, summarize_message(str(exc)))
