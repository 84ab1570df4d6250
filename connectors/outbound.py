"""One policy for every URL the service fetches because someone else gave it.

A platform's configuration URL, its JWKS, the NRPS and AGS URLs of a launch, a Moodle
web service, a Nextcloud folder: each request goes through an :class:`OutboundSession`,
a ``requests.Session`` that

- reads the URL once, with the parser urllib3 connects with, and refuses anything
  ambiguous (user info, backslashes, spaces or control characters, a scheme other than
  http/https);
- resolves the host itself when it connects, refuses loopback, private, link-local,
  multicast, unspecified and reserved addresses (IPv4, IPv6, IPv4-mapped) and ports other
  than 80/443 unless the operator allowed them, and connects to the address it checked
  (no second DNS answer between the check and the connection; Host and SNI unchanged);
- follows no redirect, or only to the same origin when asked;
- bounds the connect and read time and the size of an answer.

Every refusal raises :class:`OutboundRefused` (a ``requests.RequestException``, so code
that handles an unreachable server handles it too) and is logged with the real target.
URLs are logged without their query string or user info: no token ever reaches a log.

The operator's allow-list is a comma-separated text (``REPERES_OUTBOUND_ALLOW``):
``moodle.lan``, ``moodle.lan:8080``, ``10.0.0.0/8``, ``127.0.0.1/32:5000``,
``[::1]:8080``, ``::1/128``. An entry without a port allows any port.

This module is a library: it imports nothing of the service.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection as urllib3_connection
from urllib3.util import parse_url

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

DEFAULT_PORTS = frozenset({80, 443})
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = 10 * 1024 * 1024


class OutboundRefused(requests.RequestException):
    """The outbound policy refused a request. ``reason`` says why, ``url`` is loggable."""

    def __init__(self, reason: str, url: str) -> None:
        super().__init__(f"outbound request refused: {reason} ({url})")
        self.reason = reason
        self.url = url


class _ConnectRefused(Exception):
    """Raised inside urllib3 (not an OSError, so urllib3 neither wraps nor retries it)."""

    def __init__(self, reason: str, host: str, port: int, address: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.host = host
        self.port = port
        self.address = address


def loggable(url: str) -> str:
    """The URL without user info, query or fragment: safe to log and to show."""
    try:
        parts = parse_url(url)
    except Exception:  # noqa: BLE001 - any unparsable text is shown bounded instead
        return ascii(url[:80])
    host = parts.host or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme or ''}://{host}{port}{parts.path or ''}"


def _ip(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_public(address: IPAddress) -> bool:
    """A global unicast address: not loopback, private, link-local, multicast, reserved…"""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public(address.ipv4_mapped)
        if address.sixtofour is not None or address.teredo is not None:
            return False
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_loopback
        and not address.is_link_local
        and not address.is_private
        and not address.is_reserved
        and not address.is_unspecified
    )


@dataclass(frozen=True)
class AllowEntry:
    """One entry of the operator's allow-list: a host name or a network, maybe a port."""

    host: str | None = None
    network: IPNetwork | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> AllowEntry:
        raw = text.strip().lower()
        if not raw:
            raise ValueError("empty entry")
        if "://" in raw or "@" in raw or "/" in raw and raw.count("/") > 1:
            raise ValueError(f"{text!r}: write a host, host:port or a network such as 10.0.0.0/8")
        port: int | None = None
        body = raw
        if body.startswith("["):  # [::1] or [::1]:8080 or [fd00::]/8:443
            close = body.find("]")
            if close < 0:
                raise ValueError(f"{text!r}: unclosed [")
            rest = body[close + 1 :]
            body = body[1:close]
            if rest.startswith("/"):
                prefix, _, port_text = rest[1:].partition(":")
                body = f"{body}/{prefix}"
                rest = f":{port_text}" if port_text else ""
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"{text!r}: unexpected {rest!r}")
                port = _port(rest[1:], text)
        elif body.count(":") == 1:  # host:port or 10.0.0.0/8:443
            body, port_text = body.split(":")
            port = _port(port_text, text)
        if "/" in body or _ip(body) is not None:
            try:
                network = ipaddress.ip_network(body, strict=False)
            except ValueError:
                raise ValueError(f"{text!r}: not a network") from None
            return cls(network=network, port=port)
        if not body or any(c in body for c in " \\\t") or not body.replace("-", "").replace(
            ".", ""
        ).replace("_", "").isalnum():
            raise ValueError(f"{text!r}: not a host name")
        return cls(host=body.rstrip("."), port=port)

    def matches(self, host: str, address: IPAddress | None, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return host.lower().rstrip(".") == self.host
        if self.network is not None and address is not None:
            if address.version != self.network.version:
                return False
            return address in self.network
        return False


def _port(text: str, entry: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ValueError(f"{entry!r}: not a port")
    return int(text)


def parse_allow(text: str | Iterable[str]) -> tuple[AllowEntry, ...]:
    """``"moodle.lan:8080, 10.0.0.0/8"`` -> entries; ValueError names a bad entry."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(AllowEntry.parse(item) for item in items if item.strip())


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0])
        if address not in seen:
            seen.append(address)
    return seen


@dataclass(frozen=True)
class OutboundPolicy:
    """What the service may fetch. Build once; share freely (immutable)."""

    allow: tuple[AllowEntry, ...] = ()
    schemes: frozenset[str] = frozenset({"http", "https"})
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    max_bytes: int | None = DEFAULT_MAX_BYTES
    resolver: Resolver = field(default=_system_resolver, compare=False, repr=False)

    @classmethod
    def from_allow(cls, text: str | Iterable[str] = "", **kwargs: Any) -> OutboundPolicy:
        return cls(allow=parse_allow(text), **kwargs)

    def allowing(self, *entries: str) -> OutboundPolicy:
        """The same policy with more entries (the demo adds its own host)."""
        return replace(self, allow=self.allow + parse_allow(entries))

    def with_limits(self, **kwargs: Any) -> OutboundPolicy:
        return replace(self, **kwargs)

    # -- checks ----------------------------------------------------------------

    def check_url(self, url: str) -> Any:
        """The parsed URL (urllib3's ``Url``) if its form is acceptable; OutboundRefused if not.

        Only the form: the address is checked when connecting.
        """
        shown = loggable(url)
        if any(ord(c) < 0x21 or c == "\x7f" for c in url):
            raise self._refuse("spaces or control characters in the URL", shown)
        if "\\" in url or "%5c" in url.lower().split("?", 1)[0]:
            raise self._refuse("backslash in the URL", shown)
        try:
            parts = parse_url(url)
        except Exception:  # noqa: BLE001 - urllib3 raises LocationParseError and others
            raise self._refuse("unparsable URL", shown) from None
        scheme = (parts.scheme or "").lower()
        if scheme not in self.schemes:
            raise self._refuse(f"scheme {scheme or '(none)'!r} not allowed", shown)
        if parts.auth is not None or "@" in (parts.netloc or ""):
            raise self._refuse("user info in the URL", shown)
        if not parts.host:
            raise self._refuse("no host in the URL", shown)
        return parts

    def check_address(self, host: str, port: int, address_text: str) -> None:
        """Raise _ConnectRefused unless connecting to ``address`` for ``host:port`` is allowed."""
        address = _ip(address_text)
        if address is None:
            raise _ConnectRefused("unresolvable address", host, port, address_text)
        allowed = any(entry.matches(host, address, port) for entry in self.allow)
        if allowed:
            return
        if not is_public(address):
            raise _ConnectRefused(
                "loopback, private, link-local or reserved address not allowed "
                "(REPERES_OUTBOUND_ALLOW)",
                host,
                port,
                address_text,
            )
        if port not in DEFAULT_PORTS:
            raise _ConnectRefused(
                f"port {port} not allowed (REPERES_OUTBOUND_ALLOW)", host, port, address_text
            )

    def resolve(self, host: str, port: int) -> list[str]:
        """The addresses to connect to, all checked; _ConnectRefused if any is refused."""
        literal = _ip(host)
        addresses = [host.strip("[]")] if literal is not None else self.resolver(host, port)
        if not addresses:
            raise _ConnectRefused("host name has no address", host, port, "-")
        for address in addresses:  # one refused answer refuses the name: no lottery
            self.check_address(host, port, address)
        return addresses

    def _refuse(self, reason: str, url: str) -> OutboundRefused:
        log.warning("outbound request refused: %s; target %s", reason, url)
        return OutboundRefused(reason, url)


# --- the transport ------------------------------------------------------------------------


class _PinnedConnectionMixin:
    """Resolve and check the host, then connect to the checked address itself."""

    policy: OutboundPolicy

    def _new_conn(self) -> socket.socket:
        host: str = self._dns_host  # type: ignore[attr-defined]
        port: int = self.port  # type: ignore[attr-defined]
        try:
            addresses = self.policy.resolve(host, port)
        except socket.gaierror as exc:
            raise NewConnectionError(self, f"Failed to resolve {host!r}: {exc}") from exc  # type: ignore[arg-type]
        error: OSError | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (address, port),
                    self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address,  # type: ignore[attr-defined]
                    socket_options=self.socket_options,  # type: ignore[attr-defined]
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(
                    self, f"Connection to {host} ({address}) timed out."
                ) from exc
            except OSError as exc:
                error = exc
                continue
            return sock
        raise NewConnectionError(
            self,  # type: ignore[arg-type]
            f"Failed to establish a new connection to {host}: {error}",
        )


class OutboundAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections go through the policy's checked addresses."""

    def __init__(self, policy: OutboundPolicy, **kwargs: Any) -> None:
        self.policy = policy
        attrs = {"policy": policy}
        http_conn = type("PinnedHTTPConnection", (_PinnedConnectionMixin, HTTPConnection), attrs)
        https_conn = type(
            "PinnedHTTPSConnection", (_PinnedConnectionMixin, HTTPSConnection), attrs
        )
        self._pools = {
            "http": type("PinnedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type(
                "PinnedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}
            ),
        }
        super().__init__(max_retries=0, **kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        manager: PoolManager = self.poolmanager
        manager.pool_classes_by_scheme = dict(self._pools)

    def __setstate__(self, state: Any) -> None:  # pragma: no cover - pickling is not used
        raise TypeError("OutboundAdapter cannot be unpickled")

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.policy.check_url(request.url or "")
        try:
            return super().send(request, **kwargs)
        except _ConnectRefused as exc:
            shown = loggable(request.url or "")
            log.warning(
                "outbound request refused: %s; target host %s port %s address %s (%s)",
                exc.reason,
                exc.host,
                exc.port,
                exc.address,
                shown,
            )
            raise OutboundRefused(
                f"{exc.reason}: {exc.host} resolves to {exc.address}", shown
            ) from None


class OutboundSession(requests.Session):
    """A requests session that applies an :class:`OutboundPolicy` to every request.

    ``same_origin_redirects``: follow a redirect only to the same scheme, host and port
    (otherwise no redirect is followed and a 3xx answer is refused).
    """

    def __init__(
        self,
        policy: OutboundPolicy | None = None,
        *,
        same_origin_redirects: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.policy = policy if policy is not None else default_policy()
        self.same_origin_redirects = same_origin_redirects
        self.trust_env = False  # no proxy or .netrc from the environment
        self.max_redirects = 3
        adapter = OutboundAdapter(self.policy)
        self.mount("http://", adapter)
        self.mount("https://", adapter)
        if headers:
            self.headers.update(headers)

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        if not self.same_origin_redirects:
            kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        policy = self.policy
        policy.check_url(request.url or "")  # also before a mounted adapter (tests, demo)
        kwargs["timeout"] = _bounded_timeout(kwargs.get("timeout"), policy)
        if not self.same_origin_redirects:
            kwargs["allow_redirects"] = False
        caller_streams = bool(kwargs.get("stream"))
        kwargs["stream"] = True
        response = super().send(request, **kwargs)
        if not self.same_origin_redirects and response.is_redirect:
            response.close()
            raise policy._refuse(
                f"redirect to {loggable(response.headers.get('location', ''))} not followed",
                loggable(request.url or ""),
            )
        _bound_body(response, policy, stream=caller_streams)
        return response

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is None:
            return None
        absolute = requests.compat.urljoin(resp.url, target)
        if _origin(absolute) != _origin(resp.url):
            resp.close()
            raise self.policy._refuse(
                f"redirect to another origin ({loggable(absolute)})", loggable(resp.url)
            )
        return target


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = parse_url(url)
    scheme = (parts.scheme or "").lower()
    return scheme, (parts.host or "").lower(), parts.port or {"http": 80, "https": 443}.get(scheme)


def same_origin(url: str, other: str) -> bool:
    """Same scheme, host and port (default ports filled in); False for anything unparsable."""
    try:
        return _origin(url) == _origin(other)
    except Exception:  # noqa: BLE001
        return False


def _bounded_timeout(timeout: Any, policy: OutboundPolicy) -> tuple[float, float]:
    if timeout is None:
        return (policy.connect_timeout, policy.read_timeout)
    if isinstance(timeout, tuple):
        connect, read = timeout
    else:
        connect = read = timeout
    return (
        min(float(connect or policy.connect_timeout), policy.connect_timeout),
        min(float(read or policy.read_timeout), policy.read_timeout),
    )


def _bound_body(response: requests.Response, policy: OutboundPolicy, *, stream: bool) -> None:
    limit = policy.max_bytes
    if limit is None:
        if not stream:
            response.content  # noqa: B018 - read it now, as requests would
        return
    url = loggable(response.url or "")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise policy._refuse(f"answer of {declared} bytes, above the {limit} bytes allowed", url)
    if stream:
        return
    content: Any = response._content
    if content is not False:  # already read (an in-process adapter)
        if len(content or b"") > limit:
            raise policy._refuse(f"answer longer than the {limit} bytes allowed", url)
        return
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise policy._refuse(f"answer longer than the {limit} bytes allowed", url)
            chunks.append(chunk)
    finally:
        response.close()
    response._content = b"".join(chunks)
    response._content_consumed = True  # type: ignore[attr-defined]


# --- the process default ------------------------------------------------------------------

_default = OutboundPolicy()


def default_policy() -> OutboundPolicy:
    """The policy sessions use when given none (strict until the service configures it)."""
    return _default


def set_default_policy(policy: OutboundPolicy) -> OutboundPolicy:
    """Make ``policy`` the process default; returns the previous one (tests restore it)."""
    global _default
    previous, _default = _default, policy
    return previous


__all__ = [
    "AllowEntry",
    "OutboundAdapter",
    "OutboundPolicy",
    "OutboundRefused",
    "OutboundSession",
    "default_policy",
    "is_public",
    "loggable",
    "parse_allow",
    "same_origin",
    "set_default_policy",
]
