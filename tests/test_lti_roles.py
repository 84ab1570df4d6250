"""LTI roles become the people of GLOSSARY.md: candidat, accompagnateur, coordinateur."""

from __future__ import annotations

import pytest

from integration.lti.roles import map_roles, parse_role
from integration.models import Role

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"


@pytest.mark.parametrize(
    ("roles", "role"),
    [
        ([LIS + "membership#Learner"], Role.CANDIDAT),
        (["Learner"], Role.CANDIDAT),
        (["urn:lti:role:ims/lis/Learner"], Role.CANDIDAT),
        ([LIS + "membership#Instructor"], Role.ACCOMPAGNATEUR),
        (["Instructor"], Role.ACCOMPAGNATEUR),
        ([LIS + "membership/Instructor#TeachingAssistant"], Role.ACCOMPAGNATEUR),
        (["TeachingAssistant"], Role.ACCOMPAGNATEUR),
        ([LIS + "membership#Mentor"], Role.ACCOMPAGNATEUR),
        (["urn:lti:role:ims/lis/Instructor"], Role.ACCOMPAGNATEUR),
        ([LIS + "membership#Administrator"], Role.COORDINATEUR),
        (["Administrator"], Role.COORDINATEUR),
        ([LIS + "institution/person#Administrator", LIS + "membership#Learner"], Role.COORDINATEUR),
        (["urn:lti:instrole:ims/lis/Administrator"], Role.COORDINATEUR),
        # Moodle's site administrator
        (
            [
                LIS + "institution/person#Administrator",
                LIS + "membership#Instructor",
                LIS + "system/person#Administrator",
            ],
            Role.COORDINATEUR,
        ),
        # A system role alone gives no right here
        ([LIS + "system/person#Administrator"], Role.CANDIDAT),
        # Institution teaching roles count only when the launch has no context role
        ([LIS + "institution/person#Instructor"], Role.ACCOMPAGNATEUR),
        ([LIS + "institution/person#Faculty"], Role.ACCOMPAGNATEUR),
        ([LIS + "institution/person#Faculty", LIS + "membership#Learner"], Role.CANDIDAT),
        # Unknown, other vocabularies, empty: a candidat with no extra right
        (["http://example.org/roles#Wizard"], Role.CANDIDAT),
        (["ContentDeveloper", "Manager", "Member", "Officer"], Role.CANDIDAT),
        ([], Role.CANDIDAT),
        ([""], Role.CANDIDAT),
    ],
)
def test_roles_map_to_the_people_of_the_glossary(roles: list[str], role: Role) -> None:
    assert map_roles(roles).role is role


def test_institution_administrator_is_flagged() -> None:
    assert map_roles([LIS + "institution/person#Administrator"]).institution_admin
    assert not map_roles([LIS + "membership#Administrator"]).institution_admin


def test_parse_role_reads_full_short_and_sub_roles() -> None:
    assert parse_role(LIS + "membership/Instructor#TeachingAssistant") == parse_role(
        LIS + "membership/Instructor#TeachingAssistant"
    )
    parsed = parse_role(LIS + "membership/Instructor#TeachingAssistant")
    assert parsed is not None and (parsed.kind, parsed.principal, parsed.sub) == (
        "context",
        "Instructor",
        "TeachingAssistant",
    )
    short = parse_role("Learner")
    assert short is not None and (short.kind, short.principal) == ("context", "Learner")
    assert parse_role("http://example.org/x#y") is None
