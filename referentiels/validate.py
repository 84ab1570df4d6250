"""The canonical JSON format ``reperes.referentiel/1``: check, load and dump.

The checker is written by hand so that it can report every problem at once,
each with its file and JSON path, in words an operator can act on, e.g.::

    CAP-EPC.json: blocs[1].competences[3].code: code en double « C4 » (déjà en blocs[0]...)

`referentiels/schema/referentiel-1.json` describes the same format as a JSON
Schema for integrators; this module is the reference.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from referentiels.errors import Problem, ReferentielError, read_source
from referentiels.model import (
    CODE_PATTERN,
    DATE_PATTERN,
    ID_PATTERN,
    RELIABILITIES,
    RNCP_PATTERN,
    STATUSES,
    VERSION_PATTERN,
    Bloc,
    Competence,
    Provenance,
    Referentiel,
)
from referentiels.pictos import PICTOS

FORMAT = "reperes.referentiel/1"

# Unicode category Cc, the control characters; verified text and notes may hold line breaks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")

# Bounds far above any real référentiel (the longest real wording is a few hundred
# characters, the largest has 16 blocs and about 60 compétences): they stop a hostile
# or broken file from becoming a huge row that every candidat then downloads.
MAX_TITLE = 500  # the référentiel's intitulé and niveau
MAX_WORDING = 2_000  # a bloc, a compétence, its falc and note, the certificateur(s)
MAX_VERIFIED = 10_000  # the provenance's "verified" text
MAX_BLOCS = 200
MAX_COMPETENCES = 2_000  # in the whole référentiel
MAX_LIST_ITEMS = 100  # provenance sources and notes
MAX_TOTAL_TEXT = 1_000_000  # every text of the référentiel together

_ROOT_KEYS = {
    "format", "id", "rncp", "intitule", "certificateur", "niveau", "provenance", "blocs",
}
_PROVENANCE_KEYS = {
    "version", "status", "sources", "verified", "notes", "complete", "echeance",
    "active", "successors",
}
_BLOC_KEYS = {"code", "intitule", "competences", "falc", "picto", "note", "source", "reliability"}
_COMPETENCE_KEYS = {
    "code", "intitule", "falc", "picto", "truncated", "note", "source", "reliability",
}


class _Object(dict[str, Any]):
    """A JSON object that remembers the keys it saw twice."""

    duplicates: list[str]


def _object_hook(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "booléen"
    if isinstance(value, int | float):
        return "nombre"
    if isinstance(value, str):
        return "texte"
    if isinstance(value, list):
        return "liste"
    if isinstance(value, dict):
        return "objet"
    return type(value).__name__


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _count(number: int) -> str:
    return f"{number:,}".replace(",", "\u202f")


class _Checker:
    def __init__(self, source: str | None) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.total_text = 0
        self.competences = 0

    def report(self, path: str, message: str) -> None:
        self.problems.append(Problem(message, self.source, path or "$"))

    # -- building blocks -------------------------------------------------

    def obj(self, value: object, path: str, allowed: set[str], required: tuple[str, ...]) -> bool:
        if not isinstance(value, dict):
            self.report(path, f"objet attendu, trouvé : {_type_name(value)}")
            return False
        for key in getattr(value, "duplicates", ()):
            self.report(_join(path, key), f"clé en double « {key} »")
        for key in value:
            if key not in allowed:
                self.report(_join(path, key), f"clé inconnue « {key} »")
        for key in required:
            if key not in value:
                self.report(_join(path, key), f"champ obligatoire manquant « {key} »")
        return True

    def text(
        self, value: object, path: str, *, multiline: bool = False, limit: int = MAX_WORDING
    ) -> bool:
        if not isinstance(value, str):
            self.report(path, f"texte attendu, trouvé : {_type_name(value)}")
            return False
        self.total_text += len(value)
        if len(value) > limit:
            # Said before anything else, and nothing else is checked in such a text.
            self.report(
                path,
                f"texte trop long : {_count(len(value))} caractères ({_count(limit)} au plus) "
                f"; début : « {value[:60].strip()}… »",
            )
            return False
        ok = True
        if not value.strip():
            self.report(path, "libellé vide")
            return False
        if value != value.strip():
            self.report(path, "espaces au début ou à la fin du texte")
            ok = False
        control = (_CONTROL_MULTILINE if multiline else _CONTROL).search(value)
        if control:
            char = control.group(0)
            self.report(
                path, f"caractère de contrôle U+{ord(char):04X} à la position {control.start() + 1}"
            )
            ok = False
        if "\ufffd" in value:
            self.report(path, "caractère de remplacement U+FFFD : le texte a été mal décodé")
            ok = False
        return ok

    def pattern(self, value: object, path: str, regex: Any, what: str, hint: str) -> None:
        if not isinstance(value, str):
            self.report(path, f"texte attendu, trouvé : {_type_name(value)}")
        elif not regex.fullmatch(value):
            self.report(path, f"{what} invalide « {value} » ({hint})")

    def boolean(self, value: object, path: str) -> None:
        if not isinstance(value, bool):
            self.report(path, f"booléen attendu (true ou false), trouvé : {_type_name(value)}")

    def text_list(self, value: object, path: str, *, non_empty: bool = False) -> None:
        if not isinstance(value, list):
            self.report(path, f"liste attendue, trouvé : {_type_name(value)}")
            return
        if non_empty and not value:
            self.report(path, "liste vide : au moins un élément attendu")
        if len(value) > MAX_LIST_ITEMS:
            self.report(
                path, f"trop d'éléments : {_count(len(value))} ({MAX_LIST_ITEMS} au plus)"
            )
            value = value[:MAX_LIST_ITEMS]
        for index, item in enumerate(value):
            self.text(item, f"{path}[{index}]", multiline=True)

    def optional(
        self, obj: dict[str, Any], path: str, key: str, check: Callable[[object, str], Any]
    ) -> None:
        if key in obj and obj[key] is not None:
            check(obj[key], _join(path, key))

    def reliability(self, value: object, path: str) -> None:
        if value not in RELIABILITIES:
            shown = value if isinstance(value, str) else _type_name(value)
            self.report(
                path, f"fiabilité inconnue « {shown} » (attendu : {', '.join(RELIABILITIES)})"
            )

    def successors(self, value: object, path: str) -> None:
        if not isinstance(value, list):
            self.report(path, f"liste attendue, trouvé : {_type_name(value)}")
            return
        for index, item in enumerate(value):
            if not isinstance(item, str) or not (
                RNCP_PATTERN.fullmatch(item) or ID_PATTERN.fullmatch(item.partition("@")[0])
            ):
                self.report(
                    f"{path}[{index}]",
                    "successeur invalide : un numéro RNCP (RNCP40994) ou un identifiant attendu",
                )

    def picto(self, value: object, path: str) -> None:
        if not isinstance(value, str):
            self.report(path, f"texte attendu, trouvé : {_type_name(value)}")
        elif value not in PICTOS:
            known = ", ".join(sorted(PICTOS))
            self.report(path, f"pictogramme inconnu « {value} » (connus : {known})")

    # -- the document ------------------------------------------------------

    def document(self, data: object) -> None:
        required = ("format", "id", "intitule", "certificateur", "niveau", "provenance", "blocs")
        if not self.obj(data, "", _ROOT_KEYS, required):
            return
        assert isinstance(data, dict)
        if "format" in data and data["format"] != FORMAT:
            self.report("format", f"format inconnu « {data['format']} » (attendu : {FORMAT})")
        if "id" in data:
            self.pattern(
                data["id"], "id", ID_PATTERN, "identifiant",
                "lettres sans accent, chiffres, « - » et « _ », 64 caractères au plus",
            )
        if data.get("rncp") is not None:
            self.pattern(data["rncp"], "rncp", RNCP_PATTERN, "numéro RNCP", "exemple : RNCP34947")
        for key in ("intitule", "certificateur", "niveau"):
            if key in data:
                limit = MAX_WORDING if key == "certificateur" else MAX_TITLE
                self.text(data[key], key, limit=limit)
        if "provenance" in data:
            self.provenance(data["provenance"], "provenance")
        if "blocs" in data:
            self.blocs(data["blocs"], "blocs")
        if self.total_text > MAX_TOTAL_TEXT:
            self.report(
                "",
                f"référentiel trop gros : {_count(self.total_text)} caractères de texte en tout "
                f"({_count(MAX_TOTAL_TEXT)} au plus)",
            )

    def provenance(self, value: object, path: str) -> None:
        if not self.obj(value, path, _PROVENANCE_KEYS, ("version", "status", "sources")):
            return
        assert isinstance(value, dict)
        if "version" in value:
            self.pattern(
                value["version"], _join(path, "version"), VERSION_PATTERN, "version",
                "de préférence la date du texte officiel, AAAA-MM-JJ",
            )
        if "status" in value and value["status"] not in STATUSES:
            status = value["status"]
            shown = status if isinstance(status, str) else _type_name(status)
            self.report(
                _join(path, "status"),
                f"statut inconnu « {shown} » (attendu : en_vigueur ou historique)",
            )
        if "sources" in value:
            self.text_list(value["sources"], _join(path, "sources"), non_empty=True)
        self.optional(
            value, path, "verified",
            lambda v, p: self.text(v, p, multiline=True, limit=MAX_VERIFIED),
        )
        self.optional(value, path, "notes", self.text_list)
        self.optional(value, path, "complete", self.boolean)
        self.optional(
            value, path, "echeance",
            lambda v, p: self.pattern(v, p, DATE_PATTERN, "date", "format AAAA-MM-JJ"),
        )
        self.optional(value, path, "active", self.boolean)
        self.optional(value, path, "successors", self.successors)

    def blocs(self, value: object, path: str) -> None:
        if not isinstance(value, list):
            self.report(path, f"liste attendue, trouvé : {_type_name(value)}")
            return
        bloc_codes: dict[str, str] = {}
        competence_codes: dict[str, str] = {}
        if len(value) > MAX_BLOCS:
            self.report(path, f"trop de blocs : {_count(len(value))} ({MAX_BLOCS} au plus)")
            value = value[:MAX_BLOCS]
        for index, bloc in enumerate(value):
            bloc_path = f"{path}[{index}]"
            if not self.obj(bloc, bloc_path, _BLOC_KEYS, ("code", "intitule", "competences")):
                continue
            assert isinstance(bloc, dict)
            self.code(bloc.get("code"), _join(bloc_path, "code"), bloc_codes, "code de bloc")
            if "intitule" in bloc:
                self.text(bloc["intitule"], _join(bloc_path, "intitule"))
            self.optional(bloc, bloc_path, "falc", self.text)
            self.optional(bloc, bloc_path, "picto", self.picto)
            self.optional(bloc, bloc_path, "note", self.text)
            self.optional(bloc, bloc_path, "source", self.text)
            self.optional(bloc, bloc_path, "reliability", self.reliability)
            competences = bloc.get("competences")
            if "competences" not in bloc:
                continue
            if not isinstance(competences, list):
                self.report(
                    _join(bloc_path, "competences"),
                    f"liste attendue, trouvé : {_type_name(competences)}",
                )
                continue
            room = max(MAX_COMPETENCES - self.competences, 0)
            if len(competences) > room and self.competences <= MAX_COMPETENCES:
                total = sum(
                    len(b["competences"]) for b in value
                    if isinstance(b, dict) and isinstance(b.get("competences"), list)
                )
                self.report(
                    _join(bloc_path, "competences"),
                    f"trop de compétences : {_count(total)} dans le référentiel "
                    f"({_count(MAX_COMPETENCES)} au plus)",
                )
            self.competences += len(competences)
            competences = competences[:room]
            for c_index, competence in enumerate(competences):
                c_path = f"{bloc_path}.competences[{c_index}]"
                if not self.obj(competence, c_path, _COMPETENCE_KEYS, ("code", "intitule")):
                    continue
                assert isinstance(competence, dict)
                self.code(competence.get("code"), _join(c_path, "code"), competence_codes, "code")
                if "intitule" in competence:
                    self.text(competence["intitule"], _join(c_path, "intitule"))
                self.optional(competence, c_path, "falc", self.text)
                self.optional(competence, c_path, "picto", self.picto)
                self.optional(competence, c_path, "truncated", self.boolean)
                self.optional(competence, c_path, "note", self.text)
                self.optional(competence, c_path, "source", self.text)
                self.optional(competence, c_path, "reliability", self.reliability)

    def code(self, value: object, path: str, seen: dict[str, str], what: str) -> None:
        if value is None:
            return  # reported as missing by obj()
        if not isinstance(value, str):
            self.report(path, f"texte attendu, trouvé : {_type_name(value)}")
            return
        if not CODE_PATTERN.fullmatch(value):
            self.report(
                path,
                f"{what} invalide « {value} » (lettres sans accent, chiffres, « . », « - », « _ »)",
            )
        if value in seen:
            self.report(path, f"{what} en double « {value} » (déjà en {seen[value]})")
        else:
            seen[value] = path


def check(data: object, source: str | None = None) -> list[Problem]:
    """Every problem of a parsed JSON document; an empty list when it is valid."""
    checker = _Checker(source)
    checker.document(data)
    return checker.problems


def check_referentiel(ref: Referentiel, source: str | None = None) -> list[Problem]:
    """Every problem of a Referentiel built in code (e.g. by an importer)."""
    return check(to_data(ref), source)


def from_data(data: object, source: str | None = None) -> Referentiel:
    """Build a Referentiel from parsed JSON; `ReferentielError` with every problem."""
    problems = check(data, source)
    if problems:
        raise ReferentielError(problems=problems)
    assert isinstance(data, dict)
    prov = data["provenance"]
    return Referentiel(
        id=data["id"],
        rncp=data.get("rncp"),
        intitule=data["intitule"],
        certificateur=data["certificateur"],
        niveau=data["niveau"],
        provenance=Provenance(
            version=prov["version"],
            status=prov["status"],
            sources=tuple(prov["sources"]),
            verified=prov.get("verified") or "",
            notes=tuple(prov.get("notes") or ()),
            complete=prov.get("complete", True),
            echeance=prov.get("echeance"),
            active=prov.get("active"),
            successors=tuple(prov.get("successors") or ()),
        ),
        blocs=tuple(
            Bloc(
                code=b["code"],
                intitule=b["intitule"],
                falc=b.get("falc"),
                picto=b.get("picto"),
                note=b.get("note"),
                source=b.get("source"),
                reliability=b.get("reliability"),
                competences=tuple(
                    Competence(
                        code=c["code"],
                        intitule=c["intitule"],
                        falc=c.get("falc"),
                        picto=c.get("picto"),
                        truncated=c.get("truncated", False),
                        note=c.get("note"),
                        source=c.get("source"),
                        reliability=c.get("reliability"),
                    )
                    for c in b["competences"]
                ),
            )
            for b in data["blocs"]
        ),
    )


def _drop_empty(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if v is not None and v is not False and v != []}


def to_data(ref: Referentiel) -> dict[str, Any]:
    """The canonical JSON value of a Referentiel (defaults left out)."""
    prov = ref.provenance
    provenance = _drop_empty(
        {
            "version": prov.version,
            "status": prov.status,
            "sources": list(prov.sources),
            "verified": prov.verified or None,
            "notes": list(prov.notes),
            "echeance": prov.echeance,
            "successors": list(prov.successors),
        }
    )
    provenance["complete"] = prov.complete
    if prov.active is not None:
        provenance["active"] = prov.active
    return {
        "format": FORMAT,
        "id": ref.id,
        "rncp": ref.rncp,
        "intitule": ref.intitule,
        "certificateur": ref.certificateur,
        "niveau": ref.niveau,
        "provenance": provenance,
        "blocs": [
            {
                **_drop_empty(
                    {"code": b.code, "intitule": b.intitule, "falc": b.falc,
                     "picto": b.picto, "note": b.note, "source": b.source,
                     "reliability": b.reliability}
                ),
                "competences": [
                    _drop_empty(
                        {"code": c.code, "intitule": c.intitule, "falc": c.falc,
                         "picto": c.picto, "truncated": c.truncated, "note": c.note,
                         "source": c.source, "reliability": c.reliability}
                    )
                    for c in b.competences
                ],
            }
            for b in ref.blocs
        ],
    }


def dump(ref: Referentiel) -> str:
    """Canonical text: sorted keys, two-space indent, UTF-8 characters kept, final newline."""
    return json.dumps(to_data(ref), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def parse_json(text: str | bytes, source: str | None = None) -> Any:
    """Parse JSON text; `ReferentielError` with line and column when it is not JSON."""
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            raise ReferentielError(
                f"le fichier n'est pas en UTF-8 (octet 0x{raw[error.start]:02X} "
                f"à la position {error.start + 1}) : enregistrez-le en UTF-8",
                file=source,
                location=f"ligne {line}",
            ) from None
    try:
        return json.loads(text, object_pairs_hook=_object_hook)
    except json.JSONDecodeError as error:
        raise ReferentielError(
            f"JSON invalide : {error.msg}",
            file=source,
            location=f"ligne {error.lineno}, colonne {error.colno}",
        ) from None


def loads(text: str | bytes, source: str | None = "<texte>") -> Referentiel:
    """Read a référentiel from canonical JSON text."""
    return from_data(parse_json(text, source), source)


def load(path: str | os.PathLike[str]) -> Referentiel:
    """Read a référentiel from a canonical JSON file; errors name the file."""
    raw, name = read_source(path)
    return loads(raw, source=name)
