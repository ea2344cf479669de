"""What real EC2 does that moto does not, and that only shows in answers: eventual consistency,
lost responses, and crash points. Hooked into the AWS front (``AwsFront.chaos``).

**Eventual consistency** (fault ``ec2-eventual-consistency`` on ``aws``). EC2 documents that
the results of a call "might not be immediately visible to all subsequent commands". While the
fault is active, each instance RunInstances creates is missing from DescribeInstances and
DescribeInstanceStatus for a random 0..``newHiddenSeconds`` (seeded per world), then its tags
are missing for a further 0..``tagsLateSeconds`` (a tag filter does not match it, an unfiltered
answer shows it without tags); asking for a hidden instance by id answers
``InvalidInstanceID.NotFound``. An instance TerminateInstances hit still reads ``running`` for
``terminatedRunningSeconds``. Delays are decided when the call is made, so they outlive the fault.

**Lost responses** (fault ``lost-response`` on ``aws``). The call is processed in full (the
instance launched, the command sent) and then its answer never arrives: the connection is reset
(``mode: reset``) or held for ``holdSeconds`` and then reset (``mode: timeout``). botocore's
retry modes retry both; only a ClientToken (and adoption by tag) can tell what happened.

**Crash points** (``world/crash.py``): after a successful call the front reports it; an armed
trigger may kill the operator before the answer is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from aiohttp import web

from judge0_operator.world.aws.timeline import Timeline
from judge0_operator.world.aws.wire import AwsCall, ec2_error
from judge0_operator.world.crash import CrashTriggers
from judge0_operator.world.faults.errors import FaultNotFound
from judge0_operator.world.faults.params import MUTATING_ACTIONS
from judge0_operator.world.faults.registry import Fault, FaultRegistry

_INSTANCE_ID = re.compile(rb"<instanceId>(i-[0-9a-f]+)</instanceId>")
_TAG_FILTERS = ("tag-key", "tag-value")


@dataclass
class Visibility:
    """When a launched instance shows up in EC2's answers, and its tags after it."""

    visible_at: float
    tags_at: float


