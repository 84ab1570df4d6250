"""Cleaning what people type or paste, before it is stored.

Policy: invisible control characters pasted from other software (NUL, escape codes,
form feeds, byte-order marks, lone surrogates) are REMOVED, never refused: the person
keeps their text. Line breaks stay in multi-line fields and become spaces in one-line
fields. Texts that are empty when required, or longer than the limit, are REFUSED
with a message that says which field and what limit: a text is never cut silently.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from .errors import Invalid

# Cleaning may remove characters, so a raw text a little over its limit may still fit; one
# longer than this many times the limit is refused before the (slow) cleaning walks it.
RAW_FACTOR = 2

# What each field may hold, in characters (after cleaning).
LIMITS = {
    "title": 300,
    "description": 10_000,
    "where": 300,
    "how": 10_000,
    "tools": 5_000,
    "frequency": 100,
    "comment": 5_000,
    "projet": 10_000,
    "caption": 500,
    "text": 10_000,
}

# Names shown to people in messages.
FIELD_NAMES = {
    "title": "le titre",
    "description": "la description",
    "where": "le lieu",
    "how": "la façon de faire",
    "tools": "les outils",
    "frequency": "la fréquence",
    "comment": "le commentaire",
    "projet": "le projet",
    "caption": "la légende",
    "text": "le texte",
    "started_on": "la date de début",
    "ended_on": "la date de fin",
    "jury_date": "la date du jury",
}

# Byte-order marks, zero-width space, odd line separators, and the bidirectional overrides
# that can make a text read differently from what it holds (LRM and RLM are kept).
_REMOVED = {
    "\ufeff", "\ufffe", "\uffff", "\u200b", "\u2028", "\u2029",
    "\u202a", "\u202b", "\u202c", "\u202d", "\u202e",
    "\u2066", "\u2067", "\u2068", "\u2069",
}


def _keep(char: str, multiline: bool) -> str:
    if char == "\n":
        return "\n" if multiline else " "
    if char == "\t":
        return " "
    if char in _REMOVED:
        return ""
    category = unicodedata.category(char)
    if category in ("Cc", "Cs", "Co"):
        return ""
    return char


def clean_text(
    value: object,
    field: str,
    *,
    required: bool = False,
    multiline: bool = True,
    max_length: int | None = None,
) -> str:
    """The text as stored: NFC, control characters removed, trimmed; Invalid if empty or long."""
    name = FIELD_NAMES.get(field, field)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid(f"Pour {name}, écrivez du texte.", field=field)
    limit = max_length if max_length is not None else LIMITS.get(field, 10_000)
    if len(value) > RAW_FACTOR * limit:
        raise _too_long(name, field, limit, len(value))
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(_keep(c, multiline) for c in text)
    text = unicodedata.normalize("NFC", text).strip()
    if required and not text:
        raise Invalid(f"Écrivez {name}.", field=field)
    if len(text) > limit:
        raise _too_long(name, field, limit, len(text))
    return text


def _too_long(name: str, field: str, limit: int, length: int) -> Invalid:
    return Invalid(
        f"Le texte est trop long pour {name} : {limit} signes au plus (il y en a {length}).",
        field=field,
        max_length=limit,
    )


def parse_date(value: object, field: str) -> date | None:
    """An ISO date (AAAA-MM-JJ) between 1900 and 2100, or None for an empty value."""
    name = FIELD_NAMES.get(field, field)
    if value is None or value == "":
        return None
    if isinstance(value, date):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            raise Invalid(
                f"Pour {name}, écrivez une date comme 2025-03-31.", field=field
            ) from None
    else:
        raise Invalid(f"Pour {name}, écrivez une date comme 2025-03-31.", field=field)
    if not 1900 <= parsed.year <= 2100:
        raise Invalid(f"La date est impossible pour {name}.", field=field)
    return parsed
