"""Import fiches from the France Compétences RNCP export, XML « flux V4-1 ».

The export is one ``FICHES`` element holding thousands of ``FICHE``. It is read
with `xml.etree.ElementTree.iterparse`, one fiche at a time, and each fiche is
cleared once read: memory stays flat whatever the size of the file.

From a fiche: ``NUMERO_FICHE`` (id and RNCP number), ``INTITULE``,
``NOMENCLATURE_EUROPE`` (``INTITULE``/``LIBELLE``, else ``NIVEAU`` ``NIV3``),
``CERTIFICATEURS/CERTIFICATEUR/NOM_CERTIFICATEUR`` (joined by « ; »; a fiche without
one is read with a note, not refused), ``ACTIF`` (else ``ETAT_FICHE``) for the status
and the active flag, ``NOUVELLE_CERTIFICATION`` for the successors (as text
``RNCPnnnnn`` or holding ``NUMERO_FICHE``: the form is assumed from public test
files mimicking the export, not from the official schema), the dates ``DATE_EFFET``,
``DATE_DECISION``, ``DATE_DERNIER_JO`` or ``DATE_DE_PUBLICATION`` (the first
found) for the version, ``DATE_FIN_ENREGISTREMENT`` for the échéance, and
``BLOCS_COMPETENCES/BLOC_COMPETENCES/{CODE, LIBELLE, LISTE_COMPETENCES}``.

Compétence codes: a code written in the list (``C1``, ``C2.1``) is kept; when
the same code appears in two blocs of a fiche, every code of the fiche is
prefixed with its bloc code (``RNCP1BC01-C1``) so that each stays unique; an
item without code gets ``<code du bloc>-C<n>``, n its rank in the bloc. Both are
recorded in the provenance notes.

A fiche is returned only whole and valid. `iter_fiches` raises on the first bad
fiche; `read_fiches` reads on, then raises once with every problem of every fiche.
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from referentiels.errors import Problem, ReferentielError
from referentiels.importers.encoding import REPAIRED, Utf8Reader
from referentiels.importers.html_list import split_competences
from referentiels.model import RNCP_PATTERN, Bloc, Competence, Provenance, Referentiel, Status
from referentiels.validate import check_referentiel

__all__ = ["import_fiche", "iter_fiches", "read_fiches", "scan_fiches", "split_competences"]

Source = str | os.PathLike[str] | BinaryIO

_VERSION_DATES = ("DATE_EFFET", "DATE_DECISION", "DATE_DERNIER_JO", "DATE_DE_PUBLICATION")
_NO_DATE_VERSION = "sans-date"
NO_CERTIFICATEUR = "certificateur non indiqué"
_NUMERO = re.compile(r"(?:RNCP\s*)?[0-9]{1,6}", re.I)
_SPACES = re.compile(r"\s+")
_DATE_FR = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_DATE_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_ACTIVE = {"active", "actif", "oui", "true", "1", "publiée", "publiee"}
_INACTIVE = {"inactive", "inactif", "non", "false", "0"}
_EXPAT_MESSAGES = {
    "no element found": "fin de fichier inattendue : le fichier semble tronqué",
    "unclosed token": "fin de fichier inattendue : le fichier semble tronqué",
    "mismatched tag": "balise fermante qui ne correspond pas à la balise ouverte",
    "not well-formed (invalid token)": "caractère ou balise invalide",
    "junk after document element": "contenu après la fin du document",
    "undefined entity": "entité inconnue (par exemple « &nbsp; » non échappé)",
}


def normalize_numero(numero: str) -> str:
    """``"34947"``, ``"rncp34947"`` or ``"RNCP34947"`` -> ``"RNCP34947"``."""
    value = numero.strip().upper()
    return value if value.startswith("RNCP") else f"RNCP{value}"


def _clean(text: str | None) -> str:
    return _SPACES.sub(" ", (text or "").replace("\xa0", " ")).strip()


def _field(elem: ET.Element, path: str) -> str:
    found = elem.find(path)
    return "" if found is None else _clean("".join(found.itertext()))


def _inner_markup(elem: ET.Element) -> str:
    """The content of `elem` as text, HTML written as real XML elements included."""
    parts = [elem.text or ""]
    parts.extend(ET.tostring(child, encoding="unicode") for child in elem)
    return "".join(parts)


def _iso_date(text: str) -> str | None:
    match = _DATE_FR.search(text)
    if match:
        day, month, year = match.groups()
        return f"{year}-{month}-{day}"
    match = _DATE_ISO.search(text)
    return "-".join(match.groups()) if match else None


def _strip_repairs(fiche: ET.Element) -> int:
    count = 0
    for elem in fiche.iter():
        if elem.text and REPAIRED in elem.text:
            count += elem.text.count(REPAIRED)
            elem.text = elem.text.replace(REPAIRED, "")
        if elem.tail and REPAIRED in elem.tail:
            count += elem.tail.count(REPAIRED)
            elem.tail = elem.tail.replace(REPAIRED, "")
    return count


def _status(fiche: ET.Element) -> Status:
    actif = _field(fiche, "ACTIF").lower()
    if actif in _ACTIVE:
        return "en_vigueur"
    if actif in _INACTIVE:
        return "historique"
    etat = _field(fiche, "ETAT_FICHE").lower()
    if any(word in etat for word in ("inactiv", "archiv", "annul", "caduc", "abrog")):
        return "historique"
    return "en_vigueur"


def _active(fiche: ET.Element) -> bool | None:
    """The fiche's ``ACTIF`` flag (« Oui » / « Non »), None when absent or unknown."""
    actif = _field(fiche, "ACTIF").lower()
    if actif in _ACTIVE:
        return True
    if actif in _INACTIVE:
        return False
    return None


