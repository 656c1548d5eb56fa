"""What one client may cost `serve`: body size, time to send a request, connections held.

Generation is bounded by max_tokens and the queue; this bounds what comes before it, where a client
that sends slowly, sends much, or opens many sockets could otherwise hold the server:

- **Body size** (`Limits.max_body_bytes`, 4 MB by default): a larger Content-Length, or a chunked body
  that grows past it, is answered 413 before the route parses any of it.
- **Time to send**: the request line and headers must arrive within `header_timeout_s` of the
  connection opening (or of the previous answer on a kept-alive connection), else the connection is
  closed; each piece of the body within `body_timeout_s`, else 408. Headers are capped by h11 at
  `max_header_bytes`. Idle kept-alive connections close after `keep_alive_s` (uvicorn's).
- **Connections**: past `max_connections` open sockets, the oldest one that has not yet sent a whole
  request is closed to let the new one in (a flood of slow sockets cannot lock out a real client);
  when every socket is busy with a request, the new one is closed instead.

`uvicorn_config(app, limits, ...)` is the one place the server's uvicorn settings come from (`serve`
and `RunningServer` alike).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

from uvicorn.protocols.http.h11_impl import H11Protocol


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int = 4 * 1024 * 1024
    header_timeout_s: float = 10.0
    body_timeout_s: float = 10.0
    keep_alive_s: float = 5.0
    max_connections: int = 256
    max_header_bytes: int = 16 * 1024


def uvicorn_config(app, limits: Limits = Limits(), **kwargs):
    import uvicorn

    protocol = type("LimitedH11Protocol", (LimitedH11Protocol,), {"limits": limits})
    return uvicorn.Config(app, http=protocol, timeout_keep_alive=limits.keep_alive_s,
                          h11_max_incomplete_event_size=limits.max_header_bytes, **kwargs)


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for the request head and a cap on open connections."""

    limits: Limits = Limits()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self._opened = time.monotonic()
        self._head_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            waiting = sorted((c for c in self.connections if c is not self and isinstance(c, LimitedH11Protocol)
                              and c._between_requests()), key=lambda c: c._opened)
            (waiting[0] if waiting else self)._drop()
            if not waiting:
                return
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._between_requests() and self._head_timer is None:
            self._arm()  # the next request on a kept-alive connection has its own deadline
        super().data_received(data)
        if not self._between_requests():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # idle from here: uvicorn's keep-alive timeout applies

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _between_requests(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.limits.header_timeout_s, self._head_too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_head_timer", None) is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self._between_requests():
            self._drop()

    def _drop(self) -> None:
        self._disarm()
        if not self.transport.is_closing():
            self.transport.close()


class BodyLimit:
    """ASGI middleware: a body past `max_bytes` is a 413, a body piece slower than `timeout_s` a 408, both
    in OpenAI's error shape, before any route reads it."""

    def __init__(self, app, *, max_bytes: int, timeout_s: float):
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        try:
            declared = int(headers.get(b"content-length", b"0") or 0)
        except ValueError:
            declared = 0
        if declared > self.max_bytes:
            return await _error(send, 413, self._too_large())
        seen = 0
        done = False
        started = False   # a response began (the app's or ours)
        refused = False   # we answered: what the app sends afterwards goes nowhere

        async def refuse(status: int, message: str):
            nonlocal started, refused
            if not started:
                started = refused = True
                await _error(send, status, message)
            # The app sees the client leave (FastAPI would turn any exception raised here into its own 400).
            return {"type": "http.disconnect"}

        async def limited_receive():
            nonlocal seen, done
            if done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except asyncio.TimeoutError:
                done = True
                return await refuse(408, f"the request body did not arrive within {self.timeout_s:g} s")
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    done = True
                    return await refuse(413, self._too_large())
                done = not message.get("more_body", False)
            else:
                done = True
            return message

        async def watched_send(message):
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, watched_send)

    def _too_large(self) -> str:
        return f"the request body is larger than this server takes ({self.max_bytes:,} bytes)"


async def _error(send, status: int, message: str) -> None:
    body = json.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                 "code": "request_too_large" if status == 413 else "request_timeout"}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
