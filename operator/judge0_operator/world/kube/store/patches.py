"""PATCH bodies by content type: JSON merge patch (strategic-merge and apply are treated as merge
patches, a deliberate simplification) and JSON patch, whose failed ``test`` is a 422.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import jsonpatch
import jsonpointer

from judge0_operator.world.kube.store.errors import ApiError, bad_request, patch_failed

if TYPE_CHECKING:
    from judge0_operator.world.kube.store.core import Obj

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (``null`` deletes, objects merge, everything else replaces)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply_patch(patch_type: str, doc: Obj, patch: Any) -> Any:
    """Apply a PATCH body of the given content type to ``doc`` (a private copy)."""
    base = patch_type.split(";")[0].strip()
    if base in (MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH):
        if not isinstance(patch, dict):
            raise bad_request("the patch must be a JSON object")
        return merge_patch(doc, patch)
    if base == JSON_PATCH:
        if not isinstance(patch, list):
            raise bad_request("the JSON patch must be a list of operations")
        try:
            return jsonpatch.apply_patch(doc, patch, in_place=True)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise patch_failed(
                f"the server rejected our request due to an error in our request: {exc}"
            ) from exc
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, KeyError, TypeError) as exc:
            raise patch_failed(
                f"the server rejected our request due to an error in our request: {exc}"
            ) from exc
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - "
        f"accepted media types include: {JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}, {STRATEGIC_MERGE_PATCH}",
    )
