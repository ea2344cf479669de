"""RunInstances ClientToken idempotency, as EC2 has it and moto lacks (moto ignores tokens): a
repeated RunInstances with the same token and parameters answers the first call's response again
(as recorded then); other parameters → ``IdempotentParameterMismatch``. This is what lets the
operator retry a launch whose answer was lost (``chaos.py``) without launching twice."""

from __future__ import annotations

import re
from collections.abc import Callable

from aiohttp import web

from judge0_operator.world.aws.ec2.instances import Ec2Model
from judge0_operator.world.aws.wire import AwsCall, AwsError


class ClientTokens:
    """The RunInstances answers of one AWS front by ClientToken, while ``enabled()`` (the world's
    ``client_tokens`` setting) says so."""

    def __init__(self, enabled: Callable[[], bool], ec2: Ec2Model) -> None:
        self.enabled = enabled
        self.ec2 = ec2
        self._tokens: dict[str, tuple[tuple[tuple[str, tuple[str, ...]], ...], int, bytes, str]] = {}

    def reset(self) -> None:
        self._tokens.clear()

    @staticmethod
    def _fingerprint(call: AwsCall) -> tuple[tuple[str, tuple[str, ...]], ...]:
        skip = {"ClientToken", "Version"}
        return tuple(sorted((k, tuple(v)) for k, v in call.query.items() if k not in skip))

    def replay(self, call: AwsCall) -> web.Response | None:
        """The first call's answer again when this RunInstances repeats a token; None otherwise."""
        token = call.first("ClientToken")
        if not token or not self.enabled():
            return None
        seen = self._tokens.get(token)
        if seen is None:
            return None
        fingerprint, status, payload, content_type = seen
        if fingerprint != self._fingerprint(call):
            raise AwsError(
                "IdempotentParameterMismatch",
                "Arguments on this idempotent request are inconsistent with arguments used in "
                "previous request(s).",
            )
        for instance_id in dict.fromkeys(re.findall(rb"<instanceId>(i-[0-9a-f]+)</instanceId>", payload)):
            self.ec2.record_call(instance_id.decode(), "RunInstances", "replayed", clientToken=token)
        return web.Response(status=status, body=payload, headers={"Content-Type": content_type})

    def remember(self, call: AwsCall, status: int, payload: bytes, content_type: str) -> None:
        """Keep a RunInstances answer under its token for a repeat to get (the front keeps the 200s)."""
        token = call.first("ClientToken")
        if token and self.enabled():
            self._tokens[token] = (self._fingerprint(call), status, payload, content_type)