def _successors(fiche: ET.Element, numero: str) -> tuple[str, ...]:
    """The fiches that replace this one: ``NOUVELLE_CERTIFICATION``, written either as
    text (``RNCP41832``) or holding ``NUMERO_FICHE`` elements; repeated elements and
    several numbers in one text are all kept, in order, without duplicates."""
    found: list[str] = []
    for elem in fiche.iterfind("NOUVELLE_CERTIFICATION"):
        texts = [_clean(e.text) for e in elem.iterfind(".//NUMERO_FICHE")] or [
            _clean("".join(elem.itertext()))
        ]
        for text in texts:
            for match in _NUMERO.finditer(text):
                successor = normalize_numero(match.group(0))
                if successor != numero and successor not in found:
                    found.append(successor)
    return tuple(found)


def _niveau(fiche: ET.Element) -> str:
    for path in ("NOMENCLATURE_EUROPE/INTITULE", "NOMENCLATURE_EUROPE/LIBELLE"):
        if value := _field(fiche, path):
            return value
    code = _field(fiche, "NOMENCLATURE_EUROPE/NIVEAU")
    match = re.fullmatch(r"NIV\s*(\d)", code, re.I)
    if match:
        return f"Niveau {match.group(1)}"
    return code or "niveau non indiqué"


def _xml_location(numero: str, path: str) -> str:
    """A JSON path of the model, told as the place in the fiche."""
    place = re.sub(r"^blocs\[(\d+)\]", lambda m: f"BLOC_COMPETENCES[{int(m.group(1)) + 1}]", path)
    place = re.sub(
        r"\.competences\[(\d+)\]", lambda m: f" > compétence n° {int(m.group(1)) + 1}", place
    )
    return f"FICHE {numero} > {place}"


