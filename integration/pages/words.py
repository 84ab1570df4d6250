"""The words the pages show for the values of the domain (French, plain words, FALC)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from referentiels.pictos import metier_picto

from ..models import Modalite, ParcoursStatus, TaskSource, Verdict

# Where a task comes from, as the person says it. Moodle modules are coursework too.
SOURCE_WORDS: dict[TaskSource, str] = {
    TaskSource.WORKPLACE: "au travail",
    TaskSource.COURSEWORK: "formation",
    TaskSource.MOODLE: "formation",
}
SOURCE_PICTOS: dict[TaskSource, str] = {
    TaskSource.WORKPLACE: "travail",
    TaskSource.COURSEWORK: "formation",
    TaskSource.MOODLE: "formation",
}


@dataclass(frozen=True)
class ModaliteChoice:
    code: str
    sentence: str  # the person's words (D&C)
    detail: str  # one more short line
    picto: str


MODALITES: tuple[ModaliteChoice, ...] = (
    ModaliteChoice(
        Modalite.CONCRET.value,
        "Je montre ce que je fais",
        "Le jury vient voir mon travail, sur mon lieu de travail.",
        "montrer",
    ),
    ModaliteChoice(
        Modalite.ABSTRAIT.value,
        "J’explique ce que je sais faire",
        "Je parle de mon travail devant un jury, dans un lycée ou un centre.",
        "expliquer",
    ),
    ModaliteChoice(
        Modalite.TRANSFERT.value,
        "Je montre que je sais le faire ailleurs",
        "Je fais un stage dans une autre entreprise, puis je montre ce que j’ai fait.",
        "ailleurs",
    ),
)
MODALITE_WORDS = {m.code: m.sentence for m in MODALITES}

STATUS_WORDS: dict[ParcoursStatus, str] = {
    ParcoursStatus.EN_PREPARATION: "en préparation",
    ParcoursStatus.PRET_POUR_LE_JURY: "prêt pour le jury",
    ParcoursStatus.PRESENTE: "présenté au jury",
    ParcoursStatus.RECONNU: "reconnu",
}
STATUS_PICTOS: dict[ParcoursStatus, str] = {
    ParcoursStatus.EN_PREPARATION: "modifier",
    ParcoursStatus.PRET_POUR_LE_JURY: "jury",
    ParcoursStatus.PRESENTE: "jury",
    ParcoursStatus.RECONNU: "oui",
}

VERDICT_WORDS: dict[str, str] = {
    Verdict.OUI.value: "Oui",
    Verdict.PARTIELLEMENT.value: "Partiellement",
    Verdict.NON.value: "Non",
}
VERDICT_PICTOS: dict[str, str] = {
    Verdict.OUI.value: "oui",
    Verdict.PARTIELLEMENT.value: "partiellement",
    Verdict.NON.value: "non",
}

# How often: the usual answers, one tap each (any other text stays possible).
FREQUENCIES: tuple[str, ...] = (
    "tous les jours",
    "toutes les semaines",
    "tous les mois",
    "de temps en temps",
    "une seule fois",
)

ROLE_WORDS = {
    "candidat": "candidat",
    "accompagnateur": "accompagnateur",
    "coordinateur": "coordinateur",
}


def plural(count: int, one: str, many: str) -> str:
    """`1 photo`, `3 photos`, `aucune photo` is left to the caller."""
    return f"{count} {one if count == 1 else many}"


# --- the métier in the candidat's words (issue 15) ---------------------------------------

_DIPLOMA = re.compile(
    r"^\s*(titre professionnel|cap agricole|capa|cap|bp|bac pro)\s+(d['’]\s*|de\s+)?",
    re.IGNORECASE)
_GENDER = re.compile(r"\s*\((e|ère|ere|euse|se)\)|\((e)\)", re.IGNORECASE)
_INLINE_PAREN = re.compile(r"\s*\([^)]*\)")


def plain_metier(intitule: str) -> str:
    """« Titre professionnel agent(e) de propreté et d'hygiène » -> « Agent de propreté et
    d'hygiène »: the métier without the diploma's kind, codes or (e)."""
    text = _DIPLOMA.sub("", intitule or "")
    text = _GENDER.sub("", text)
    text = _INLINE_PAREN.sub("", text)
    text = re.sub(r"\s+", " ", text).strip(" ,;-")
    return text[:1].upper() + text[1:] if text else intitule


def plain_name(name: str) -> str:
    """A name written in capitals reads as shouting and is hard to read: « NADIA » -> « Nadia »."""
    if name and name.isupper():
        return name.title()
    return name


@dataclass(frozen=True)
class Family:
    picto: str
    names: list[str]


def family_of(referentiels: Sequence[Any]) -> Family:
    """The picture and plain names of the candidat's métiers (the first one's picture)."""
    if not referentiels:
        return Family("referentiel", [])
    return Family(metier_picto(referentiels[0].intitule),
                  [plain_metier(r.intitule) for r in referentiels])
