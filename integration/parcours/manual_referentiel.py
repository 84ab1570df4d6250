"""A référentiel entered by hand from its official document (REAC, arrêté): what no export holds.

The coordinateur types the blocs and the compétences with their official wording, the plain
wording and the pictogram beside it, and names the source document and its date. The draft
becomes a référentiel document checked by the same validator as every file
(`referentiels.validate.from_data`), then is stored like a coordinateur's import: in the
platform's namespace (``p<platform>~<id>``), seen on that platform only, exported to Moodle
CSV like the others. Each item keeps the source and its reliability.

A draft travels whole in the form: adding a bloc or a compétence posts it back and the page
is drawn again with one more row, so the page works without JavaScript and nothing typed
is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from referentiels import FORMAT, Referentiel, ReferentielError
from referentiels.validate import from_data

from ..actor import Actor
from .catalog import common_id, import_referentiels
from .errors import Forbidden, Invalid

ROWS_PER_BLOC = 4
MAX_FORM_BLOCS = 30
MAX_FORM_COMPETENCES = 60  # per bloc
RELIABILITY_WORDS = {
    "officiel": "copié du texte officiel",
    "transcription": "recopié d’une copie du texte officiel (à vérifier)",
}
SOURCE_FORMAT = "saisie"
_DATE_FR = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_PLACE = re.compile(r"blocs\[(\d+)\](?:\.competences\[(\d+)\])?(?:\.(\w+))?")
_META = {"id": "code", "intitule": "intitule", "certificateur": "certificateur",
         "niveau": "niveau", "rncp": "rncp", "provenance.version": "version",
         "provenance.sources[0]": "source", "provenance.sources": "source"}


@dataclass
class CompetenceRow:
    code: str = ""
    intitule: str = ""
    falc: str = ""
    picto: str = ""

    @property
    def empty(self) -> bool:
        return not (self.code or self.intitule or self.falc or self.picto)


@dataclass
class BlocRow:
    code: str = ""
    intitule: str = ""
    competences: list[CompetenceRow] = field(
        default_factory=lambda: [CompetenceRow() for _ in range(ROWS_PER_BLOC)])

    @property
    def empty(self) -> bool:
        return not (self.code or self.intitule) and all(c.empty for c in self.competences)


@dataclass
class Draft:
    """What the form holds: the référentiel's words, then its blocs row by row."""

    code: str = ""
    intitule: str = ""
    certificateur: str = ""
    niveau: str = ""
    rncp: str = ""
    version: str = ""  # the date of the source document
    source: str = ""
    fiabilite: str = "officiel"
    blocs: list[BlocRow] = field(default_factory=lambda: [BlocRow()])

    def add_bloc(self) -> None:
        if len(self.blocs) < MAX_FORM_BLOCS:
            self.blocs.append(BlocRow())

    def add_competence(self, bloc_index: int) -> None:
        if 0 <= bloc_index < len(self.blocs):
            rows = self.blocs[bloc_index].competences
            if len(rows) < MAX_FORM_COMPETENCES:
                rows.append(CompetenceRow())


def draft_of(ref: Referentiel) -> Draft:
    """A draft that starts from `ref` (to complete a référentiel « à compléter »)."""
    prov = ref.provenance
    draft = Draft(
        code=common_id(ref.id), intitule=ref.intitule, certificateur=ref.certificateur,
        niveau=ref.niveau, rncp=ref.rncp or "", version=prov.version,
        source=prov.sources[0] if prov.sources else "",
        blocs=[
            BlocRow(b.code, b.intitule, [
                CompetenceRow(c.code, c.intitule, c.falc or "", c.picto or "")
                for c in b.competences
            ] + [CompetenceRow() for _ in range(max(ROWS_PER_BLOC - len(b.competences), 1))])
            for b in ref.blocs
        ] or [BlocRow()],
    )
    return draft


def _iso(date: str) -> str:
    found = _DATE_FR.fullmatch(date.strip())
    if found:
        day, month, year = found.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return date.strip()


