"""The context a dossier template is rendered with: the contract with the service.

`integration/dossier/context.py` builds a `DossierContext` from a parcours; a template
(the default one or a structure's own) reads it with Jinja tags such as
``{{ candidat.nom_complet }}`` or ``{%p for bloc in blocs %}``.

Every field is declared once, here, with its French description in
``Annotated[...]``. The template checker (`check.py`) and the field list of
``README.md`` are both derived from these declarations, so a field added here
is at once allowed in templates and documented (a test keeps the README in step).

Field names are French because the people who write templates are French-speaking
staff of a structure, not developers (GLOSSARY.md: the users' words).

Conventions:

- Every text is a ready-to-print ``str``; an unknown value is ``""``, never None.
  A field marked ``NotRequired`` may be left out: the template prints nothing for it.
- Dates are already written in French words (``date_fr`` helps), for the
  template has no business formatting them. `render` also accepts
  ``datetime.date``/``datetime`` values and writes them with ``date_fr``.
- Photos arrive as bytes (a JPEG already reduced, see `photos.reduce_photo`)
  with a caption; in the template a photo is ``photo.image`` (the picture, or the
  words « photo illisible »), ``photo.legende`` and ``photo.illisible``.
"""

from __future__ import annotations

import datetime as dt
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Required,
    TypedDict,
    get_args,
    get_origin,
    get_type_hints,
)

ModaliteCode = Literal["concret", "abstrait", "transfert"]
Verdict = Literal["oui", "non", "partiellement", ""]
Source = Literal["workplace", "coursework", "moodle"]


class Candidat(TypedDict):
    """The worker who brings the dossier to the jury."""

    nom: Annotated[str, "Nom de famille du candidat."]
    prenom: Annotated[str, "Prénom du candidat."]
    nom_complet: Annotated[str, "Prénom et nom, tels qu'ils s'écrivent sur le dossier."]
    structure: Annotated[str, "La structure où il travaille (ex. « La Fabrique de l'Emploi »)."]


class Accompagnateur(TypedDict):
    nom_complet: Annotated[str, "Prénom et nom de l'accompagnateur."]
    fonction: Annotated[str, "Sa fonction (ex. « accompagnatrice RAE »), ou vide."]


class Referentiel(TypedDict):
    """An official framework the candidat is positioned on."""

    id: Annotated[str, "Identifiant du référentiel dans Repères (ex. « TP-APH »)."]
    version: Annotated[str, "Version du texte officiel (souvent sa date)."]
    intitule: Annotated[str, "Intitulé officiel de la certification."]
    rncp: Annotated[str, "Numéro RNCP (ex. « RNCP37875 »), ou vide s'il n'est pas connu."]
    certificateur: Annotated[str, "Le certificateur (ministère ou organisme)."]
    niveau: Annotated[str, "Le niveau (ex. « Niveau 3 »)."]
    statut: Annotated[str, "« en vigueur » ou « historique » (version remplacée)."]


class Modalite(TypedDict):
    code: Annotated[str, "« concret », « abstrait » ou « transfert »."]
    phrase: Annotated[str, "En mots simples, ex. « Je montre ce que je fais »."]
    intitule: Annotated[
        str, "Les mots de Différent et Compétent, ex. « concret (je montre ce que je fais) »."
    ]


class Photo(TypedDict):
    """A photo as `render` receives it."""

    data: bytes
    legende: str


class TemplatePhoto(TypedDict):
    """A photo as the template sees it (`render` builds it from a `Photo`)."""

    image: Annotated[object, "La photo elle-même (8 cm de large), ou « photo illisible »."]
    legende: Annotated[str, "La légende écrite par le candidat."]
    illisible: Annotated[bool, "Vrai si le fichier de la photo n'a pas pu être lu."]


class OtherProof(TypedDict):
    """A proof the dossier cannot print (a voice note, a document): named, so the jury asks."""

    sorte: Annotated[str, "« Note vocale » ou « Document »."]
    nom: Annotated[str, "Son nom : la légende du candidat, ou le nom du fichier."]


