"""LTI roles -> the people of Repères (see GLOSSARY.md, "People").

Rules, in order:
1. an Administrator role, of the context or of the institution, makes a coordinateur;
2. Instructor, TeachingAssistant or Mentor in the context makes an accompagnateur;
3. when the launch carries no context role at all, the institution role decides the same way
   (Instructor, Faculty, Mentor -> accompagnateur): a teacher who follows a course as a
   learner stays a candidat there;
4. anyone else — Learner, an unknown or empty role — is a candidat, with no extra right.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..models import Role

_LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
_KINDS = (
    (_LIS + "membership", "context"),
    (_LIS + "institution/person", "institution"),
    (_LIS + "system/person", "system"),
    ("urn:lti:role:ims/lis/", "context"),  # LTI 1.1 forms, still seen in the wild
    ("urn:lti:instrole:ims/lis/", "institution"),
    ("urn:lti:sysrole:ims/lis/", "system"),
)
_ACCOMPAGNATEUR_CONTEXT = frozenset({"Instructor", "TeachingAssistant", "Mentor"})
_ACCOMPAGNATEUR_INSTITUTION = frozenset({"Instructor", "Faculty", "Mentor"})


@dataclass(frozen=True)
class ParsedRole:
    kind: str  # context | institution | system
    principal: str  # "Instructor"
    sub: str = ""  # "TeachingAssistant" in ".../membership/Instructor#TeachingAssistant"


def parse_role(uri: str) -> ParsedRole | None:
    """Split one role (full URI, LTI 1.1 URN or short name) into kind, principal and sub-role."""
    uri = uri.strip()
    if not uri:
        return None
    for prefix, kind in _KINDS:
        if not uri.startswith(prefix):
            continue
        rest = uri[len(prefix) :]
        if prefix.startswith("urn:"):
            principal, _, sub = rest.partition("/")
            return ParsedRole(kind, principal, sub)
        # "#Learner" or "/Instructor#TeachingAssistant"
        path, _, name = rest.partition("#")
        principal = path.strip("/")
        if principal:
            return ParsedRole(kind, principal, name)
        return ParsedRole(kind, name)
    if ":" in uri or "/" in uri:
        return None  # some other vocabulary: unknown
    return ParsedRole("context", uri)  # a short name is a context role (LTI Core §5.3.7.1)


@dataclass(frozen=True)
class RoleMapping:
    role: Role
    institution_admin: bool


def map_roles(roles: Iterable[str]) -> RoleMapping:
    """The Repères role of a launch, and whether it names an institution administrator."""
    parsed = [p for p in (parse_role(r) for r in roles if isinstance(r, str)) if p]
    names = {(p.kind, p.principal) for p in parsed} | {(p.kind, p.sub) for p in parsed if p.sub}
    institution_admin = ("institution", "Administrator") in names
    if institution_admin or ("context", "Administrator") in names:
        return RoleMapping(Role.COORDINATEUR, institution_admin)
    if any((("context", n) in names) for n in _ACCOMPAGNATEUR_CONTEXT):
        return RoleMapping(Role.ACCOMPAGNATEUR, institution_admin)
    has_context_role = any(kind == "context" for kind, _ in names)
    if not has_context_role and any(
        ("institution", n) in names for n in _ACCOMPAGNATEUR_INSTITUTION
    ):
        return RoleMapping(Role.ACCOMPAGNATEUR, institution_admin)
    return RoleMapping(Role.CANDIDAT, institution_admin)
