"""Names of the LTI 1.3 claims, and the launch message once validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
MESSAGE_TYPE = LTI + "message_type"
VERSION = LTI + "version"
DEPLOYMENT_ID = LTI + "deployment_id"
TARGET_LINK_URI = LTI + "target_link_uri"
ROLES = LTI + "roles"
CONTEXT = LTI + "context"
RESOURCE_LINK = LTI + "resource_link"
CUSTOM = LTI + "custom"
LAUNCH_PRESENTATION = LTI + "launch_presentation"
TOOL_PLATFORM = LTI + "tool_platform"
EXT = LTI + "ext"
LIS_CLAIM = LTI + "lis"
NRPS = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
AGS = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
DL_SETTINGS = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
DL_CONTENT_ITEMS = "https://purl.imsglobal.org/spec/lti-dl/claim/content_items"
DL_DATA = "https://purl.imsglobal.org/spec/lti-dl/claim/data"
DL_MSG = "https://purl.imsglobal.org/spec/lti-dl/claim/msg"

RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
DEEP_LINKING_RESPONSE = "LtiDeepLinkingResponse"
SUBMISSION_REVIEW_REQUEST = "LtiSubmissionReviewRequest"
# What Repères answers; any other message type is refused.
KNOWN_MESSAGE_TYPES = frozenset(
    {RESOURCE_LINK_REQUEST, DEEP_LINKING_REQUEST, SUBMISSION_REVIEW_REQUEST}
)
# Messages about one resource link: they must name it.
RESOURCE_MESSAGES = frozenset({RESOURCE_LINK_REQUEST, SUBMISSION_REVIEW_REQUEST})

SCOPE_NRPS = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
SCOPE_LINEITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
SCOPE_LINEITEM_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
SCOPE_RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
SCOPE_SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
TOOL_SCOPES = (
    SCOPE_LINEITEM,
    SCOPE_LINEITEM_READONLY,
    SCOPE_RESULT_READONLY,
    SCOPE_SCORE,
    SCOPE_NRPS,
)

# The custom parameter a deep-linked resource carries to name its référentiel.
CUSTOM_REFERENTIEL = "reperes_referentiel"


@dataclass(frozen=True)
class LaunchMessage:
    """An id_token that passed every check, reduced to what Repères uses."""

    platform_id: int
    issuer: str
    client_id: str
    deployment_id: str
    message_type: str
    sub: str
    nonce: str
    target_link_uri: str
    roles: tuple[str, ...]
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    email: str | None = None
    username: str | None = None
    context_id: str | None = None
    context_title: str = ""
    context_label: str = ""
    resource_link_id: str | None = None
    product_family_code: str = ""
    nrps_url: str | None = None
    ags_lineitems_url: str | None = None
    ags_lineitem_url: str | None = None
    ags_scopes: tuple[str, ...] = ()
    custom: dict[str, Any] = field(default_factory=dict)
    deep_linking: dict[str, Any] | None = None

    @classmethod
    def from_claims(
        cls, claims: dict[str, Any], *, platform_id: int, client_id: str
    ) -> LaunchMessage:
        """Read the claims already checked by the validator; absent optional parts stay empty."""
        context = _dict(claims.get(CONTEXT))
        link = _dict(claims.get(RESOURCE_LINK))
        nrps = _dict(claims.get(NRPS))
        ags = _dict(claims.get(AGS))
        ext = _dict(claims.get(EXT))
        settings = claims.get(DL_SETTINGS)
        context_id = context.get("id")
        return cls(
            platform_id=platform_id,
            issuer=claims["iss"],
            client_id=client_id,
            deployment_id=claims[DEPLOYMENT_ID],
            message_type=claims[MESSAGE_TYPE],
            sub=claims["sub"],
            nonce=claims["nonce"],
            target_link_uri=claims[TARGET_LINK_URI],
            roles=tuple(claims[ROLES]),
            name=_str(claims.get("name")),
            given_name=_str(claims.get("given_name")),
            family_name=_str(claims.get("family_name")),
            email=_str(claims.get("email")),
            username=_str(ext.get("user_username")),
            context_id=str(context_id) if context_id not in (None, "") else None,
            context_title=_str(context.get("title")) or "",
            context_label=_str(context.get("label")) or "",
            resource_link_id=_str(link.get("id")),
            product_family_code=_str(_dict(claims.get(TOOL_PLATFORM)).get("product_family_code"))
            or "",
            nrps_url=_str(nrps.get("context_memberships_url")),
            ags_lineitems_url=_str(ags.get("lineitems")),
            ags_lineitem_url=_str(ags.get("lineitem")),
            ags_scopes=tuple(s for s in ags.get("scope") or () if isinstance(s, str)),
            custom=_dict(claims.get(CUSTOM)),
            deep_linking=settings if isinstance(settings, dict) else None,
        )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None