class _FicheReader:
    def __init__(self, source: str, flux: str | None) -> None:
        self.source = source
        self.flux = flux
        self.problems: list[Problem] = []

    def problem(self, location: str, message: str) -> None:
        self.problems.append(Problem(message, self.source, location))

    def read(self, fiche: ET.Element, index: int, repaired: int) -> Referentiel:
        raw_numero = _field(fiche, "NUMERO_FICHE")
        numero = normalize_numero(raw_numero) if raw_numero else ""
        where = f"FICHE {numero}" if numero else f"FICHE n° {index} (sans NUMERO_FICHE)"
        if not raw_numero:
            self.problem(where, "NUMERO_FICHE manquant")
        elif not RNCP_PATTERN.fullmatch(numero):
            self.problem(where, f"NUMERO_FICHE invalide « {raw_numero} »")
        intitule = _field(fiche, "INTITULE")
        if not intitule:
            self.problem(f"{where} > INTITULE", "intitulé manquant ou vide")
        names = [
            _clean("".join(e.itertext()))
            for e in fiche.iterfind("CERTIFICATEURS/CERTIFICATEUR")
        ]
        names = [
            _field(e, "NOM_CERTIFICATEUR") or name
            for e, name in zip(fiche.iterfind("CERTIFICATEURS/CERTIFICATEUR"), names, strict=True)
        ]
        certificateur = " ; ".join(n for n in names if n)
        blocs, notes = self._blocs(fiche, where)
        if not certificateur:
            # Not every fiche of the export names one: warn, do not refuse.
            certificateur = NO_CERTIFICATEUR
            notes.insert(0, "aucun certificateur dans la fiche (CERTIFICATEURS absent ou vide)")
        if repaired:
            notes.append(
                f"{repaired} caractère(s) de l'export n'étaient pas en UTF-8 : lus comme cp1252 "
                "(Latin-1) ; vérifier les accents"
            )
        if self.problems:
            raise ReferentielError(problems=self.problems)
        version = next(
            (d for d in (_iso_date(_field(fiche, tag)) for tag in _VERSION_DATES) if d),
            _NO_DATE_VERSION,
        )
        verified = f"Importé de l'export RNCP « {self.source} »"
        if self.flux:
            verified += f" (flux {self.flux})"
        verified += f", fiche {numero}"
        if etat := _field(fiche, "ETAT_FICHE"):
            verified += f", état « {etat} »"
        actif = _field(fiche, "ACTIF")
        if actif:
            verified += f", actif « {actif} »"
        verified += "."
        if version == _NO_DATE_VERSION:
            notes.insert(0, "aucune date dans la fiche : version « sans-date »")
        ref = Referentiel(
            id=numero,
            rncp=numero,
            intitule=intitule,
            certificateur=certificateur,
            niveau=_niveau(fiche),
            provenance=Provenance(
                version=version,
                status=_status(fiche),
                sources=(self.source, f"https://www.francecompetences.fr/recherche/rncp/{numero[4:]}/"),
                verified=verified,
                notes=tuple(notes),
                echeance=_iso_date(_field(fiche, "DATE_FIN_ENREGISTREMENT")),
                active=_active(fiche),
                successors=_successors(fiche, numero),
            ),
            blocs=blocs,
        )
        problems = check_referentiel(ref, self.source)
        if problems:
            raise ReferentielError(
                problems=[
                    Problem(p.message, p.file, _xml_location(numero, p.location or ""))
                    for p in problems
                ]
            )
        return ref

    def _blocs(self, fiche: ET.Element, where: str) -> tuple[tuple[Bloc, ...], list[str]]:
        read: list[tuple[str, str, list[tuple[str | None, str]]]] = []
        seen: dict[str, int] = {}
        for number, elem in enumerate(fiche.iterfind("BLOCS_COMPETENCES/BLOC_COMPETENCES"), 1):
            place = f"{where} > BLOC_COMPETENCES[{number}]"
            code = _field(elem, "CODE").replace(" ", "")
            libelle = _field(elem, "LIBELLE")
            if not code:
                self.problem(f"{place} > CODE", "code de bloc manquant")
            elif code in seen:
                self.problem(
                    f"{place} > CODE",
                    f"code de bloc en double « {code} » (déjà BLOC_COMPETENCES[{seen[code]}])",
                )
            else:
                seen[code] = number
            if not libelle:
                self.problem(f"{place} > LIBELLE", "intitulé de bloc manquant ou vide")
            liste = elem.find("LISTE_COMPETENCES")
            items: list[tuple[str | None, str]] = []
            try:
                items = split_competences("" if liste is None else _inner_markup(liste))
            except ReferentielError as error:
                self.problem(f"{place} > LISTE_COMPETENCES", error.message)
            else:
                if not items:
                    self.problem(
                        f"{place} > LISTE_COMPETENCES",
                        "aucune compétence : la liste est absente ou vide",
                    )
            read.append((code, libelle, items))
        if not read:
            self.problem(where, "fiche sans bloc de compétences (BLOCS_COMPETENCES vide)")
        notes: list[str] = []
        owner: dict[str, str] = {}
        shared = False
        for bloc_code, _, items in read:
            for item_code, _ in items:
                if item_code is not None and owner.setdefault(item_code, bloc_code) != bloc_code:
                    shared = True
        if shared:
            notes.append(
                "codes de compétence repris dans plusieurs blocs : préfixés par le code du bloc"
            )
        if any(code is None for _, _, items in read for code, _ in items):
            notes.append(
                "codes de compétence absents de l'export : attribués par Repères "
                "(code du bloc, puis C et le rang dans le bloc)"
            )
        blocs = tuple(
            Bloc(
                code=bloc_code,
                intitule=libelle,
                competences=tuple(
                    Competence(
                        code=(
                            f"{bloc_code}-C{rank}"
                            if code is None
                            else f"{bloc_code}-{code}" if shared else code
                        ),
                        intitule=wording,
                    )
                    for rank, (code, wording) in enumerate(items, 1)
                ),
            )
            for bloc_code, libelle, items in read
        )
        return blocs, notes


def _parse_error(error: ET.ParseError, source: str) -> ReferentielError:
    line, column = error.position
    original = str(error).split(":")[0]
    message = _EXPAT_MESSAGES.get(original, f"XML invalide ({original})")
    return ReferentielError(message, file=source, location=f"ligne {line}, colonne {column + 1}")