class AwsChaos:
    """Eventual consistency, lost responses and crash points for one AWS front."""

    def __init__(
        self,
        faults: FaultRegistry,
        timeline: Timeline,
        *,
        seed: int | None,
        crash: CrashTriggers | None = None,
    ) -> None:
        self.faults = faults
        self.timeline = timeline
        self.crash = crash
        self._rng = random.Random(f"{seed}/consistency")
        self._drop_rngs: dict[str, random.Random] = {}
        self._seed = seed
        self._dropped: dict[str, int] = {}  # fault id → answers dropped
        self.visibility: dict[str, Visibility] = {}
        self.stale_running: dict[str, float] = {}  # instance → reads running until
        self.lost: dict[str, int] = {}  # action → answers lost (for GET /calls)

    def reset(self) -> None:
        self.visibility.clear()
        self.stale_running.clear()
        self.lost.clear()
        self._dropped.clear()
        self._drop_rngs.clear()

    # ---- eventual consistency -------------------------------------------------------------------
    def _consistency(self) -> Fault | None:
        found = [f for f in self.faults.on_aws() if f.name == "ec2-eventual-consistency"]
        return found[-1] if found else None

    def hidden(self, instance_id: str, now: float) -> bool:
        seen = self.visibility.get(instance_id)
        return seen is not None and now < seen.visible_at

    def tags_hidden(self, instance_id: str, now: float) -> bool:
        seen = self.visibility.get(instance_id)
        return seen is not None and now < seen.tags_at

    def visible_at(self, instance_id: str) -> float | None:
        """World instant the instance became visible, if EC2 hid it at first."""
        seen = self.visibility.get(instance_id)
        return seen.visible_at if seen else None

    def _launched(self, payload: bytes) -> None:
        fault = self._consistency()
        if fault is None:
            return
        now = self.timeline.now()
        hide = float(fault.params["newHiddenSeconds"])
        late = float(fault.params["tagsLateSeconds"])
        for raw in dict.fromkeys(_INSTANCE_ID.findall(payload)):
            instance_id = raw.decode()
            if instance_id in self.visibility:  # a replayed answer: the instance is not new
                continue
            visible = now + self.timeline.scaled(self._rng.uniform(0.0, hide))
            self.visibility[instance_id] = Visibility(
                visible, visible + self.timeline.scaled(self._rng.uniform(0.0, late))
            )

    def _terminated(self, instance_ids: list[str]) -> None:
        fault = self._consistency()
        if fault is None:
            return
        until = self.timeline.now() + self.timeline.scaled(float(fault.params["terminatedRunningSeconds"]))
        for instance_id in instance_ids:
            self.stale_running.setdefault(instance_id, until)

    def _rewrite(self, call: AwsCall, response: web.Response) -> web.Response:
        """Hide what EC2 would not show yet in a DescribeInstances / DescribeInstanceStatus answer."""
        now = self.timeline.now()
        hidden = {i for i, v in self.visibility.items() if now < v.tags_at}
        stale = {i for i, until in self.stale_running.items() if now < until}
        if not hidden and not stale:
            return response
        asked = call.numbered("InstanceId")
        missing = [i for i in asked if self.hidden(i, now)]
        if missing:
            plural = "s" if len(missing) > 1 else ""
            verb = "do" if len(missing) > 1 else "does"
            return ec2_error(
                "InvalidInstanceID.NotFound", f"The instance ID{plural} '{', '.join(missing)}' {verb} not exist"
            )
        body = response.body if isinstance(response.body, bytes) else b""
        if not body:
            return response
        tag_filtered = any(name in _TAG_FILTERS or name.startswith("tag:") for name in call.filters())
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            return response
        namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
        q = (lambda tag: f"{{{namespace}}}{tag}") if namespace else (lambda tag: tag)
        changed = False
        for parent in root.iter():
            for item in list(parent):
                if item.tag != q("item"):
                    continue
                instance_id = item.findtext(q("instanceId"))
                if not instance_id:
                    continue
                if self.hidden(instance_id, now) or (tag_filtered and self.tags_hidden(instance_id, now)):
                    parent.remove(item)
                    changed = True
                    continue
                if self.tags_hidden(instance_id, now):
                    tags = item.find(q("tagSet"))
                    if tags is not None:
                        item.remove(tags)
                        changed = True
                if instance_id in stale:
                    state = item.find(q("instanceState"))
                    if state is not None:
                        for child, value in (("code", "16"), ("name", "running")):
                            node = state.find(q(child))
                            if node is not None:
                                node.text = value
                        changed = True
        # a reservation whose instances are all hidden is not shown either
        for parent in root.iter():
            for item in list(parent):
                instances = item.find(q("instancesSet"))
                if item.tag == q("item") and instances is not None and len(instances) == 0:
                    parent.remove(item)
        if not changed:
            return response
        if namespace:
            ET.register_namespace("", namespace)
        payload = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")
        return web.Response(status=response.status, body=payload, content_type="text/xml", charset="UTF-8")

    # ---- the front's hooks ----------------------------------------------------------------------
    def seen(self, call: AwsCall, response: web.Response) -> web.Response:
        """After a call was answered (inside the front's serial section): bookkeeping and rewrites."""
        if call.service != "ec2":
            return response
        ok = response.status < 300
        body = response.body if isinstance(response.body, bytes) else b""
        if call.action == "RunInstances" and ok:
            self._launched(body)
        elif call.action == "TerminateInstances" and ok:
            self._terminated(call.numbered("InstanceId"))
        elif call.action in ("DescribeInstances", "DescribeInstanceStatus") and ok:
            return self._rewrite(call, response)
        return response

    def _drop_fault(self, call: AwsCall) -> Fault | None:
        for fault in self.faults.on_aws():
            if fault.name != "lost-response":
                continue
            actions = fault.params.get("actions") or MUTATING_ACTIONS
            if call.action not in actions:
                continue
            rng = self._drop_rngs.setdefault(fault.id, random.Random(f"{self._seed}/{fault.id}"))
            if rng.random() >= float(fault.params["rate"]):
                continue
            return fault
        return None

    async def deliver(self, request: web.Request, call: AwsCall, response: web.Response) -> web.Response:
        """Outside the serial section: fire a crash point, or lose the answer, or hand it back."""
        if response.status < 300 and call.action and self.crash is not None:
            self.crash.hit(call.action)
        fault = self._drop_fault(call) if response.status < 300 else None
        if fault is None:
            return response
        dropped = self._dropped[fault.id] = self._dropped.get(fault.id, 0) + 1
        self.lost[call.action] = self.lost.get(call.action, 0) + 1
        count = fault.params.get("count")
        if count is not None and dropped >= int(count):
            with contextlib.suppress(FaultNotFound):
                self.faults.remove(fault.id, reason="spent")
        if fault.params.get("mode") == "timeout":
            await asyncio.sleep(self.timeline.scaled(float(fault.params["holdSeconds"])))
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=204)  # never written: the connection is gone

    def describe(self) -> dict[str, Any]:
        return {"lostResponses": dict(self.lost)}
