"""A lean HTTP/1.1 client for load benchmarks: one keep-alive connection per simulated user,
requests written by hand, responses parsed by httptools (uvicorn's C parser).

httpx costs several milliseconds of CPU per request; with many clients on the same cores as
the server, that CPU is taken from the service being measured. This client speaks the same
HTTP over the same loopback TCP, to the same server, and costs a fraction of it. It knows
only what the benchmarks need: JSON bodies, Content-Length responses, no TLS, no gzip.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools
import orjson


class HTTPError(Exception):
    pass


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[bytes, bytes] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body)

    def raise_for_status(self) -> None:
        if self.status >= 400:
            raise HTTPError(f"{self.status}: {self.body[:300]!r}")


class _Parsed:
    """httptools' callbacks: one response at a time."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.headers: dict[bytes, bytes] = {}
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True


class Connection:
    """One keep-alive connection to ``base_url`` (http://host:port), reopened if closed."""

    def __init__(self, base_url: str, timeout: float = 300.0):
        url = urlsplit(base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.timeout = timeout
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(self, method: str, path: str, json: Any = None) -> Response:
        body = orjson.dumps(json) if json is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if json is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        payload = (head + "\r\n").encode() + body
        for attempt in range(2):  # a kept-alive connection the server closed: once more
            if self._streams is None:
                self._streams = await asyncio.open_connection(self.host, self.port)
            try:
                return await asyncio.wait_for(self._exchange(payload), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError, HTTPError):
                await self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, payload: bytes) -> Response:
        assert self._streams is not None
        reader, writer = self._streams
        writer.write(payload)
        parsed = _Parsed()
        parser = httptools.HttpResponseParser(parsed)
        while not parsed.done:
            data = await reader.read(65536)
            if not data:
                raise HTTPError("the server closed the connection")
            parser.feed_data(data)
        if parsed.headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return Response(parser.get_status_code(), b"".join(parsed.chunks), parsed.headers)

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