def _scan(
    source: Source, only: Iterable[str] | None, encoding: str | None,
    follow_successors: bool = False,
) -> Iterator[Referentiel | ReferentielError]:
    if isinstance(source, str | os.PathLike):
        name = Path(source).name
        try:
            stream: BinaryIO = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as error:
            raise ReferentielError(
                f"lecture impossible : {error.strerror or error}", file=str(source)
            ) from None
        owned = True
    else:
        name = Path(str(getattr(source, "name", "<flux>"))).name
        stream, owned = source, False
    wanted = None if only is None else {normalize_numero(n) for n in only}
    passed: set[str] = set()
    try:
        reader = Utf8Reader(stream, name, encoding, refuse_dtd=True)
        root: ET.Element | None = None
        flux: str | None = None
        index = 0
        try:
            # Safe without defusedxml: the reader refuses any DTD (so no entity
            # can be declared) and ElementTree never fetches external resources.
            for event, elem in ET.iterparse(reader, events=("start", "end")):  # noqa: S314
                if root is None:
                    root = elem
                    if elem.tag != "FICHES":
                        raise ReferentielError(
                            f"élément racine « {elem.tag} » : un export RNCP commence par FICHES",
                            file=name,
                            location="ligne 1",
                        )
                    continue
                if event != "end":
                    continue
                if elem.tag == "VERSION_FLUX":
                    flux = _clean(elem.text)
                elif elem.tag == "FICHE":
                    index += 1
                    numero = normalize_numero(_field(elem, "NUMERO_FICHE") or "?")
                    passed.add(numero)
                    if wanted is None or numero in wanted:
                        repaired = _strip_repairs(elem) if reader.repaired else 0
                        try:
                            fiche = _FicheReader(name, flux).read(elem, index, repaired)
                        except ReferentielError as error:
                            yield error
                        else:
                            if follow_successors and wanted is not None:
                                # Read the fiches that replace it too, when still ahead.
                                wanted.update(
                                    s for s in fiche.provenance.successors if s not in passed)
                            yield fiche
                        if wanted is not None:
                            wanted.discard(numero)
                            if not wanted:
                                return
                    root.clear()
        except ET.ParseError as error:
            raise _parse_error(error, name) from None
        if wanted:
            absent = ", ".join(sorted(wanted))
            yield ReferentielError(f"fiche(s) absente(s) du fichier : {absent}", file=name)
    finally:
        if owned:
            stream.close()


def iter_fiches(
    source: Source, only: Iterable[str] | None = None, *, encoding: str | None = None
) -> Iterator[Referentiel]:
    """Each fiche of an RNCP export, read as it streams by.

    `only`: the fiche numbers to keep (``"RNCP34947"`` or ``"34947"``); reading
    stops when all are found. `encoding`: see `referentiels.importers.encoding`.
    `ReferentielError` at the first fiche in error or at a broken file.
    """
    for item in _scan(source, only, encoding):
        if isinstance(item, ReferentielError):
            raise item
        yield item


def scan_fiches(
    source: Source, only: Iterable[str], *, encoding: str | None = None,
    follow_successors: bool = True,
) -> Iterator[Referentiel | ReferentielError]:
    """The fiches `only` of a (national) export as they stream by, each one or its error.

    A bad fiche does not stop the reading: its `ReferentielError` is yielded in its place,
    and a last one names the fiches absent from the file. With `follow_successors`, the
    fiches named by ``NOUVELLE_CERTIFICATION`` of a fiche read are read too when they come
    later in the file. A broken file still raises.
    """
    yield from _scan(source, only, encoding, follow_successors)


def read_fiches(
    source: Source, only: Iterable[str] | None = None, *, encoding: str | None = None
) -> list[Referentiel]:
    """Every fiche (or those in `only`), all or nothing.

    Reads to the end and raises once with the problems of every bad fiche.
    Keeps all fiches in memory: for a whole national export use `iter_fiches`.
    """
    found: list[Referentiel] = []
    problems: list[Problem] = []
    for item in _scan(source, only, encoding):
        if isinstance(item, ReferentielError):
            problems.extend(item.problems)
        else:
            found.append(item)
    if problems:
        raise ReferentielError(problems=problems)
    return found


def import_fiche(source: Source, numero: str, *, encoding: str | None = None) -> Referentiel:
    """The one fiche `numero` (``"RNCP34947"`` or ``"34947"``) of an RNCP export."""
    return read_fiches(source, [numero], encoding=encoding)[0]
