"""Platform registrations: by hand (the CLI) or by LTI Dynamic Registration.

Dynamic registration is open only to platforms the operator allowed, by a one-time URL
(`reperes platform invite`) or by host (`reperes platform invite --host`). The platform's
configuration is fetched only after that check, so an unknown visitor cannot make the
tool call arbitrary addresses, and nothing is stored unless the platform accepted us.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from connectors.outbound import OutboundPolicy, OutboundRefused, loggable

from ..models import Deployment, Platform
from . import claims as c
from .context import LtiContext, ToolUrls
from .errors import LaunchError
from .http import TIMEOUT
from .models import LtiRegistrationInvite

log = logging.getLogger(__name__)

TOOL_NAME = "Repères"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
INVITE_LIFETIME = timedelta(days=7)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- by hand ----------------------------------------------------------------------------


class SameIssuer(ValueError):
    """The issuer is registered already with another client id (the same Moodle registered
    twice, by hand and by dynamic registration): one Moodle must stay one platform, or
    each of its people would become two persons."""

    def __init__(self, issuer: str, platform_id: int, client_id: str) -> None:
        self.platform_id = platform_id
        super().__init__(
            f"issuer {issuer} is already registered as platform {platform_id} (client id "
            f"{client_id}): the same Moodle registered twice would make two persons of each "
            f"user. Nothing added. Use that registration (`reperes platform add` with its "
            f"client id adds deployments), or delete the tool in Moodle and register once "
            f"(--second-registration: keep both, knowingly)."
        )


def add_platform(
    session: Session,
    *,
    issuer: str,
    client_id: str,
    deployment_ids: Sequence[str],
    auth_url: str,
    token_url: str,
    jwks_url: str,
    name: str = "",
    second_registration: bool = False,
) -> tuple[Platform, bool]:
    """Create the registration, or update its URLs and add deployments; (platform, created).

    SameIssuer when this issuer is registered already with another client id, unless
    `second_registration` (two tool registrations in one Moodle, wanted as such).
    """
    platform = session.scalar(
        select(Platform)
        .where(Platform.issuer == issuer, Platform.client_id == client_id)
        .options(selectinload(Platform.deployments))
    )
    other = None if second_registration or platform is not None else session.execute(
        select(Platform.id, Platform.client_id)
        .where(Platform.issuer.in_((issuer.rstrip("/"), issuer.rstrip("/") + "/")),
               Platform.client_id != client_id)
        .limit(1)
    ).first()
    if other is not None:
        raise SameIssuer(issuer.rstrip("/"), other[0], other[1])
    created = platform is None
    if platform is None:
        platform = Platform(issuer=issuer, client_id=client_id, settings={}, deployments=[])
        session.add(platform)
    platform.auth_url = auth_url
    platform.token_url = token_url
    platform.jwks_url = jwks_url
    platform.name = name or platform.name or urlsplit(issuer).netloc or issuer
    platform.active = True
    known = {d.deployment_id for d in platform.deployments}
    for deployment_id in deployment_ids:
        if deployment_id and deployment_id not in known:
            platform.deployments.append(Deployment(deployment_id=deployment_id))
            known.add(deployment_id)
    session.flush()
    return platform, created


def list_platforms(session: Session) -> list[Platform]:
    return list(
        session.scalars(
            select(Platform).options(selectinload(Platform.deployments)).order_by(Platform.id)
        )
    )


# --- invites ----------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_host(value: str) -> str:
    """What an operator allowed, stored as written but canonical.

    `moodle.example.org` or `https://moodle.example.org/` -> `moodle.example.org` (https on
    443 only); `host:8443` -> `host:8443` (that port, http or https);
    `http://host` -> `http://host` (plain http on 80); `http://host:8080` -> `http://host:8080`.
    """
    value = value.strip().lower()
    if any(c in value for c in "@\\ \t") or any(ord(c) < 0x20 for c in value):
        raise ValueError(f"not a host: {value!r}")
    parts = urlsplit(value if "//" in value else f"//{value}")
    if parts.scheme not in ("", "http", "https") or not parts.hostname:
        raise ValueError(f"not a host: {value!r}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    port = parts.port
    if parts.scheme == "http":
        return f"http://{host}" + (f":{port}" if port and port != 80 else "")
    if port and not (parts.scheme == "https" and port == 443):
        return f"{host}:{port}"
    return host


def _invite_allows(allowed: str, scheme: str, host: str, port: int) -> bool:
    """Whether the stored host invite `allowed` covers a request to scheme://host:port."""
    plain_http = allowed.startswith("http://")
    parts = urlsplit(allowed if plain_http else f"//{allowed}")
    if (parts.hostname or "") != host.strip("[]").lower():
        return False
    if plain_http:
        return scheme == "http" and port == (parts.port or 80)
    if parts.port is not None:  # the operator wrote a port: that port, either scheme
        return port == parts.port
    return scheme == "https" and port == 443


