"""A human's controls, read from the fleet's annotations and the instances' tags (pure).

- ``judge0.dev/do-not-disrupt`` — annotation: instance ids; tag: ``true``. The instance is never
  remediated, scaled in, rolled or rebalanced; it still counts and is reported (Karpenter's
  ``karpenter.sh/do-not-disrupt``).
- ``judge0.dev/remediate`` — annotation: ``<instance-id>=<Restart|Reboot|Replace>`` entries; tag:
  ``Restart``, ``Reboot`` or ``Replace``. Done once, now, within maxUnhealthy and maxInFlight
  (Cluster API's ``cluster.x-k8s.io/remediate-machine``). Status remembers what was done
  (``handledRequests``, a row's ``handledRequest``) until the entry or tag goes away.
- ``judge0.dev/reset-circuit`` — annotation: any new value resets what only a human can clear (see
  ``inputs.PassInputs.reset``).

Entries are separated by commas or whitespace; what cannot be read is reported, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from judge0_operator.api.diagnosis import DO_NOT_DISRUPT, REMEDIATE, REQUEST_ACTIONS, RESET_CIRCUIT

RequestAction = Literal["Restart", "Reboot", "Replace"]
_SPLIT = re.compile(r"[\s,]+")
_INSTANCE = re.compile(r"^i-[0-9a-f]{8,17}$")
_TRUE = frozenset({"true", "yes", "1"})


@dataclass(frozen=True)
class Request:
    """A human asked for one action on one instance."""

    instance_id: str
    action: RequestAction
    key: str  # what status remembers once it is done: the annotation entry, or "tag:<action>"
    source: Literal["annotation", "tag"] = "annotation"


@dataclass(frozen=True)
class Controls:
    """The fleet's annotations, read."""

    do_not_disrupt: frozenset[str] = frozenset()
    requests: tuple[Request, ...] = ()
    reset_circuit: str | None = None
    problems: tuple[str, ...] = ()  # entries that could not be read

    @property
    def request_keys(self) -> frozenset[str]:
        return frozenset(r.key for r in self.requests)


def _action(text: str) -> RequestAction | None:
    for action in REQUEST_ACTIONS:
        if text.strip().lower() in (action.lower(), f"{action.lower()}instance", f"{action.lower()}judge0"):
            return action  # type: ignore[return-value]
    return None


def parse_annotations(annotations: Mapping[str, str] | None) -> Controls:
    """Controls from the fleet's ``metadata.annotations``."""
    annotations = annotations or {}
    problems: list[str] = []
    held = set()
    for word in _SPLIT.split(annotations.get(DO_NOT_DISRUPT, "").strip()):
        if not word:
            continue
        if _INSTANCE.match(word):
            held.add(word)
        else:
            problems.append(f"{DO_NOT_DISRUPT}: {word!r} is not an instance id")
    requests: list[Request] = []
    for entry in _SPLIT.split(annotations.get(REMEDIATE, "").strip()):
        if not entry:
            continue
        instance_id, _, wanted = entry.partition("=")
        action = _action(wanted)
        if not _INSTANCE.match(instance_id) or action is None:
            problems.append(f"{REMEDIATE}: {entry!r} is not <instance-id>=<{'|'.join(REQUEST_ACTIONS)}>")
            continue
        requests.append(Request(instance_id, action, entry))
    reset = annotations.get(RESET_CIRCUIT, "").strip() or None
    return Controls(frozenset(held), tuple(requests), reset, tuple(problems))


def held_by_tag(tags: Mapping[str, str]) -> bool:
    return tags.get(DO_NOT_DISRUPT, "").strip().lower() in _TRUE


def tag_request(instance_id: str, tags: Mapping[str, str]) -> Request | None:
    value = tags.get(REMEDIATE, "").strip()
    action = _action(value) if value else None
    return Request(instance_id, action, f"tag:{action}", "tag") if action else None


def pending_requests(
    controls: Controls,
    tagged: Iterable[tuple[str, Mapping[str, str]]],
    handled_keys: Iterable[str],
    handled_tags: Mapping[str, str | None],
) -> list[Request]:
    """Requests not done yet: annotation entries not in ``handled_keys``, instance tags whose value
    differs from the row's ``handledRequest``. ``tagged``: (instance id, tags) of live instances."""
    done = set(handled_keys)
    found = [r for r in controls.requests if r.key not in done]
    for instance_id, tags in tagged:
        request = tag_request(instance_id, tags)
        if request is not None and handled_tags.get(instance_id) != request.key:
            found.append(request)
    return found