class Task(TypedDict):
    """A work situation (activité réalisée), in the candidat's words."""

    titre: Annotated[str, "Le titre de l'activité, ex. « Je trie les dons à la recyclerie »."]
    description: Annotated[
        str, "Ce que je fais, dans mes mots (les retours à la ligne sont gardés)."
    ]
    lieu: Annotated[str, "Où ?"]
    comment: Annotated[str, "Comment je m'y prends."]
    avec_quoi: Annotated[str, "Avec quoi (outils, machines, produits)."]
    frequence: Annotated[str, "Combien de fois (ex. « tous les jours »)."]
    date_debut: Annotated[str, "Depuis quand, en toutes lettres (ex. « mars 2024 »), ou vide."]
    date_fin: Annotated[str, "Jusqu'à quand, ou vide si je le fais encore."]
    source: Annotated[
        str, "« workplace » (au travail), « coursework » (en formation) ou « moodle »."
    ]
    source_libelle: Annotated[str, "La source en mots simples : « Au travail », « En formation »…"]
    photos: Annotated[list[Photo], "Les photos de l'activité."]
    autres_preuves: NotRequired[
        Annotated[
            list[OtherProof],
            "Les notes vocales et les documents de l'activité (nommés : ils ne s'impriment pas).",
        ]
    ]
    commentaire: NotRequired[
        Annotated[
            str,
            "Ce que le candidat dit de cette activité pour cette compétence (son commentaire), "
            "ou vide.",
        ]
    ]


class TrainingModule(TypedDict):
    """A training module completed in Moodle, synced by Repères."""

    nom: Annotated[str, "Nom du module de formation."]
    date: Annotated[str, "Date où il a été terminé, en toutes lettres."]


class Review(TypedDict):
    """The accompagnateur's review, in the France VAE words (oui / non / partiellement)."""

    verdict: Annotated[str, "« oui », « non », « partiellement », ou vide (pas encore vu)."]
    verdict_libelle: Annotated[str, "Le verdict à imprimer : « Oui », « Non », « Partiellement »…"]
    commentaire: Annotated[str, "Le commentaire de l'accompagnateur."]
    auteur: Annotated[str, "Qui a donné cet avis."]
    date: Annotated[str, "Quand, en toutes lettres."]


class Competence(TypedDict):
    code: Annotated[str, "Code de la compétence dans le référentiel."]
    intitule: Annotated[str, "Intitulé officiel, tel que le jury le lit."]
    falc: Annotated[str, "La même chose en mots simples (FALC), ou vide."]
    nb_taches: Annotated[int, "Nombre d'activités rattachées à la compétence."]
    nb_preuves: Annotated[int, "Nombre de preuves (photos, fichiers, modules)."]
    taches: Annotated[list[Task], "Les activités (situations de travail) qui la montrent."]
    modules: Annotated[
        list[TrainingModule], "Les modules de formation terminés qui s'y rattachent."
    ]
    revue: Annotated[Review, "L'avis de l'accompagnateur sur cette compétence."]


class Bloc(TypedDict):
    referentiel_id: Annotated[str, "L'identifiant du référentiel de ce bloc (voir referentiels)."]
    code: Annotated[str, "Code du bloc (ex. « RNCP37875BC02 » ou « CCP1 »)."]
    intitule: Annotated[str, "Intitulé officiel du bloc."]
    falc: Annotated[str, "Le bloc en mots simples, ou vide."]
    competences: Annotated[
        list[Competence], "Les compétences du bloc où le candidat se positionne."
    ]
    revue: Annotated[Review, "L'avis de l'accompagnateur sur le bloc entier."]


class RemainingItem(TypedDict):
    """A compétence still to show (no activité yet, or reviewed « non » / « partiellement »)."""

    code: Annotated[str, "Code de la compétence."]
    intitule: Annotated[str, "Intitulé officiel."]
    falc: Annotated[str, "En mots simples, ou vide."]
    note: Annotated[str, "Ce qui manque, ex. « pas encore de photo »."]


class DossierContext(TypedDict):
    """Everything a dossier template can show."""

    candidat: Annotated[Candidat, "Le candidat."]
    accompagnateurs: Annotated[list[Accompagnateur], "Ses accompagnateurs."]
    referentiels: Annotated[list[Referentiel], "Les référentiels visés."]
    modalite: Annotated[Modalite, "La modalité de reconnaissance choisie."]
    blocs: Annotated[list[Bloc], "La grille de positionnement : blocs, puis compétences."]
    autres_activites: NotRequired[
        Annotated[
            list[Task],
            "« Ce que je fais aussi » : les activités qui ne sont rattachées à aucune compétence.",
        ]
    ]
    formation: NotRequired[
        Annotated[list[TrainingModule], "Tous les modules de formation terminés (Moodle)."]
    ]
    reste_a_montrer: Annotated[
        list[RemainingItem],
        "Ce qui reste à montrer : vide, sauf si l'accompagnateur l'ajoute en annexe.",
    ]
    projet: Annotated[str, "Mon projet : ce que je veux faire ensuite, dans mes mots."]
    generated_at: Annotated[str, "Date et heure où le dossier a été créé, en toutes lettres."]
    dossier_version: Annotated[int, "Numéro de version du dossier (1, 2, 3…)."]


