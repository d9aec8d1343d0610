"""The guard in front of every request: who may call, from where, with how much.

A pure ASGI middleware (not BaseHTTPMiddleware), so server-sent event streams pass untouched.
- Host: only the server's own names (loopback, the bound name, REGLAB_ALLOWED_HOSTS), token or
  not. A DNS-rebinding page (a foreign name that resolves to 127.0.0.1) still sends its own Host.
  The Host is parsed as a real host[:port]; anything else answers 400.
- Origin: a state-changing request whose Origin is not this server's own scheme, host and port is
  refused (CSRF), as is one a browser marks cross-site.
- Token: with REGLAB_TOKEN set, every request carries it (a cookie after /login, or a bearer
  header for scripts); the static files and the login page excepted. The cookie holds an HMAC of
  the token, never the token. Wrong tokens are counted per client address: past
  MAX_TOKEN_FAILURES in TOKEN_FAILURE_WINDOW_S seconds every token attempt from that address
  (right or wrong, so that guessing learns nothing) answers 429 until the oldest failure ages out.
- Size: request bodies over the limit are refused before they are read.
- Headers: no framing, no sniffing, and a content security policy that runs only our own scripts.
"""

import hashlib
import hmac
import ipaddress
import json
import math
import re
import time
from collections import OrderedDict, deque
from urllib.parse import quote

