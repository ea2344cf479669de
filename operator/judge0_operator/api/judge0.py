"""``spec.judge0``: how the operator reaches Judge0 on each instance (endpoint, auth, version,
topology): what the probes (``observe/judge0/``) read."""

from __future__ import annotations

from pydantic import Field

from judge0_operator.api.common import ApiModel
from judge0_operator.api.traffic import Topology

ENDPOINT_PATTERN = r"^https?://[^\s]+$"


class SecretKeyRef(ApiModel):
    """A key of a Secret in the fleet's namespace."""

    name: str = Field(min_length=1, max_length=253, description="Secret name, in the fleet's namespace.")
    key: str = Field(default="token", min_length=1, description="Key within the Secret holding the token.")


class Judge0Spec(ApiModel):
    """How the operator reaches Judge0 on each instance."""

    endpoint_template: str = Field(
        default="http://{private_ip}:2358",
        pattern=ENDPOINT_PATTERN,
        description="Base URL of each node's Judge0 API. Placeholders: {private_ip}, {public_ip}, {instance_id}.",
    )
    auth_secret_ref: SecretKeyRef | None = Field(
        default=None, description="Secret with Judge0's AUTHN_TOKEN, sent as X-Auth-Token. Never logged."
    )
    expected_version: str | None = Field(
        default=None,
        pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$",
        description="If set, a node reporting another version in /about is unhealthy (e.g. 1.13.1).",
    )
    topology: Topology = Field(
        default="SelfContained",
        description=(
            "SelfContained: each node runs its own Postgres and Redis (the release's compose file), so a drain "
            "waits for that node's own queue. SharedBackend: the nodes share one Postgres/Redis, so the queue is "
            "the fleet's: a drain waits only for the grace, and no run_in_queue follows a restart (see "
            "docs/traffic.md)."
        ),
    )