def url_host(url: str) -> str:
    """`host` or `host:port` of a URL, without its default port (for names and messages)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return host if parts.port in (None, default) else f"{host}:{parts.port}"


def invite(
    session: Session, *, host: str | None = None, note: str = "", lifetime: timedelta | None = None
) -> tuple[LtiRegistrationInvite, str | None]:
    """A one-time registration token (returned once, stored hashed) or an allowed host.

    Both are spent by their first use, successful or not, and expire (7 days by default).
    Inviting a host again opens it again.
    """
    now = utcnow()
    expires_at = now + (lifetime or INVITE_LIFETIME)
    if host:
        allowed = normalise_host(host)
        row = session.scalar(
            select(LtiRegistrationInvite).where(LtiRegistrationInvite.host == allowed)
        )
        if row is None:
            row = LtiRegistrationInvite(host=allowed)
            session.add(row)
        row.note = note
        row.created_at = now
        row.expires_at = expires_at
        row.used_at = None
        row.platform_id = None
        session.flush()
        return row, None
    token = secrets.token_urlsafe(24)
    row = LtiRegistrationInvite(
        token_digest=_digest(token), note=note, created_at=now, expires_at=expires_at
    )
    session.add(row)
    session.flush()
    return row, token


def invite_url(urls: ToolUrls, token: str | None) -> str:
    return f"{urls.register}?invite={token}" if token else urls.register


def _spend_invite(
    session: Session, invite_token: str | None, scheme: str, host: str, port: int, shown: str
) -> int:
    """Find the invite that allows this registration and mark it used, or LaunchError.

    The caller commits at once: the invite is spent before anything is fetched, so a
    failed attempt cannot be retried with it.
    """
    now = utcnow()
    if invite_token:
        row = session.scalar(
            select(LtiRegistrationInvite).where(
                LtiRegistrationInvite.token_digest == _digest(invite_token)
            )
        )
        if row is None:
            raise _refused("registration invite unknown", shown)
    else:
        rows = session.scalars(
            select(LtiRegistrationInvite).where(LtiRegistrationInvite.host.is_not(None))
        ).all()
        found = [r for r in rows if _invite_allows(r.host or "", scheme, host, port)]
        if not found:
            raise _refused(
                f"dynamic registration from {scheme}://{host}:{port}, which is not allowed",
                shown,
            )
        row = next((r for r in found if r.used_at is None), found[0])
    if row.expires_at is not None and row.expires_at < now:
        raise _refused(f"registration invite {row.id} expired", shown)
    # Spent only if nobody spent it first (two requests at once).
    spent = session.execute(
        update(LtiRegistrationInvite)
        .where(LtiRegistrationInvite.id == row.id, LtiRegistrationInvite.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(spent, "rowcount", 0) != 1:
        raise _refused(f"registration invite {row.id} already used", shown)
    return row.id


def _refused(reason: str, target: str) -> LaunchError:
    log.warning("dynamic registration refused: %s; configuration URL %s", reason, target)
    return LaunchError(
        reason,
        status=403,
        title="Cet enregistrement n’est pas autorisé.",
        advice="Demandez à l’administrateur de Repères un lien d’enregistrement "
        "(reperes platform invite), puis recommencez depuis Moodle.",
    )


def _already_registered(issuer: str, platform_id: int, target: str) -> LaunchError:
    log.warning(
        "dynamic registration refused: issuer %s is already registered as platform %s; "
        "configuration URL %s. Change it with `reperes platform` commands.",
        issuer,
        platform_id,
        target,
    )
    return LaunchError(
        f"issuer {issuer} already registered as platform {platform_id}",
        status=409,
        title="Ce Moodle est déjà enregistré dans Repères.",
        advice="Rien n’a été changé. Pour modifier l’enregistrement, "
        "demandez à l’administrateur de Repères.",
    )


# --- dynamic registration ---------------------------------------------------------------


@dataclass(frozen=True)
class Registered:
    platform_id: int
    issuer: str
    client_id: str
    deployment_id: str | None
    product: str


def tool_configuration(urls: ToolUrls) -> dict[str, Any]:
    """What we ask the platform to register (LTI Dynamic Registration §3.4)."""
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": urls.login,
        "redirect_uris": [urls.launch],
        "client_name": TOOL_NAME,
        "jwks_uri": urls.jwks,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(c.TOOL_SCOPES),
        TOOL_CONFIGURATION: {
            "domain": urls.domain,
            "target_link_uri": urls.launch,
            "description": "Reconnaître ce que je sais faire : tâches, preuves, compétences.",
            "claims": ["iss", "sub", "name", "given_name", "family_name", "email"],
            "messages": [
                {"type": c.RESOURCE_LINK_REQUEST, "target_link_uri": urls.launch},
                {
                    "type": c.DEEP_LINKING_REQUEST,
                    "target_link_uri": urls.deep_linking,
                    "label": "Ajouter Repères au cours",
                },
            ],
        },
    }


def _fetch_json(http: requests.Session, method: str, url: str, **kwargs: Any) -> Any:
    try:
        response = http.request(method, url, timeout=TIMEOUT, **kwargs)
    except OutboundRefused as exc:
        log.warning("dynamic registration refused: %s; target %s", exc.reason, exc.url)
        raise LaunchError(
            f"registration request refused by the outbound policy: {exc.reason} ({exc.url})",
            status=403,
            title="Cet enregistrement n’est pas autorisé.",
            advice="Demandez à l’administrateur de Repères de vérifier l’adresse de Moodle.",
        ) from None
    except requests.RequestException as exc:
        raise LaunchError(
            f"platform unreachable at {loggable(url)}: {type(exc).__name__}",
            status=502,
            title="Moodle n’a pas répondu.",
            advice="Réessayez dans un moment.",
        ) from None
    if response.status_code >= 400:
        raise LaunchError(
            f"platform answered {response.status_code} at {loggable(url)}: "
            f"{response.text[:200]!r}",
            status=502,
            title="Moodle a refusé l’enregistrement.",
            advice="Recommencez l’enregistrement depuis Moodle.",
        )
    try:
        return response.json()
    except ValueError:
        raise LaunchError(f"platform answered non-JSON at {loggable(url)}", status=502) from None


def _required_url(config: dict[str, Any], name: str, origin: tuple[str, str, int]) -> str:
    """An endpoint of the configuration: an http(s) URL on the platform's own host."""
    value = config.get(name)
    if not isinstance(value, str):
        raise LaunchError(f"platform configuration has no valid {name}", status=502)
    try:
        found = _origin(value)
    except LaunchError:
        raise LaunchError(f"platform configuration has no valid {name}", status=502) from None
    if found[1] != origin[1]:
        log.warning(
            "dynamic registration refused: %s %s is not on the platform host %s",
            name,
            loggable(value),
            origin[1],
        )
        raise LaunchError(
            f"platform {name} {loggable(value)} is not on the platform host {origin[1]}",
            status=502,
        )
    return value