from store.settings import Settings

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
TOKEN_COOKIE = "reglab_token"
COOKIE_LABEL = b"reglab login cookie v1"
OPEN_PATHS = ("/static/", "/login")
LOGIN_PATH = "/login"
MAX_TOKEN_FAILURES = 10
TOKEN_FAILURE_WINDOW_S = 60.0
MAX_CLIENTS_TRACKED = 10_000  # the failure table's bound: the least recently failed go first
DEFAULT_PORTS = {"http": 80, "https": 443}
CSP = (
    # blob: images: Plotly's PNG download draws the chart's SVG through a blob URL it creates.
    "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
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
# A DNS label (underscores too: container and service names carry them); ASCII only.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
_PORT = re.compile(r"[0-9]{1,5}")
_ORIGIN = re.compile(r"(https?)://([^/?#@\\]+)")


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def parse_host(value: str) -> tuple[str, int | None] | None:
    """A Host header (RFC 9110: uri-host [":" port]) as (name, port), or None if it is not one.

    Names come back normalised so that one host compares equal however it is written: IP
    addresses as ipaddress prints them (IPv6 without brackets), DNS names in lower case without a
    trailing dot. An IPv6 address must be in brackets; the port, when present, is 1-65535 in ASCII
    digits. So `[::1]evil.com`, `localhost:evil`, `localhost:`, `a b` and `user@host` are None.
    """
    if not value or not value.isascii() or len(value) > 300:
        return None
    value = value.lower()
    if value.startswith("["):
        inside, bracket, rest = value[1:].partition("]")
        address = _ip(inside) if bracket and "%" not in inside else None
        if not isinstance(address, ipaddress.IPv6Address):
            return None
        name = str(address)
        if rest == "":
            return name, None
        if not rest.startswith(":"):
            return None
        port_text = rest[1:]
    else:
        name, colon, port_text = value.partition(":")
        if ":" in port_text:  # an unbracketed IPv6 address, or garbage
            return None
        address = _ip(name)
        if address is not None:
            name = str(address)
        elif len(name) > 253 or not _HOST_NAME.fullmatch(name):
            return None
        else:
            name = name.removesuffix(".")
        if not colon:
            return name, None
    if not _PORT.fullmatch(port_text) or not 0 < int(port_text) <= 65535:
        return None
    return name, int(port_text)


def host_name(entry: str) -> str | None:
    """A configured name (REGLAB_HOST, an REGLAB_ALLOWED_HOSTS entry) in parse_host's form; a bare
    IPv6 address is accepted here, a port ignored. None if it is no host name."""
    address = _ip(entry.strip().strip("[]"))
    if address is not None:
        return str(address)
    parsed = parse_host(entry.strip())
    return parsed[0] if parsed else None


def bind_host_valid(host: str) -> bool:
    """Something to listen on: an IP address (IPv6 without brackets, as sockets take it) or a DNS
    name, with no port."""
    if _ip(host) is not None:
        return True
    parsed = parse_host(host)
    return parsed is not None and parsed[1] is None and not host.startswith("[")


def is_loopback(host: str) -> bool:
    """True only for `localhost` or an address that parses as loopback (127.0.0.0/8, ::1, and
    ::ffff:127.x.y.z). A name that merely starts like one (`127.evil.com`) is not loopback."""
    name = host.strip().lower()
    if name in ("localhost", "localhost."):
        return True
    address = _ip(name.removeprefix("[").removesuffix("]"))
    if address is None:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def cookie_value(token: str) -> str:
    """What the login cookie holds: an HMAC-SHA256 of a fixed label keyed by the token. A stolen
    cookie opens this server's pages but does not reveal the token (which scripts and other
    servers may share), and changing the token logs every browser out."""
    return hmac.new(token.encode(), COOKIE_LABEL, hashlib.sha256).hexdigest()


class TokenThrottle:
    """Wrong tokens per client address, in memory and bounded: at most `max_clients` addresses,
    each with its last `limit` failure times."""

    def __init__(
        self,
        limit: int = MAX_TOKEN_FAILURES,
        window_s: float = TOKEN_FAILURE_WINDOW_S,
        max_clients: int = MAX_CLIENTS_TRACKED,
        clock=time.monotonic,
    ):
        self.limit, self.window_s = limit, window_s
        self.max_clients, self.clock = max_clients, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._failures)

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until this client may try a token again; None if it may now."""
        times = self._failures.get(client)
        if times is None or len(times) < self.limit:
            return None
        wait = times[0] + self.window_s - self.clock()
        return max(1, math.ceil(wait)) if wait > 0 else None

    def fail(self, client: str) -> None:
        now = self.clock()
        times = self._failures.pop(client, None) or deque(maxlen=self.limit)
        times.append(now)
        self._failures[client] = times  # the most recent failure last
        # Drop the least recent: beyond the bound, or with nothing left inside the window.
        while self._failures:
            oldest = next(iter(self._failures.values()))
            if len(self._failures) <= self.max_clients and oldest[-1] > now - self.window_s:
                break
            self._failures.popitem(last=False)


class Guard:
    def __init__(self, app, settings: Settings):
        self.app = app
        self.token = settings.token.get_secret_value() if settings.token else None
        self.cookie = cookie_value(self.token) if self.token is not None else None
        self.allowed = {"localhost"}
        for entry in settings.allowed_hosts:
            name = host_name(entry)
            if name is None:
                raise ValueError(f"REGLAB_ALLOWED_HOSTS: {entry!r} is not a host name")
            self.allowed.add(name)
        bound = host_name(settings.host)
        bound_ip = _ip(bound) if bound else None
        if bound and not (bound_ip is not None and bound_ip.is_unspecified):  # not 0.0.0.0 or ::
            self.allowed.add(bound)
        self.max_body = settings.max_body_bytes
        self.throttle = TokenThrottle()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        client = (scope.get("client") or ("unknown",))[0]
        refusal = self._refuse(scope, headers, client)
        if refusal is not None:
            return await _answer(send, *refusal)
        is_login = self.token is not None and scope["method"] == "POST"
        is_login = is_login and scope["path"] == LOGIN_PATH

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                if is_login and message["status"] == 401:  # the login form's "not the token"
                    self.throttle.fail(client)
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

    def _refuse(self, scope, headers, client) -> tuple[int, str] | tuple[int, str, dict] | None:
        host = parse_host(headers.get("host", "").strip())
        if host is None:
            return 400, "The Host header is not a host name with an optional port."
        name, port = host
        if name not in self.allowed and not is_loopback(name):
            return 400, (
                f"Unknown Host {name!r}; add it to REGLAB_ALLOWED_HOSTS if it is this server."
            )
        method = scope["method"]
        if method not in SAFE_METHODS:
            origin = headers.get("origin")
            own = (scope.get("scheme", "http"), name, port or DEFAULT_PORTS.get(scope["scheme"]))
            if origin and _origin(origin) != own:
                return 403, "Cross-site request refused (its Origin is not this server)."
            if headers.get("sec-fetch-site") == "cross-site":
                return 403, "Cross-site request refused."
        length = headers.get("content-length")
        if length is not None:
            # ASCII digits only ("²".isdigit() is true), and few enough for int() to take.
            if not (length.isascii() and length.isdigit() and len(length) <= 20):
                return 400, "The Content-Length header is not a number of bytes."
            if int(length) > self.max_body:
                return 413, f"Request body over {self.max_body} bytes."
        if self.token is None:
            return None
        path = scope["path"]
        given, by_cookie = self._credential(headers)
        checked = not path.startswith(OPEN_PATHS)  # where a token is compared (or the login form)
        if (checked and given is not None) or (method == "POST" and path == LOGIN_PATH):
            wait = self.throttle.retry_after(client)
            if wait is not None:
                message = f"Too many wrong tokens from {client}; try again in {wait} s."
                return 429, message, {"retry-after": str(wait)}
        if not checked:
            return None
        expected = self.cookie if by_cookie else self.token
        if given is not None and hmac.compare_digest(given.encode(), expected.encode()):
            return None
        extra = {}
        if given is not None:
            self.throttle.fail(client)
            if by_cookie:  # a stale cookie (an older token's): dropped, so it fails only once
                extra["set-cookie"] = (
                    f"{TOKEN_COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"
                )
        if path.startswith("/api/") or method not in SAFE_METHODS:
            return 401, "A token is required (Authorization: Bearer <REGLAB_TOKEN>).", extra
        target = quote(path, safe="/")
        return 303, "Log in first.", {**extra, "location": f"/login?next={target}"}

    @staticmethod
    def _credential(headers) -> tuple[str | None, bool]:
        """(the token or cookie value the request carries, whether it came as the cookie)."""
        auth = headers.get("authorization", "")
        if auth[:7].lower() == "bearer ":
            return auth[7:].strip(), False
        for part in headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == TOKEN_COOKIE and value:
                return value, True
        return None, False


def _origin(origin: str) -> tuple[str, str, int] | None:
    """'http://127.0.0.1:8000' -> ('http', '127.0.0.1', 8000); None for 'null' or anything that is
    not scheme://host[:port]."""
    m = _ORIGIN.fullmatch(origin.strip().lower())
    host = parse_host(m.group(2)) if m else None
    if host is None:
        return None
    return m.group(1), host[0], host[1] or DEFAULT_PORTS[m.group(1)]


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
