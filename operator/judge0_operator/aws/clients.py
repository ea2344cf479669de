"""boto3 clients, built once per (service, region) with the operator's timeouts and retry mode.

Credentials come from boto3's standard chain (IRSA web identity, env, profile, instance role);
explicit keys are used only when the caller passes them (the simulated world does, with dummies).
botocore's ``standard`` retry mode handles throttling and 5xx inside one logical call; the
circuit breaker and budget in this package sit around that call.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from judge0_operator import __version__

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_ssm import SSMClient

USER_AGENT_EXTRA = f"judge0-operator/{__version__}"


@dataclass(frozen=True)
class AwsSettings:
    """How to reach AWS. Leave the keys unset in production: the standard chain finds them."""

    endpoint_url: str | None = None  # override (the simulated world, a private endpoint)
    access_key_id: str | None = None
    secret_access_key: str | None = None
    session_token: str | None = None
    connect_timeout_seconds: float = 5.0
    read_timeout_seconds: float = 20.0
    total_max_attempts: int = 4  # attempts, not retries (botocore's max_attempts counts retries)
    max_pool_connections: int = 20
    replica: str | None = None  # leader election's identity, appended to the User-Agent

    def __repr__(self) -> str:  # never print keys
        explicit = self.access_key_id is not None
        return f"AwsSettings(endpoint_url={self.endpoint_url!r}, explicit_keys={explicit})"

    @property
    def user_agent_extra(self) -> str:
        """``judge0-operator/<version>``, then ``replica/<identity>`` when electing a leader: the
        last token names the replica, so calls can be attributed to it (the simulated world does)."""
        return f"{USER_AGENT_EXTRA} replica/{self.replica}" if self.replica else USER_AGENT_EXTRA

    def botocore_config(self) -> Config:
        return Config(
            retries={"mode": "standard", "total_max_attempts": self.total_max_attempts},
            connect_timeout=self.connect_timeout_seconds,
            read_timeout=self.read_timeout_seconds,
            user_agent_extra=self.user_agent_extra,
            max_pool_connections=self.max_pool_connections,
        )


class AwsClients:
    """A factory and cache of clients. boto3 clients are thread-safe; sessions are not, so
    creation is serialised and each client is then shared by the threads ``asyncio.to_thread`` uses."""

    def __init__(
        self, settings: AwsSettings | None = None, *, session: boto3.session.Session | None = None
    ) -> None:
        self.settings = settings or AwsSettings()
        self._session = session or boto3.session.Session()
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str) -> Any:
        """The shared client for ``service`` in ``region`` (created on first use)."""
        key = (service, region)
        with self._lock:
            existing = self._clients.get(key)
            if existing is not None:
                return existing
            kwargs: dict[str, Any] = {"region_name": region, "config": self.settings.botocore_config()}
            if self.settings.endpoint_url:
                kwargs["endpoint_url"] = self.settings.endpoint_url
            if self.settings.access_key_id is not None:
                kwargs["aws_access_key_id"] = self.settings.access_key_id
                kwargs["aws_secret_access_key"] = self.settings.secret_access_key
                if self.settings.session_token is not None:
                    kwargs["aws_session_token"] = self.settings.session_token
            created = self._session.client(service, **kwargs)  # type: ignore[call-overload]
            self._clients[key] = created
            return created

    def ec2(self, region: str) -> EC2Client:
        return self.client("ec2", region)  # type: ignore[no-any-return]

    def ssm(self, region: str) -> SSMClient:
        return self.client("ssm", region)  # type: ignore[no-any-return]

    def elbv2(self, region: str) -> ElasticLoadBalancingv2Client:
        return self.client("elbv2", region)  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close every client's connection pool."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()
