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
