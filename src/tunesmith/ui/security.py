"""Who may drive `tunesmith ui`: the checks every request passes before any route sees it.

The UI reads files and starts processes as the user, so a web page the user happens to visit must not
be able to reach it (the same threats, and the same answers, as Jupyter's):

- **A token.** `tunesmith ui` prints `http://host:port/?token=T` at start (T random, 256 bits). The first
  visit with `?token=T` sets an HttpOnly, SameSite=Strict cookie and redirects to the bare URL; later
  requests carry the cookie. Scripts send `Authorization: token T` (or `?token=T`). Without it: 403.
  The token is compared in constant time.
- **The Host header** must name the bound address or a loopback name (localhost, 127.0.0.1, ::1), with
  any port: a DNS-rebinding page (its own name resolving to 127.0.0.1) sends its own name and is refused
  with 403. Bound to a wildcard address (0.0.0.0, ::), any Host is taken and the token alone guards.
- **Origin** on every state-changing request (POST, PUT, PATCH, DELETE): when a browser sends one, it
  must be this server's own (scheme, host and port of the Host header). A cross-site form or fetch: 403.
- **JSON-only bodies**: a state-changing request must say `Content-Type: application/json`, else 415,
  whatever FastAPI's version does: the content types a cross-site <form> can send without a CORS
  preflight (form-urlencoded, multipart, text/plain) never reach a route.

Static files (the page's own scripts and styles, nothing of the user's) are served without the token
so the page can load; everything else, `/` and `/api/*` included, needs it.
"""

from __future__ import annotations

import hmac
import json
import secrets
from http.cookies import SimpleCookie
from ipaddress import ip_address
from urllib.parse import parse_qs, urlsplit

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
WILDCARDS = {"0.0.0.0", "::", ""}
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
PUBLIC_PREFIXES = ("/static/",)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def cookie_name(port: int | None) -> str:
    """Cookies are not kept apart by port: two UIs on one machine each keep their own."""
    return f"tunesmith_ui_token_{port}" if port else "tunesmith_ui_token"


def host_name(host_header: str) -> str:
    """`Host: example.org:7860` -> example.org; `[::1]:7860` -> ::1; lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def allowed_host(name: str, bound: str) -> bool:
    bound = bound.strip("[]").lower()
    if bound in WILDCARDS:
        return True
    if name in LOOPBACK_NAMES or name == bound:
        return True
    try:
        return ip_address(name).is_loopback and _is_loopback(bound)
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ip_address(host).is_loopback
    except ValueError:
        return False


class Guard:
    """ASGI middleware: token, Host, Origin and content-type checks in front of the whole app."""

    def __init__(self, app, *, token: str, bound_host: str = "127.0.0.1"):
        self.app = app
        self.token = token
        self.bound_host = bound_host

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope["method"].upper()
        path = scope.get("path", "")
        host = headers.get("host", "")
        if not allowed_host(host_name(host), self.bound_host):
            return await _refuse(send, 403, f"Host {host!r} is not this server's",
                                 "open the address `tunesmith ui` printed (a page on another name cannot "
                                 "reach this server)")
        if method in STATE_CHANGING:
            origin = headers.get("origin")
            if origin is not None and not _same_origin(origin, host, scope):
                return await _refuse(send, 403, f"Origin {origin!r} may not change anything here",
                                     "requests that change state come from the tunesmith page itself")
            kind = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if kind != "application/json":
                return await _refuse(send, 415, f"a {method} body must be application/json, not {kind or 'none'}",
                                     "send JSON with Content-Type: application/json")
        if path.startswith(PUBLIC_PREFIXES):
            return await self.app(scope, receive, send)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        from_query = (query.get("token") or [None])[0]
        port = (scope.get("server") or (None, None))[1]
        given = from_query or _from_header(headers.get("authorization", "")) \
            or _from_cookie(headers.get("cookie", ""), cookie_name(port))
        if not given or not hmac.compare_digest(given.encode(), self.token.encode()):
            return await _refuse(send, 403, "this tunesmith ui needs its token",
                                 "open the URL with ?token=... that `tunesmith ui` printed when it started")
        if from_query and method == "GET" and path == "/":
            # The first visit: keep the token in a cookie and take it out of the address bar (and history).
            cookie = f"{cookie_name(port)}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", b"/"), (b"set-cookie", cookie.encode()),
                                    (b"cache-control", b"no-store"), (b"content-length", b"0")]})
            return await send({"type": "http.response.body", "body": b""})
        return await self.app(scope, receive, send)


def _same_origin(origin: str, host: str, scope) -> bool:
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False  # "null" (sandboxed frames, file://) and anything odd
    return parts.netloc.lower() == host.strip().lower() and parts.scheme == scope.get("scheme", "http")


def _from_header(value: str) -> str | None:
    scheme, _, rest = value.strip().partition(" ")
    return rest.strip() if scheme.lower() in ("token", "bearer") and rest.strip() else None


def _from_cookie(value: str, name: str) -> str | None:
    if not value:
        return None
    try:
        jar = SimpleCookie(value)
    except Exception:  # a malformed Cookie header is no token
        return None
    return jar[name].value if name in jar else None


async def _refuse(send, status: int, message: str, hint: str) -> None:
    body = json.dumps({"error": message, "hint": hint, "field": None}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
