"""Référentiels: official competency frameworks, their model, files and importers.

This package imports nothing else of Repères, and only the standard library.
"""

from referentiels.catalog import Catalog, clear_cache, load_shipped
from referentiels.errors import Problem, ReferentielError
from referentiels.model import (
    Address,
    Bloc,
    Competence,
    Provenance,
    Referentiel,
    Status,
    make_address,
    parse_address,
)
from referentiels.pictos import PICTOS
from referentiels.validate import FORMAT, check, dump, load, loads

__all__ = [
    "FORMAT",
    "PICTOS",
    "Address",
    "Bloc",
    "Catalog",
    "Competence",
    "Problem",
    "Provenance",
    "Referentiel",
    "ReferentielError",
    "Status",
    "check",
    "clear_cache",
    "dump",
    "load",
    "load_shipped",
    "loads",
    "make_address",
    "parse_address",
]
