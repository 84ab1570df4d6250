"""Moodle competency frameworks as CSV (plugin ``tool_lpimportcsv``), both ways.

The file has 14 columns, in Moodle's fixed order: parentidnumber, idnumber,
shortname, description, descriptionformat, scalevalues, scaleconfiguration,
ruletype, ruleoutcome, ruleconfig, relatedidnumbers, exportid, isframework,
taxonomy. How a référentiel travels in it:

- the framework row (``isframework`` = 1): idnumber ``<id>@<version>`` (a Moodle
  site may then hold several versions side by side), shortname the intitulé,
  taxonomy ``domain,competency``, the scale « Non,Partiellement,Oui » (the
  France VAE review words; « Oui » is default and proficient); its description
  carries the identity and the provenance, one labelled paragraph each:
  « Format : », « Numéro RNCP : », « Certificateur : », « Niveau : »,
  « Statut : », « Complet : », « Échéance : », « Source : », « Vérifié : », « Note : »;
- a bloc is a first-level competency (empty parentidnumber, idnumber = its
  code), a compétence is its child (parentidnumber = the bloc code, idnumber =
  its code);
- Moodle cuts shortnames at 100 characters, so the shortname is the wording
  (cut with « … » if needed) and the description keeps the exact official
  wording in its first paragraph, then « En mots simples : » (falc),
  « Pictogramme : », « Note : », and « Libellé coupé dans la source consultée. »
  when the wording is truncated.

Read back, such a file gives the same Referentiel. A framework made in Moodle
(no « Format : » paragraph) is read too: the shortname is the wording, the
description a note, the idnumber gives id and codes, and a tree deeper than two
levels is flattened by the rule of `referentiels.importers.tree`.

Formulas. A spreadsheet opening the file would run a cell that begins with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return (« =HYPERLINK(…) »). On
export such a cell gets a leading apostrophe, the mark spreadsheets read as
« text, not a formula »; a cell that already begins with an apostrophe gets one
too. On import, one leading apostrophe before any of these characters is
removed, so the round trip gives back the very wording (« - nettoyer » stays
« - nettoyer »). In Moodle itself the shortname then shows the apostrophe; the
description, which carries the exact wording, never needs one (it begins with
``<p>``).
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
from collections.abc import Iterable
from html.parser import HTMLParser

from referentiels.errors import Problem, ReferentielError, read_source
from referentiels.importers.tree import Node, flatten, safe_code, safe_id
from referentiels.model import RELIABILITIES, Provenance, Referentiel, Reliability
from referentiels.validate import FORMAT, check_referentiel

HEADER = [
    "Parent id number", "Id number", "Shortname", "Description", "Description format",
    "Scale values", "Scale configuration", "Rule type (optional)", "Rule outcome (optional)",
    "Rule config (optional)", "Cross referenced competency id numbers",
    "Exported id (optional)", "Is framework", "Taxonomy",
]
KEYS = [
    "parentidnumber", "idnumber", "shortname", "description", "descriptionformat",
    "scalevalues", "scaleconfiguration", "ruletype", "ruleoutcome", "ruleconfig",
    "relatedidnumbers", "exportid", "isframework", "taxonomy",
]
SCALE_VALUES = "Non,Partiellement,Oui"
SCALE_CONFIGURATION = '[{"scaleid":"0"},{"id":3,"scaledefault":1,"proficient":1}]'
TAXONOMY = "domain,competency"
SHORTNAME_MAX = 100
TRUNCATED_SENTENCE = "Libellé coupé dans la source consultée."

_LABELS = {
    "format": "Format", "rncp": "Numéro RNCP", "certificateur": "Certificateur",
    "niveau": "Niveau", "status": "Statut", "complete": "Complet", "echeance": "Échéance",
    "source": "Source", "verified": "Vérifié", "note": "Note", "falc": "En mots simples",
    "picto": "Pictogramme", "reliability": "Fiabilité", "active": "Actif",
    "successors": "Successeur",
}
_BY_LABEL = {label: key for key, label in _LABELS.items()}
_NOT_GIVEN = "non indiqué"
# First characters that make a spreadsheet read a cell as a formula, and the mark.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_TEXT_MARK = "'"


def neutralise_cell(value: str) -> str:
    """A cell a spreadsheet will not run: a leading apostrophe before a formula start."""
    if value.startswith(_FORMULA_STARTS) or value.startswith(_TEXT_MARK):
        return _TEXT_MARK + value
    return value


def restore_cell(value: str) -> str:
    """The cell as written before `neutralise_cell`."""
    if value.startswith(_TEXT_MARK) and value[1:].startswith((*_FORMULA_STARTS, _TEXT_MARK)):
        return value[1:]
    return value


# -- export -----------------------------------------------------------------


def _para(text: str, label: str | None = None) -> str:
    body = html.escape(text, quote=False).replace("\n", "<br>")
    return f"<p>{label} : {body}</p>" if label else f"<p>{body}</p>"


def _shortname(text: str) -> str:
    return text if len(text) <= SHORTNAME_MAX else text[: SHORTNAME_MAX - 1].rstrip() + "…"


def _item_description(
    intitule: str, falc: str | None, picto: str | None, note: str | None, truncated: bool,
    source: str | None = None, reliability: str | None = None,
) -> str:
    parts = [_para(intitule)]
    if source:
        parts.append(_para(source, _LABELS["source"]))
    if reliability:
        parts.append(_para(reliability, _LABELS["reliability"]))
    if falc:
        parts.append(_para(falc, _LABELS["falc"]))
    if picto:
        parts.append(_para(picto, _LABELS["picto"]))
    if note:
        parts.append(_para(note, _LABELS["note"]))
    if truncated:
        parts.append(_para(TRUNCATED_SENTENCE))
    return "".join(parts)


def _framework_description(ref: Referentiel) -> str:
    prov = ref.provenance
    parts = [_para(ref.intitule), _para(FORMAT, _LABELS["format"])]
    if ref.rncp:
        parts.append(_para(ref.rncp, _LABELS["rncp"]))
    parts.append(_para(ref.certificateur, _LABELS["certificateur"]))
    parts.append(_para(ref.niveau, _LABELS["niveau"]))
    parts.append(_para(prov.status, _LABELS["status"]))
    parts.append(_para("oui" if prov.complete else "non", _LABELS["complete"]))
    if prov.echeance:
        parts.append(_para(prov.echeance, _LABELS["echeance"]))
    if prov.active is not None:
        parts.append(_para("oui" if prov.active else "non", _LABELS["active"]))
    parts.extend(_para(s, _LABELS["successors"]) for s in prov.successors)
    parts.extend(_para(source, _LABELS["source"]) for source in prov.sources)
    if prov.verified:
        parts.append(_para(prov.verified, _LABELS["verified"]))
    parts.extend(_para(note, _LABELS["note"]) for note in prov.notes)
    return "".join(parts)


def export_csv(ref: Referentiel) -> str:
    """The référentiel as a Moodle ``tool_lpimportcsv`` CSV file."""
    bloc_codes = {b.code for b in ref.blocs}
    clash = sorted(bloc_codes & {c.code for c in ref.competences()})
    if clash:
        raise ReferentielError(
            f"export Moodle impossible : code à la fois de bloc et de compétence « {clash[0]} »"
            " (Moodle veut des id number uniques)"
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    empty = [""] * len(KEYS)

    def row(**values: str) -> list[str]:
        line = list(empty)
        for key, value in values.items():
            line[KEYS.index(key)] = neutralise_cell(value)
        return line

    export_id = 1
    writer.writerow(
        row(
            idnumber=f"{ref.id}@{ref.version}", shortname=_shortname(ref.intitule),
            description=_framework_description(ref), descriptionformat="1",
            scalevalues=SCALE_VALUES, scaleconfiguration=SCALE_CONFIGURATION,
            isframework="1", taxonomy=TAXONOMY,
        )
    )
    for bloc in ref.blocs:
        export_id += 1
        writer.writerow(
            row(
                idnumber=bloc.code, shortname=_shortname(bloc.intitule),
                description=_item_description(
                    bloc.intitule, bloc.falc, bloc.picto, bloc.note, False,
                    bloc.source, bloc.reliability,
                ),
                descriptionformat="1", ruleoutcome="0", ruleconfig="null",
                exportid=str(export_id),
            )
        )
        for competence in bloc.competences:
            export_id += 1
            writer.writerow(
                row(
                    parentidnumber=bloc.code, idnumber=competence.code,
                    shortname=_shortname(competence.intitule),
                    description=_item_description(
                        competence.intitule, competence.falc, competence.picto,
                        competence.note, competence.truncated,
                        competence.source, competence.reliability,
                    ),
                    descriptionformat="1", ruleoutcome="0", ruleconfig="null",
                    exportid=str(export_id),
                )
            )
    return out.getvalue()


# -- import -----------------------------------------------------------------


class _Paragraphs(HTMLParser):
    """Paragraphs of a description; ``<br>`` is a line break inside one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._buffer: list[str] = []

    def _flush(self) -> None:
        text = "".join(self._buffer).strip(" \t\r\n")
        self._buffer = []
        if text:
            self.paragraphs.append(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._buffer.append("\n")
        elif tag in ("p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4"):
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("p", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4"):
            self._flush()

    def handle_data(self, data: str) -> None:
        self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _paragraphs(description: str) -> list[str]:
    reader = _Paragraphs()
    reader.feed(description)
    reader.close()
    return reader.paragraphs


def _labelled(paragraphs: list[str]) -> tuple[str | None, list[tuple[str, str]], list[str]]:
    """(first plain paragraph, labelled (key, value) pairs, other plain paragraphs)."""
    first: str | None = None
    pairs: list[tuple[str, str]] = []
    others: list[str] = []
    for index, text in enumerate(paragraphs):
        label, sep, value = text.partition(" : ")
        if index > 0 and sep and label in _BY_LABEL:
            pairs.append((_BY_LABEL[label], value))
        elif index == 0:
            first = text
        else:
            others.append(text)
    return first, pairs, others


class _Row:
    def __init__(self, line: int, values: dict[str, str]) -> None:
        self.line = line
        self.values = values

    def __getitem__(self, key: str) -> str:
        return self.values.get(key, "")


def _header_keys(header: list[str]) -> list[str] | None:
    def norm(text: str) -> str:
        return re.sub(r"[^a-z]", "", text.lower())

    by_label = {norm(label): key for label, key in zip(HEADER, KEYS, strict=True)}
    by_label.update({norm(key): key for key in KEYS})
    keys = [by_label.get(norm(cell), "") for cell in header]
    return keys if "idnumber" in keys and "shortname" in keys else None


def read_csv(text: str, source: str | None = "<texte>") -> Referentiel:
    """A référentiel from the text of a Moodle competency framework CSV."""
    if text.startswith("\ufeff"):
        text = text[1:]
    first_line = text.split("\n", 1)[0]
    delimiter = max(",;\t", key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    problems: list[Problem] = []

    def problem(line: int | None, message: str) -> None:
        problems.append(Problem(message, source, f"ligne {line}" if line else None))

    try:
        header = next(reader, None)
        if header is None:
            raise ReferentielError("fichier vide", file=source)
        keys = _header_keys(header)
        if keys is None:
            raise ReferentielError(
                "en-tête inconnu : attendu les 14 colonnes de l'export Moodle "
                "(« Parent id number », « Id number », « Shortname »…)",
                file=source,
                location="ligne 1",
            )
        rows: list[_Row] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(keys):
                problem(
                    reader.line_num,
                    f"{len(cells)} colonnes au lieu de {len(keys)}",
                )
                continue
            cells = [restore_cell(cell) for cell in cells]
            rows.append(_Row(reader.line_num, dict(zip(keys, cells, strict=True))))
    except csv.Error as error:
        raise ReferentielError(
            f"CSV invalide : {error}", file=source, location=f"ligne {reader.line_num}"
        ) from None
    frameworks = [r for r in rows if r["isframework"].strip() == "1"]
    if len(frameworks) != 1:
        where = frameworks[1].line if len(frameworks) > 1 else None
        problem(where, f"{len(frameworks)} lignes « Is framework » = 1 : il en faut une seule")
        raise ReferentielError(problems=problems)
    framework = frameworks[0]
    nodes: dict[str, tuple[Node, _Row]] = {}
    top: list[Node] = []
    ours = False
    first, pairs, _ = _labelled(_paragraphs(framework["description"]))
    meta: dict[str, list[str]] = {}
    for key, value in pairs:
        meta.setdefault(key, []).append(value)
    ours = meta.get("format") == [FORMAT]
    for row in rows:
        if row is framework:
            continue
        idnumber, shortname = row["idnumber"].strip(), row["shortname"].strip()
        if not idnumber or not shortname:
            problem(row.line, "« Id number » et « Shortname » sont obligatoires")
            continue
        if idnumber in nodes:
            seen = nodes[idnumber][1].line
            problem(row.line, f"id number en double « {idnumber} » (déjà ligne {seen})")
            continue
        nodes[idnumber] = (_node(row, idnumber, shortname, ours), row)
    for idnumber, (node, row) in nodes.items():
        parent = row["parentidnumber"].strip()
        if not parent:
            top.append(node)
        elif parent in nodes:
            nodes[parent][0].children.append(node)
        else:
            problem(row.line, f"parent inconnu « {parent} » pour « {idnumber} »")
    if problems:
        problems.sort(key=lambda p: int((p.location or "ligne 0").split()[-1]))
        raise ReferentielError(problems=problems)
    ref = _referentiel(framework, first, meta, ours, top, source)
    found = check_referentiel(ref, source)
    if found:
        raise ReferentielError(problems=found)
    return ref


def _node(row: _Row, idnumber: str, shortname: str, ours: bool) -> Node:
    code = safe_code(idnumber, f"L{row.line}")
    note = None if code == idnumber else f"id number Moodle « {idnumber} »"
    first, pairs, others = _labelled(_paragraphs(row["description"]))
    if not ours:
        text = " ".join(p for p in ([first] if first else []) + others)
        extra = text if text and text != shortname else None
        note = "; ".join(n for n in (note, extra) if n) or None
        return Node(code=code, intitule=shortname, note=note)
    values = dict(pairs)
    return Node(
        code=code,
        intitule=first or shortname,
        falc=values.get("falc"),
        picto=values.get("picto"),
        note=values.get("note"),
        truncated=TRUNCATED_SENTENCE in others,
        source=values.get("source"),
        reliability=_reliability(values.get("reliability")),
    )


def _reliability(value: str | None) -> Reliability | None:
    for known in RELIABILITIES:
        if value == known:
            return known
    return None


def _referentiel(
    framework: _Row,
    first: str | None,
    meta: dict[str, list[str]],
    ours: bool,
    top: list[Node],
    source: str | None,
) -> Referentiel:
    idnumber = framework["idnumber"].strip()
    title = (first if ours and first else None) or framework["shortname"].strip()
    ref_id, _, version = idnumber.partition("@")
    if not ours or not version:
        ref_id, version = safe_id(idnumber, "moodle"), "1"
    # Our own files always keep their blocs, even blocs still without compétences.
    blocs, flat = flatten(top, title, allow_flat=not ours)

    def one(key: str) -> str | None:
        values = meta.get(key)
        return values[0] if values else None

    if ours:
        status = one("status")
        provenance = Provenance(
            version=version,
            status="historique" if status == "historique" else "en_vigueur",
            sources=tuple(meta.get("source", ())),
            verified=one("verified") or "",
            notes=tuple(meta.get("note", ())),
            complete=one("complete") != "non",
            echeance=one("echeance"),
            active={"oui": True, "non": False}.get(one("active") or ""),
            successors=tuple(meta.get("successors", ())),
        )
        return Referentiel(
            id=ref_id, rncp=one("rncp"), intitule=title,
            certificateur=one("certificateur") or _NOT_GIVEN, niveau=one("niveau") or _NOT_GIVEN,
            provenance=provenance, blocs=blocs,
        )
    notes = [f"id number Moodle du référentiel : « {idnumber} »"]
    if flat:
        notes.append("liste sans niveaux : une seule partie « B1 » reprend toutes les compétences")
    return Referentiel(
        id=ref_id, rncp=None, intitule=title, certificateur=_NOT_GIVEN, niveau=_NOT_GIVEN,
        provenance=Provenance(
            version=version, status="en_vigueur",
            sources=(source or "<texte>",),
            verified=(
                "Importé d'un référentiel de compétences Moodle (CSV tool_lpimportcsv) "
                f"« {source} »."
            ),
            notes=tuple(notes),
        ),
        blocs=blocs,
    )


def import_csv(path: str | os.PathLike[str]) -> Referentiel:
    """A référentiel from a Moodle competency framework CSV file (UTF-8)."""
    raw, name = read_source(path)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ReferentielError(
            f"le fichier n'est pas en UTF-8 (octet 0x{raw[error.start]:02X}) : "
            "exportez-le de Moodle en UTF-8",
            file=name,
            location=f"ligne {line}",
        ) from None
    return read_csv(text, source=name)


def export_many(refs: Iterable[Referentiel]) -> dict[str, str]:
    """One CSV per référentiel, by file name ``<id>@<version>.csv``."""
    return {f"{ref.id}@{ref.version}.csv": export_csv(ref) for ref in refs}