def _origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a URL read as urllib3 will connect; LaunchError if ambiguous."""
    try:
        parts = _POLICY_FORM.check_url(url)
        prepared = requests.Request("GET", url).prepare().url or ""
        again = _POLICY_FORM.check_url(prepared)
    except (OutboundRefused, requests.RequestException, ValueError) as exc:
        raise LaunchError(f"ambiguous or invalid URL {loggable(url)}: {exc}") from None
    scheme = (again.scheme or "").lower()
    host = (again.host or "").lower().strip("[]")
    port = again.port or {"http": 80, "https": 443}[scheme]
    if (parts.host or "").lower().strip("[]") != host:
        raise LaunchError(f"ambiguous URL {loggable(url)}")
    return scheme, host, port


# The form checks only (no address is resolved here): http(s), no user info, no backslash.
_POLICY_FORM = OutboundPolicy()


def register(
    lti: LtiContext,
    *,
    openid_configuration: str,
    registration_token: str | None,
    invite_token: str | None,
) -> Registered:
    """Run LTI Dynamic Registration for an allowed platform; store it only when it succeeded.

    Never changes an existing registration: a platform already registered (same issuer)
    is refused, and the operator decides with `reperes platform` commands.
    """
    if not openid_configuration:
        raise LaunchError(
            "registration without openid_configuration",
            title="Lien incomplet.",
            advice="Lancez l’enregistrement depuis l’administration de Moodle.",
        )
    shown = loggable(openid_configuration)
    try:
        origin = _origin(openid_configuration)
    except LaunchError as exc:
        raise _refused(exc.reason, shown) from None
    scheme, config_host, port = origin
    with lti.sessions.begin() as session:  # committed before any fetch
        invite_id = _spend_invite(session, invite_token, scheme, config_host, port, shown)

    config = _fetch_json(
        lti.http, "GET", openid_configuration, headers={"Accept": "application/json"}
    )
    if not isinstance(config, dict):
        raise LaunchError("platform configuration is not a JSON object", status=502)
    issuer = config.get("issuer")
    try:
        issuer_origin = _origin(issuer) if isinstance(issuer, str) else None
    except LaunchError:
        issuer_origin = None
    if issuer_origin != origin:
        log.warning(
            "dynamic registration refused: issuer %r has not the origin of the "
            "configuration URL %s",
            issuer if not isinstance(issuer, str) else loggable(issuer),
            shown,
        )
        raise LaunchError(
            f"platform issuer {issuer!r} does not have the origin of the configuration URL "
            f"{shown}",
            status=502,
        )
    assert isinstance(issuer, str)
    issuer = issuer.rstrip("/")
    auth_url = _required_url(config, "authorization_endpoint", origin)
    token_url = _required_url(config, "token_endpoint", origin)
    jwks_url = _required_url(config, "jwks_uri", origin)
    registration_endpoint = _required_url(config, "registration_endpoint", origin)
    if _origin(registration_endpoint) != origin:
        raise _refused("registration endpoint on another origin", loggable(registration_endpoint))
    algs = config.get("id_token_signing_alg_values_supported") or []
    if "RS256" not in algs:
        raise LaunchError("platform does not sign id_tokens with RS256", status=502)
    platform_conf = config.get(PLATFORM_CONFIGURATION) or {}
    product = (
        str(platform_conf.get("product_family_code", "")) if isinstance(platform_conf, dict) else ""
    )
    with lti.sessions.begin() as session:  # refuse before asking the platform anything
        existing = _registered(session, issuer)
        if existing is not None:
            raise _already_registered(issuer, existing, shown)

    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if registration_token:
        headers["Authorization"] = f"Bearer {registration_token}"
    answer = _fetch_json(
        lti.http, "POST", registration_endpoint, json=tool_configuration(lti.urls), headers=headers
    )
    if not isinstance(answer, dict) or not isinstance(answer.get("client_id"), str):
        raise LaunchError("platform registration answer has no client_id", status=502)
    client_id = answer["client_id"]
    tool_conf = answer.get(TOOL_CONFIGURATION)
    deployment = tool_conf.get("deployment_id") if isinstance(tool_conf, dict) else None
    deployment_id = str(deployment) if deployment not in (None, "") else None
    if deployment_id is None:
        log.warning(
            "registration by %s gave no deployment_id: add it with `reperes platform add`", issuer
        )

    with lti.sessions.begin() as session:
        existing = _registered(session, issuer)  # registered meanwhile: still never changed
        if existing is not None:
            raise _already_registered(issuer, existing, shown)
        platform = Platform(
            issuer=issuer,
            client_id=client_id,
            settings={},
            auth_url=auth_url,
            token_url=token_url,
            jwks_url=jwks_url,
            name=f"{product or 'LTI'} {url_host(issuer)}",
            active=True,
            deployments=[Deployment(deployment_id=deployment_id)] if deployment_id else [],
        )
        session.add(platform)
        session.flush()
        row = session.get(LtiRegistrationInvite, invite_id)
        if row is not None:
            row.platform_id = platform.id
        platform_id = platform.id
    log.info(
        "dynamic registration: issuer=%s client_id=%s deployment=%s",
        issuer,
        client_id,
        deployment_id,
    )
    return Registered(platform_id, issuer, client_id, deployment_id, product)


def _registered(session: Session, issuer: str) -> int | None:
    """The id of a platform already registered with this issuer (any client id)."""
    variants = {issuer, issuer.rstrip("/"), issuer.rstrip("/") + "/"}
    return session.scalar(
        select(Platform.id).where(Platform.issuer.in_(variants)).order_by(Platform.id).limit(1)
    )
