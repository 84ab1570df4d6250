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
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

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
) -> tuple[Platform, bool]:
    """Create the registration, or update its URLs and add deployments; (platform, created)."""
    platform = session.scalar(
        select(Platform)
        .where(Platform.issuer == issuer, Platform.client_id == client_id)
        .options(selectinload(Platform.deployments))
    )
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
    """`moodle.example.org`, `https://moodle.example.org/` or `host:8443` -> `host[:port]`."""
    value = value.strip().lower()
    netloc = urlsplit(value if "//" in value else f"//{value}").netloc
    return _netloc(netloc, "")


def _netloc(netloc: str, scheme: str) -> str:
    host = netloc.rsplit("@", 1)[-1].lower()
    default = {"https": ":443", "http": ":80"}.get(scheme)
    if default and host.endswith(default):
        host = host[: -len(default)]
    return host


def url_host(url: str) -> str:
    parts = urlsplit(url)
    return _netloc(parts.netloc, parts.scheme)


def invite(
    session: Session, *, host: str | None = None, note: str = "", lifetime: timedelta | None = None
) -> tuple[LtiRegistrationInvite, str | None]:
    """A one-time registration token (returned once, stored hashed) or an allowed host."""
    now = utcnow()
    if host:
        row = LtiRegistrationInvite(
            host=normalise_host(host),
            note=note,
            created_at=now,
            expires_at=now + lifetime if lifetime else None,
        )
        session.add(row)
        session.flush()
        return row, None
    token = secrets.token_urlsafe(24)
    row = LtiRegistrationInvite(
        token_digest=_digest(token),
        note=note,
        created_at=now,
        expires_at=now + (lifetime or INVITE_LIFETIME),
    )
    session.add(row)
    session.flush()
    return row, token


def invite_url(urls: ToolUrls, token: str | None) -> str:
    return f"{urls.register}?invite={token}" if token else urls.register


def _allowed(session: Session, invite_token: str | None, config_host: str) -> LtiRegistrationInvite:
    now = utcnow()
    if invite_token:
        row = session.scalar(
            select(LtiRegistrationInvite).where(
                LtiRegistrationInvite.token_digest == _digest(invite_token)
            )
        )
        if row is None or row.used_at is not None or (row.expires_at and row.expires_at < now):
            raise _refused("registration invite unknown, used or expired")
        return row
    row = session.scalar(
        select(LtiRegistrationInvite).where(LtiRegistrationInvite.host == config_host)
    )
    if row is None or (row.expires_at and row.expires_at < now):
        raise _refused(f"dynamic registration from host {config_host!r}, which is not allowed")
    return row


def _refused(reason: str) -> LaunchError:
    return LaunchError(
        reason,
        status=403,
        title="Cet enregistrement n’est pas autorisé.",
        advice="Demandez à l’administrateur de Repères un lien d’enregistrement "
        "(reperes platform invite), puis recommencez depuis Moodle.",
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
    except requests.RequestException as exc:
        raise LaunchError(
            f"platform unreachable at {url}: {type(exc).__name__}",
            status=502,
            title="Moodle n’a pas répondu.",
            advice="Réessayez dans un moment.",
        ) from None
    if response.status_code >= 400:
        raise LaunchError(
            f"platform answered {response.status_code} at {url}: {response.text[:200]!r}",
            status=502,
            title="Moodle a refusé l’enregistrement.",
            advice="Recommencez l’enregistrement depuis Moodle.",
        )
    try:
        return response.json()
    except ValueError:
        raise LaunchError(f"platform answered non-JSON at {url}", status=502) from None


def _required_url(config: dict[str, Any], name: str) -> str:
    value = config.get(name)
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https"):
        raise LaunchError(f"platform configuration has no valid {name}", status=502)
    return value


def register(
    lti: LtiContext,
    *,
    openid_configuration: str,
    registration_token: str | None,
    invite_token: str | None,
) -> Registered:
    """Run LTI Dynamic Registration for an allowed platform; store it only when it succeeded."""
    if not openid_configuration:
        raise LaunchError(
            "registration without openid_configuration",
            title="Lien incomplet.",
            advice="Lancez l’enregistrement depuis l’administration de Moodle.",
        )
    parts = urlsplit(openid_configuration)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LaunchError("openid_configuration is not an http(s) URL")
    config_host = url_host(openid_configuration)
    with lti.sessions.begin() as session:
        invite_id = _allowed(session, invite_token, config_host).id

    config = _fetch_json(
        lti.http, "GET", openid_configuration, headers={"Accept": "application/json"}
    )
    if not isinstance(config, dict):
        raise LaunchError("platform configuration is not a JSON object", status=502)
    issuer = config.get("issuer")
    if not isinstance(issuer, str) or url_host(issuer) != config_host:
        raise LaunchError(
            f"platform issuer {issuer!r} does not match the configuration host {config_host!r}",
            status=502,
        )
    auth_url = _required_url(config, "authorization_endpoint")
    token_url = _required_url(config, "token_endpoint")
    jwks_url = _required_url(config, "jwks_uri")
    registration_endpoint = _required_url(config, "registration_endpoint")
    algs = config.get("id_token_signing_alg_values_supported") or []
    if "RS256" not in algs:
        raise LaunchError("platform does not sign id_tokens with RS256", status=502)
    platform_conf = config.get(PLATFORM_CONFIGURATION) or {}
    product = (
        str(platform_conf.get("product_family_code", "")) if isinstance(platform_conf, dict) else ""
    )

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
        platform, _ = add_platform(
            session,
            issuer=issuer,
            client_id=client_id,
            deployment_ids=[deployment_id] if deployment_id else [],
            auth_url=auth_url,
            token_url=token_url,
            jwks_url=jwks_url,
            name=f"{product or 'LTI'} {config_host}",
        )
        row = session.get(LtiRegistrationInvite, invite_id)
        if row is not None and row.token_digest is not None:
            if row.used_at is not None:  # the same one-time URL, used twice at once
                raise _refused("registration invite used by a concurrent registration")
            row.used_at = utcnow()
            row.platform_id = platform.id
        platform_id = platform.id
    log.info(
        "dynamic registration: issuer=%s client_id=%s deployment=%s",
        issuer,
        client_id,
        deployment_id,
    )
    return Registered(platform_id, issuer, client_id, deployment_id, product)