def document_of(draft: Draft) -> tuple[dict[str, Any], dict[str, str]]:
    """The référentiel document of `draft`, and where each of its places is on the form.

    Empty rows are left out; a bloc or a compétence without code gets one from its rank
    (``BC02``, ``BC02-C3``)."""
    places: dict[str, str] = {}
    reliability = draft.fiabilite if draft.fiabilite in RELIABILITY_WORDS else "officiel"
    source = f"{draft.source.strip()} ({_iso(draft.version)})" if draft.source.strip() else ""
    blocs: list[dict[str, Any]] = []
    for b_index, bloc in enumerate(draft.blocs, 1):
        if bloc.empty:
            continue
        bloc_code = bloc.code.strip() or f"BC{b_index:02d}"
        competences: list[dict[str, Any]] = []
        for c_index, row in enumerate(bloc.competences, 1):
            if row.empty:
                continue
            item: dict[str, Any] = {
                "code": row.code.strip() or f"{bloc_code}-C{c_index}",
                "intitule": row.intitule.strip(),
                "source": source or None, "reliability": reliability,
            }
            if row.falc.strip():
                item["falc"] = row.falc.strip()
            if row.picto.strip():
                item["picto"] = row.picto.strip()
            places[f"blocs[{len(blocs)}].competences[{len(competences)}]"] = (
                f"b{b_index}-c{c_index}")
            competences.append({k: v for k, v in item.items() if v is not None})
        places[f"blocs[{len(blocs)}]"] = f"b{b_index}"
        blocs.append({k: v for k, v in {
            "code": bloc_code, "intitule": bloc.intitule.strip(), "competences": competences,
            "source": source or None, "reliability": reliability,
        }.items() if v is not None})
    version = _iso(draft.version)
    document: dict[str, Any] = {
        "format": FORMAT,
        "id": draft.code.strip(),
        "intitule": draft.intitule.strip(),
        "certificateur": draft.certificateur.strip(),
        "niveau": draft.niveau.strip() or "niveau non indiqué",
        "provenance": {
            "version": version,
            "status": "en_vigueur",
            "sources": [source] if source else [],
            "verified": (f"Saisi à la main par le coordinateur depuis « {draft.source.strip()} »"
                         f" du {version}."),
        },
        "blocs": blocs,
    }
    if draft.rncp.strip():
        document["rncp"] = draft.rncp.strip().upper().replace(" ", "")
    return document, places


def field_of(location: str, places: dict[str, str]) -> str | None:
    """The form field a validator's location points to (None: the form as a whole)."""
    if location in _META:
        return _META[location]
    if location.startswith("provenance"):
        return "version" if "version" in location else "source"
    found = _PLACE.match(location)
    if not found:
        return None
    bloc, competence, key = found.groups()
    if competence is None:
        row = places.get(f"blocs[{bloc}]")
        if row is None:
            return None
        if key == "competences":
            return f"{row}-c1-intitule"
        return f"{row}-{key}" if key in ("code", "intitule") else f"{row}-intitule"
    row = places.get(f"blocs[{bloc}].competences[{competence}]")
    if row is None:
        return None
    return f"{row}-{key}" if key in ("code", "intitule", "falc", "picto") else f"{row}-intitule"


class DraftRefused(Invalid):
    """Every problem of a draft, by form field (a message per field, the first kept)."""

    def __init__(self, errors: dict[str, str], general: list[str]) -> None:
        super().__init__("Le référentiel n’est pas enregistré : corrigez ce qui est signalé.")
        self.errors = errors
        self.general = general


_WORDS = {
    "libellé vide": "Écrivez-le.",
    "champ obligatoire manquant": "Écrivez-le.",
    "liste vide": "Écrivez le nom du document officiel.",
}


def _plain(message: str) -> str:
    for start, words in _WORDS.items():
        if message.startswith(start):
            return words
    return message[:1].upper() + message[1:] + "."


def save(db: Session, who: Actor, draft: Draft) -> Referentiel:
    """Check `draft` with the validator and store it for the actor's platform only.

    `DraftRefused` with every problem beside its field; `Invalid` on the version when the
    same id and version already hold another text."""
    if not who.is_coordinateur:
        raise Forbidden("Seul un coordinateur saisit un référentiel.")
    document, places = document_of(draft)
    errors: dict[str, str] = {}
    general: list[str] = []
    if not document["blocs"]:
        errors["b1-intitule"] = "Écrivez au moins un bloc et ses compétences."
    for index, bloc in enumerate(document["blocs"]):
        if not bloc["competences"]:
            # A bloc is never offered in place of its compétences.
            errors[f"{places[f'blocs[{index}]']}-c1-intitule"] = (
                "Écrivez au moins une compétence dans ce bloc.")
    try:
        ref = from_data(document, source="saisie")
    except ReferentielError as error:
        for problem in error.problems:
            name = field_of(problem.location or "", places)
            if name is None:
                general.append(_plain(problem.message))
            else:
                errors.setdefault(name, _plain(problem.message))
        raise DraftRefused(errors, general) from None
    if errors:
        raise DraftRefused(errors, general)
    stored: list[Referentiel] = []
    try:
        import_referentiels(db, [ref], SOURCE_FORMAT, who.platform_id, stored=stored)
    except ReferentielError:
        raise Invalid(
            "Un référentiel avec ce code et cette date existe déjà ici, avec d’autres mots. "
            "Donnez la date du nouveau texte.", field="version") from None
    return stored[0]
