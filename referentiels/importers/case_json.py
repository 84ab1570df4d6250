"""Import a 1EdTech CASE 1.0 package (JSON): CFDocument, CFItems, CFAssociations.

The tree is read from the ``isChildOf`` associations only (origin = the child,
destination = its parent, a CFItem or the CFDocument), siblings ordered by
``sequenceNumber`` then by their order in the file. It is flattened to blocs and
compétences by the rule of `referentiels.importers.tree`: items under the
document are blocs when some of them have children, else one bloc « B1 »
named after the document holds them all.

Mapping: id from the document's title (letters, digits and « - »), version from
``version`` or else the date of ``lastChangeDateTime``, status « historique »
when ``adoptionStatus`` is Deprecated or Retired, certificateur from
``publisher`` or ``creator``. An item's code is its ``humanCodingScheme``
(else ``listEnumeration``, else ``I<n>``), its official wording the
``fullStatement``, its ``notes`` a note. CFItems attached to nothing are left
out, and the provenance says how many.
"""

from __future__ import annotations

import json
import os
from typing import Any

from referentiels.errors import Problem, ReferentielError, read_source
from referentiels.importers.tree import Node, flatten, safe_code, safe_id
from referentiels.model import VERSION_PATTERN, Provenance, Referentiel
from referentiels.validate import check_referentiel

_RETIRED = {"deprecated", "retired"}
_NOT_GIVEN = "non indiqué"


def _text(value: object) -> str:
    return " ".join(value.split()) if isinstance(value, str) else ""


def _identifier(node: object) -> str:
    if isinstance(node, dict):
        value = node.get("identifier")
        if isinstance(value, str):
            return value
    return ""


def read_package(data: object, source: str | None = "<texte>") -> Referentiel:
    """A référentiel from a parsed CASE package."""
    problems: list[Problem] = []

    def problem(location: str, message: str) -> None:
        problems.append(Problem(message, source, location))

    if not isinstance(data, dict):
        raise ReferentielError("un paquet CASE est un objet JSON", file=source, location="$")
    document = data.get("CFDocument")
    if not isinstance(document, dict):
        raise ReferentielError("CFDocument manquant", file=source, location="CFDocument")
    doc_id = _identifier(document)
    title = _text(document.get("title"))
    if not doc_id:
        problem("CFDocument.identifier", "identifiant manquant")
    if not title:
        problem("CFDocument.title", "titre manquant ou vide")
    items_data = data.get("CFItems", [])
    associations = data.get("CFAssociations", [])
    if not isinstance(items_data, list):
        problem("CFItems", "liste attendue")
        items_data = []
    if not isinstance(associations, list):
        problem("CFAssociations", "liste attendue")
        associations = []

    nodes: dict[str, Node] = {}
    order: dict[str, int] = {}
    codes: dict[str, str] = {}
    refused: set[str] = set()  # already reported: their associations are not reported again
    for index, item in enumerate(items_data):
        where = f"CFItems[{index}]"
        identifier = _identifier(item)
        if not identifier:
            problem(f"{where}.identifier", "identifiant manquant")
            continue
        assert isinstance(item, dict)
        if identifier in nodes:
            problem(f"{where}.identifier", f"CFItem en double « {identifier} »")
            continue
        statement = _text(item.get("fullStatement"))
        if not statement:
            problem(f"{where}.fullStatement", "énoncé vide")
            refused.add(identifier)
            continue
        raw_code = _text(item.get("humanCodingScheme")) or _text(item.get("listEnumeration"))
        code = safe_code(raw_code, f"I{index + 1}") if raw_code else f"I{index + 1}"
        if code in codes:
            problem(
                f"{where}.humanCodingScheme", f"code en double « {code} » (déjà {codes[code]})"
            )
            refused.add(identifier)
            continue
        codes[code] = where
        note = _text(item.get("notes")) or None
        nodes[identifier] = Node(code=code, intitule=statement, note=note)
        order[identifier] = index

    children: dict[str, list[tuple[float, int, str]]] = {}
    for index, association in enumerate(associations):
        if not isinstance(association, dict) or association.get("associationType") != "isChildOf":
            continue
        child = _identifier(association.get("originNodeURI"))
        parent = _identifier(association.get("destinationNodeURI"))
        where = f"CFAssociations[{index}]"
        if child in refused or parent in refused:
            continue
        if child not in nodes:
            problem(f"{where}.originNodeURI", f"CFItem inconnu « {child} »")
            continue
        if parent != doc_id and parent not in nodes:
            problem(f"{where}.destinationNodeURI", f"parent inconnu « {parent} »")
            continue
        sequence = association.get("sequenceNumber")
        rank = float(sequence) if isinstance(sequence, int | float) else float("inf")
        children.setdefault(parent, []).append((rank, order[child], child))
    if problems:
        raise ReferentielError(problems=problems)

    placed: set[str] = set()

    def attach(parent: str, path: tuple[str, ...]) -> list[Node]:
        found: list[Node] = []
        for _, _, child in sorted(children.get(parent, [])):
            if child in path:
                raise ReferentielError(
                    f"boucle dans l'arbre : « {nodes[child].code} » est son propre parent",
                    file=source,
                    location="CFAssociations",
                )
            if child in placed:
                continue  # an item placed twice keeps its first place
            placed.add(child)
            node = nodes[child]
            node.children = attach(child, (*path, child))
            found.append(node)
        return found

    top = attach(doc_id, (doc_id,))
    blocs, flat = flatten(top, title)
    notes: list[str] = []
    if flat:
        notes.append("liste sans niveaux : une seule partie « B1 » reprend toutes les compétences")
    left_out = len(nodes) - len(placed)
    if left_out:
        notes.append(f"{left_out} CFItem(s) rattaché(s) à rien : laissés de côté")
    version = _text(document.get("version"))
    if not VERSION_PATTERN.fullmatch(version):
        changed = _text(document.get("lastChangeDateTime"))[:10]
        version = changed if VERSION_PATTERN.fullmatch(changed) else "1"
    sources = [source or "<texte>"]
    for key in ("uri", "officialSourceURL"):
        value = _text(document.get(key))
        if value and value not in sources:
            sources.append(value)
    status = _text(document.get("adoptionStatus"))
    ref = Referentiel(
        id=safe_id(title, "case"),
        rncp=None,
        intitule=title,
        certificateur=_text(document.get("publisher")) or _text(document.get("creator"))
        or _NOT_GIVEN,
        niveau=_NOT_GIVEN,
        provenance=Provenance(
            version=version,
            status="historique" if status.lower() in _RETIRED else "en_vigueur",
            sources=tuple(sources),
            verified=f"Importé d'un paquet CASE 1.0 « {source} », CFDocument {doc_id}.",
            notes=tuple(notes),
        ),
        blocs=blocs,
    )
    found = check_referentiel(ref, source)
    if found:
        raise ReferentielError(problems=found)
    return ref


def loads_package(text: str | bytes, source: str | None = "<texte>") -> Referentiel:
    """A référentiel from the JSON text of a CASE package."""
    try:
        data: Any = json.loads(text)
    except UnicodeDecodeError:
        raise ReferentielError("le fichier n'est pas en UTF-8", file=source) from None
    except json.JSONDecodeError as error:
        raise ReferentielError(
            f"JSON invalide : {error.msg}",
            file=source,
            location=f"ligne {error.lineno}, colonne {error.colno}",
        ) from None
    return read_package(data, source)


def import_package(path: str | os.PathLike[str]) -> Referentiel:
    """A référentiel from a CASE 1.0 package file."""
    raw, name = read_source(path)
    return loads_package(raw, source=name)
