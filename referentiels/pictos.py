"""The fixed vocabulary of pictogram keys.

Each key names one everyday action; the web pages draw one simple SVG per key,
beside the words. The vocabulary stays small on purpose: a picture helps only
when the same picture always means the same thing. Add a key here (with its
label) before using it in a data file; the validator refuses unknown keys.
"""

from __future__ import annotations

# key -> label shown beside the picture (French, plain words)
PICTOS: dict[str, str] = {
    "accueillir": "accueillir",
    "vendre": "vendre",
    "ecrire": "écrire, noter",
    "commander": "commander",
    "recevoir": "recevoir la marchandise",
    "ranger": "ranger",
    "emballer": "emballer",
    "compter": "compter, vérifier",
    "nettoyer": "nettoyer",
    "laver": "laver la vaisselle",
    "cuisiner": "cuisiner",
    "servir": "servir",
    "coudre": "coudre",
    "jardiner": "jardiner",
    "planter": "planter",
    "reparer": "réparer",
    "construire": "construire, poser",
    "trier": "trier",
    "securite": "sécurité",
    "organiser": "organiser",
}


def is_picto(key: str) -> bool:
    return key in PICTOS


# A picture per métier family (issue 15): the candidat sees their métier by its picture,
# not by a book for every métier. Keys are pictograms above; words are looked for in the
# référentiel's title (lowercase, accents kept as written in the data).
METIER_FAMILIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("proprete", "nettoyer", ("propreté", "proprete", "hygiène", "nettoyage", "entretien")),
    ("espaces-verts", "planter", ("paysag", "espaces verts", "jardin", "maraîch", "horticol",
                                  "agricole")),
    ("restauration", "cuisiner", ("restauration", "cuisin", "commis", "production culinaire",
                                  "plonge")),
    ("logistique", "emballer", ("logisti", "préparat", "cariste", "entrepôt", "magasinier")),
    ("commerce", "vendre", ("commerce", "vente", "vendeur", "commercial")),
    ("couture", "coudre", ("couture", "retouche", "textile")),
    ("reparation", "reparer", ("mécani", "maintenance", "réparation", "garage")),
    ("batiment", "construire", ("bâtiment", "maçon", "peintre", "menuis")),
)


def metier_picto(title: str) -> str:
    """The pictogram of a métier's family from its title; `referentiel` when none fits."""
    lowered = title.lower()
    for _family, picto, words in METIER_FAMILIES:
        if any(word in lowered for word in words):
            return picto
    return "referentiel"
