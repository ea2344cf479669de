"""The HTTP plumbing every Judge0 probe shares: one ``aiohttp`` session, a semaphore bounding the
requests in flight, bodies read up to a bound, and the auth token scrubbed from every error text."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from judge0_operator.decide.model import NoAnswer

AUTH_HEADER = "X-Auth-Token"
MAX_BODY_BYTES = 1 << 20
MAX_DETAIL_CHARS = 240

SessionFactory = Callable[[], aiohttp.ClientSession]


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    latency: float

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


class ProbeFailed(Exception):
    """A request that got no HTTP answer (refused, reset, timed out); the text is token-free."""

    def __init__(self, text: str, kind: NoAnswer = "error") -> None:
        super().__init__(text)
        self.kind: NoAnswer = kind


class Judge0Http:
    """Requests to Judge0 nodes for every probe; remembers the secrets it must never show."""

    def __init__(self, *, concurrency: int, session_factory: SessionFactory | None = None) -> None:
        self.concurrency = concurrency
        self._session_factory = session_factory
        self._session: aiohttp.ClientSession | None = None
        self._semaphore = asyncio.Semaphore(concurrency)
        self._secrets: set[str] = set()

    def remember_secret(self, secret: str) -> None:
        """A token to scrub from every error text from now on."""
        self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _session_now(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if self._session_factory is not None:
                self._session = self._session_factory()
            else:
                connector = aiohttp.TCPConnector(limit=self.concurrency)
                self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    async def request(
        self, method: str, url: str, token: str | None, timeout: float, body: dict[str, Any] | None = None
    ) -> Reply:
        headers = {AUTH_HEADER: token} if token else {}
        session = self._session_now()
        loop = asyncio.get_running_loop()
        async with self._semaphore:
            started = loop.time()
            try:
                async with session.request(
                    method,
                    url,
                    headers=headers,
                    json=body,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                    allow_redirects=False,
                ) as response:
                    content = await response.content.read(MAX_BODY_BYTES)
                    return Reply(response.status, content, loop.time() - started)
            except TimeoutError:
                raise ProbeFailed(f"timed out after {timeout:g}s", "timeout") from None
            except aiohttp.ClientConnectorError as exc:
                text = self.scrub(f"cannot connect: {exc.os_error.strerror or exc}")
                raise ProbeFailed(text, "refused") from None
            except aiohttp.ServerDisconnectedError as exc:  # closed without an answer: nothing serving
                raise ProbeFailed(self.scrub(f"{type(exc).__name__}: {exc}"), "refused") from None
            except (aiohttp.ClientError, OSError) as exc:
                raise ProbeFailed(self.scrub(f"{type(exc).__name__}: {exc}")) from None

    async def close(self) -> None:
        """Close the HTTP session (a later request opens a new one)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def clip(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """One line of at most ``limit`` characters: a probe's detail stays short in status."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def as_int(value: Any) -> int | None:
    """``int(value)``, or None when Judge0 answered something that is not a number."""
    with contextlib.suppress(TypeError, ValueError):
        return int(value)
    return None
