"""The guard in front of every request: who may call, from where, with how much.

A pure ASGI middleware (not BaseHTTPMiddleware), so server-sent event streams pass untouched.
- Host: only the server's own names (DNS rebinding: a foreign page that resolves its own name to
  127.0.0.1 still sends its own Host), unless a token protects the server anyway.
- Origin: a state-changing request from another site's page is refused (CSRF).
- Token: with REGLAB_TOKEN set, every request carries it (a cookie after /login, or a bearer
  header for scripts); the static files and the login page excepted.
- Size: request bodies over the limit are refused before they are read.
- Headers: no framing, no sniffing, and a content security policy that runs only our own scripts.
"""

import hmac
import json
from urllib.parse import quote, urlsplit

from app.settings import Settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
TOKEN_COOKIE = "reglab_token"
OPEN_PATHS = ("/static/", "/login")
CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    # Plotly and htmx insert <style> elements; no script can come from anywhere but here.
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"content-security-policy", CSP.encode()),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def host_name(host: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1'; '[::1]:8000' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    return host_name(host) in LOOPBACK_NAMES or host_name(host).startswith("127.")


class Guard:
    def __init__(self, app, settings: Settings):
        self.app = app
        self.token = settings.token.get_secret_value() if settings.token else None
        self.allowed = {host_name(h) for h in settings.allowed_hosts} | LOOPBACK_NAMES
        if settings.host not in ("0.0.0.0", "::", ""):
            self.allowed.add(host_name(settings.host))
        self.max_body = settings.max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refuse(scope, headers)
        if refusal is not None:
            return await _answer(send, *refusal)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        received = 0

        async def receive_limited():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:  # a body without (or lying in) Content-Length
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, receive_limited, send_with_headers)
        except BodyTooLarge:
            await _answer(send, 413, f"Request body over {self.max_body} bytes.")

    def _refuse(self, scope, headers) -> tuple[int, str] | tuple[int, str, dict] | None:
        host = headers.get("host", "")
        if (self.token is None or self.allowed != LOOPBACK_NAMES) and host_name(host) not in (
            self.allowed
        ):
            return 400, "Unknown Host header; add it to REGLAB_ALLOWED_HOSTS if it is this server."
        method = scope["method"]
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            if origin and (urlsplit(origin).netloc.lower() != host.lower()):
                return 403, "Cross-site request refused."
            if headers.get("sec-fetch-site") == "cross-site":
                return 403, "Cross-site request refused."
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return 413, f"Request body over {self.max_body} bytes."
        needs_token = self.token is not None and not scope["path"].startswith(OPEN_PATHS)
        if needs_token and not self._authorized(headers):
            if scope["path"].startswith("/api/") or method not in SAFE_METHODS:
                return 401, "A token is required (Authorization: Bearer <REGLAB_TOKEN>)."
            target = quote(scope["path"], safe="/")
            return 303, "Log in first.", {"location": f"/login?next={target}"}
        return None

    def _authorized(self, headers) -> bool:
        given = ""
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        else:
            for part in headers.get("cookie", "").split(";"):
                name, _, value = part.strip().partition("=")
                if name == TOKEN_COOKIE:
                    given = value
        return hmac.compare_digest(given.encode(), self.token.encode())


class BodyTooLarge(Exception):
    pass


async def _answer(send, status: int, message: str, extra: dict | None = None) -> None:
    body = json.dumps({"detail": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + SECURITY_HEADERS}
    )
    await send({"type": "http.response.body", "body": body})
