"""The API server's error answers: an ``ApiError`` carries the ``Status`` object it is sent as.

Raised anywhere in the store (and by the HTTP layer) and turned into a response in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from judge0_operator.world.kube.validation import field_errors

if TYPE_CHECKING:
    from judge0_operator.world.kube.resources import ResourceType
    from judge0_operator.world.kube.validation.field_errors import FieldError


class ApiError(Exception):
    """An error answer; ``status()`` is the ``Status`` object the API server would send."""

    def __init__(
        self, code: int, reason: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = dict(details or {})
        self.body: dict[str, Any] | None = None

    def status(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def status_details(rt: ResourceType, name: str) -> dict[str, str]:
    return {"name": name, "group": rt.group, "kind": rt.plural}


def not_found(rt: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{rt.qualified_resource} "{name}" not found', status_details(rt, name))


def conflict(rt: ResourceType, name: str) -> ApiError:
    return ApiError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {rt.qualified_resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again",
        status_details(rt, name),
    )


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def unprocessable(rt: ResourceType, name: str, errors: list[FieldError]) -> ApiError:
    err = ApiError(422, "Invalid", field_errors.format_status_message(rt.kind, name, errors, group=rt.group))
    err.body = field_errors.invalid_status(rt.kind, name, errors, group=rt.group)
    return err


def patch_failed(message: str) -> ApiError:
    """A JSON patch that does not apply (a failed ``test`` op included): 422, as the API server."""
    return ApiError(422, "Invalid", message)