MODALITES: Mapping[str, Modalite] = types.MappingProxyType(
    {
        "concret": Modalite(
            code="concret",
            phrase="Je montre ce que je fais",
            intitule="concret (je montre ce que je fais)",
        ),
        "abstrait": Modalite(
            code="abstrait",
            phrase="J'explique ce que je sais faire",
            intitule="abstrait (j'explique ce que je sais faire)",
        ),
        "transfert": Modalite(
            code="transfert",
            phrase="Je montre que je sais le faire ailleurs",
            intitule=(
                "transfert (je compare et j'adapte afin de mettre en œuvre ma compétence ailleurs)"
            ),
        ),
    }
)

VERDICT_LIBELLES: Mapping[str, str] = types.MappingProxyType(
    {"oui": "Oui", "non": "Non", "partiellement": "Partiellement", "": "Pas encore vu"}
)

SOURCE_LIBELLES: Mapping[str, str] = types.MappingProxyType(
    {"workplace": "Au travail", "coursework": "En formation", "moodle": "Module de formation"}
)

_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip


def date_fr(value: dt.date) -> str:
    """« 3 mars 2025 » (« 1er » for the first); a datetime gets « à 14 h 05 »."""
    day = "1er" if value.day == 1 else str(value.day)
    text = f"{day} {_MONTHS[value.month - 1]} {value.year}"
    if isinstance(value, dt.datetime):
        text += f" à {value.hour} h {value.minute:02d}"
    return text


# --- the schema as the template sees it -------------------------------------------------

# What a template reads differs from what `render` receives in one place only:
# a photo's bytes become a picture.
_TEMPLATE_SIDE: dict[type, type] = {Photo: TemplatePhoto}


@dataclass(frozen=True)
class Field:
    """One field a template may use: its dotted path, kind and description."""

    path: str
    kind: str
    doc: str


def _is_typeddict(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__annotations__")


def _strip_annotated(tp: Any) -> tuple[Any, str]:
    args = get_args(tp)
    if args and hasattr(tp, "__metadata__"):
        docs = [m for m in tp.__metadata__ if isinstance(m, str)]
        return args[0], " ".join(docs)
    return tp, ""


def template_type(tp: Any) -> Any:
    """The template-side type for a declared one (a `Photo` becomes a `TemplatePhoto`)."""
    if isinstance(tp, type) and tp in _TEMPLATE_SIDE:
        return _TEMPLATE_SIDE[tp]
    return tp


def typed_fields(td: type) -> dict[str, tuple[Any, str]]:
    """The fields of a TypedDict as the template sees them: name -> (type, description)."""
    td = template_type(td)
    hints = get_type_hints(td, include_extras=True)
    out: dict[str, tuple[Any, str]] = {}
    for name, hint in hints.items():
        if get_origin(hint) in (NotRequired, Required):
            (hint,) = get_args(hint)
        tp, doc = _strip_annotated(hint)
        out[name] = (tp, doc)
    return out


def _kind(tp: Any) -> str:
    if get_origin(tp) is list:
        return "liste"
    if _is_typeddict(tp):
        return "groupe"
    return {str: "texte", int: "nombre", bool: "vrai/faux"}.get(tp, "image")


def _walk(td: type, prefix: str) -> Iterator[Field]:
    for name, (tp, doc) in typed_fields(td).items():
        path = f"{prefix}{name}"
        yield Field(path, _kind(template_type(tp)), doc)
        tp = template_type(tp)
        if get_origin(tp) is list:
            (item,) = get_args(tp)
            item = template_type(item)
            if _is_typeddict(item):
                yield from _walk(item, f"{path}[].")
        elif _is_typeddict(tp):
            yield from _walk(tp, f"{path}.")


def template_fields() -> list[Field]:
    """Every field a template may use, in the schema's order."""
    return list(_walk(DossierContext, ""))


def fields_markdown() -> str:
    """The field table of README.md (``[]`` marks a list to loop over)."""
    lines = ["| champ | sorte | ce que c'est |", "|---|---|---|"]
    for f in template_fields():
        doc = f.doc.replace("|", "\\|")
        lines.append(f"| `{f.path}` | {f.kind} | {doc} |")
    return "\n".join(lines) + "\n"


README_START = "<!-- champs: début (généré par python -m docx_templates.build_default) -->"
README_END = "<!-- champs: fin -->"


def readme_with_fields(readme: str) -> str:
    """`readme` with the text between the two field markers replaced by `fields_markdown()`."""
    head, start, rest = readme.partition(README_START)
    _old, end, tail = rest.partition(README_END)
    if not (start and end):
        raise ValueError("README.md: marqueurs de la liste des champs introuvables")
    return f"{head}{start}\n{fields_markdown()}{end}{tail}"
