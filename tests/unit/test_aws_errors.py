"""Classification of AWS failures into terminal / capacity / throttled / transient."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from judge0_operator.aws.errors import MAX_MESSAGE_CHARS, classify, kind_of_code, summarize_message


def client_error(
    code: str, message: str = "boom", status: int = 400, operation: str = "RunInstances"
) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@pytest.mark.parametrize(
    "code",
    [
        "InvalidAMIID.NotFound",
        "InvalidAMIID.Malformed",
        "InvalidSubnetID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidParameterValue",
        "InvalidParameterCombination",
        "UnauthorizedOperation",
        "AccessDenied",
        "AccessDeniedException",
        "InvalidKeyPair.NotFound",
        "IdempotentParameterMismatch",
        "InvalidLaunchTemplateName.NotFoundException",
        "InvalidLaunchTemplateId.Malformed",
        "Blocked",
        "OptInRequired",
        "AuthFailure",
    ],
)
def test_terminal_codes(code: str) -> None:
    assert classify(client_error(code)).kind == "terminal"


@pytest.mark.parametrize(
    "code",
    [
        "InsufficientInstanceCapacity",
        "InsufficientCapacity",
        "SpotMaxPriceTooLow",
        "MaxSpotInstanceCountExceeded",
        "Unsupported",
        "InsufficientFreeAddressesInSubnet",
    ],
)
def test_capacity_codes(code: str) -> None:
    assert classify(client_error(code)).kind == "capacity"


@pytest.mark.parametrize(
    "code", ["RequestLimitExceeded", "Throttling", "ThrottlingException", "ThrottlingSomethingNew"]
)
def test_throttled_codes(code: str) -> None:
    assert classify(client_error(code, status=503)).kind == "throttled"


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("InternalError", 500),
        ("ServiceUnavailable", 503),
        ("Unavailable", 503),
        ("InvalidInstanceID.NotFound", 400),  # eventual consistency right after a launch
        ("IncorrectInstanceState", 400),
        ("SomethingNobodyHasSeen", 400),
    ],
)
def test_transient_codes(code: str, status: int) -> None:
    assert classify(client_error(code, status=status)).kind == "transient"


def test_unknown_code_with_429_is_throttled() -> None:
    assert kind_of_code("WhoKnows", 429) == "throttled"


@pytest.mark.parametrize(
    "exc",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        ConnectTimeoutError(endpoint_url="http://127.0.0.1:1"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:1"),
        TimeoutError("slow"),
        RuntimeError("anything else"),
    ],
)
def test_connection_errors_and_others_are_transient(exc: Exception) -> None:
    error = classify(exc)
    assert error.kind == "transient"
    assert error.code == type(exc).__name__


def test_missing_credentials_are_terminal() -> None:
    assert classify(NoCredentialsError()).kind == "terminal"


def test_classified_error_keeps_code_status_and_message() -> None:
    error = classify(client_error("InvalidAMIID.NotFound", "The image id '[ami-1234]' does not exist", 400))
    assert (error.code, error.http_status) == ("InvalidAMIID.NotFound", 400)
    assert error.message == "The image id '[ami-1234]' does not exist"
    assert str(error) == "InvalidAMIID.NotFound: The image id '[ami-1234]' does not exist"


def test_error_without_code_uses_http_status() -> None:
    response: Any = {"Error": {}, "ResponseMetadata": {"HTTPStatusCode": 502}}
    exc = ClientError(response, "DescribeInstances")
    error = classify(exc)
    assert (error.code, error.kind) == ("HTTP502", "transient")


def test_summary_drops_encoded_authorization_blob_and_key_ids() -> None:
    blob = "x" * 50 + "AbCdEf0123456789" * 20
    text = (
        "You are not authorized to perform this operation. User AKIAABCDEFGHIJKLMNOP is not allowed. "
        f"Encoded authorization failure message: {blob}"
    )
    summary = summarize_message(text)
    assert "AKIAABCDEFGHIJKLMNOP" not in summary
    assert blob[-40:] not in summary
    assert summary.startswith("You are not authorized to perform this operation.")


def test_summary_is_bounded_and_single_line() -> None:
    summary = summarize_message("word \n" * 500)
    assert len(summary) <= MAX_MESSAGE_CHARS
    assert "\n" not in summary
