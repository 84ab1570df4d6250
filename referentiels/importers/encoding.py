"""Read an XML byte stream in the right encoding, as UTF-8, without loading it whole.

The RNCP exports mix UTF-8 and Latin-1. The choice made here:

- an encoding declared in the XML declaration (``ISO-8859-1``, ``windows-1252``…)
  is honoured;
- a file that declares UTF-8, or nothing, is read as UTF-8, and any byte sequence
  that is not valid UTF-8 is read as cp1252 (a superset of Latin-1 for
  printable characters). Each character repaired so is preceded by the marker
  `REPAIRED` so that the importer can say which fiche was repaired, then drop it;
- ``encoding="utf-8"`` refuses such bytes instead: `ReferentielError` with the line;
- any other ``encoding=`` forces that codec whatever the declaration says.

Only byte-for-character encodings of Latin text are accepted (UTF-8, ASCII,
ISO-8859-1/-15, cp1252), declared or forced: an encoding such as UTF-7 or
UTF-16 would hide markup from any check made on the raw bytes.

With ``refuse_dtd``, the decoded text is read by a small expat parser up to the
first element: any DOCTYPE (hence any entity, internal or external) is refused
there, after decoding, before a single byte of it is handed on.
"""

from __future__ import annotations

import codecs
import re
import xml.parsers.expat
from typing import BinaryIO

from referentiels.errors import ReferentielError

# A private-use character, never found in RNCP text, marks each repaired character.
REPAIRED = "\ue000"
_HANDLER = "reperes-cp1252"
_DECLARATION = re.compile(rb"^(\xef\xbb\xbf)?<\?xml[^>]*?\?>")
_DECLARED = re.compile(rb"encoding\s*=\s*[\"']([A-Za-z0-9._-]+)[\"']")
_CHUNK = 1 << 18
# Codec names (as `codecs.lookup` gives them) of the encodings an export may use.
ALLOWED_ENCODINGS = frozenset(
    {"utf-8", "utf-8-sig", "ascii", "iso8859-1", "iso8859-15", "cp1252"}
)


def _repair_as_cp1252(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start : error.end]
    text = bad.decode("cp1252", errors="replace")
    return "".join(REPAIRED + char for char in text), error.end


codecs.register_error(_HANDLER, _repair_as_cp1252)


def _normal(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name.lower()


class _DtdFound(Exception):
    def __init__(self, what: str, line: int) -> None:
        super().__init__(what)
        self.what = what
        self.line = line


class _DtdGuard:
    """Read the decoded prolog with expat and refuse any DTD or entity declaration.

    A DTD can only come before the first element, so the guard stops there.
    """

    def __init__(self) -> None:
        self.done = False
        parser = xml.parsers.expat.ParserCreate("UTF-8")
        parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._entity
        parser.StartElementHandler = self._element
        self._parser = parser

    def _doctype(self, *_: object) -> None:
        raise _DtdFound("DOCTYPE", self._parser.CurrentLineNumber)

    def _entity(self, *_: object) -> None:
        raise _DtdFound("ENTITY", self._parser.CurrentLineNumber)

    def _element(self, *_: object) -> None:
        self.done = True
        raise _DtdFound("", 0)  # stop here: the prolog is over

    def feed(self, data: bytes, final: bool) -> None:
        if self.done:
            return
        try:
            self._parser.Parse(data, final)
        except _DtdFound as found:
            if found.what:
                self.done = True
                raise
        except xml.parsers.expat.ExpatError:
            # Broken XML: the real parser reads the same bytes and says where.
            self.done = True


class Utf8Reader:
    """A binary file-like object giving the UTF-8 text of `raw`, declared as UTF-8."""

    def __init__(
        self,
        raw: BinaryIO,
        source: str | None,
        encoding: str | None = None,
        *,
        refuse_dtd: bool = False,
    ) -> None:
        self._raw = raw
        self._source = source
        self._lines = 0
        self._pending = b""
        self._offset = 0
        self._done = False
        self.repaired = False
        self._guard = _DtdGuard() if refuse_dtd else None
        head = raw.read(_CHUNK)
        declaration = _DECLARATION.match(head)
        declared: str | None = None
        if declaration:
            found = _DECLARED.search(declaration.group(0))
            declared = found.group(1).decode("ascii") if found else None
            # The text we hand on is UTF-8: say so, and keep the line count.
            newlines = declaration.group(0).count(b"\n")
            head = b'<?xml version="1.0" encoding="UTF-8"?>' + b"\n" * newlines + head[
                declaration.end() :
            ]
        elif head.startswith(codecs.BOM_UTF8):
            head = head[len(codecs.BOM_UTF8) :]
        if encoding is not None:
            codec, errors = _normal(encoding), "strict"
        elif declared is not None and _normal(declared) != "utf-8":
            codec, errors = _normal(declared), "strict"
        else:
            codec, errors = "utf-8", _HANDLER
        try:
            self._decoder = codecs.getincrementaldecoder(codec)(errors)
        except LookupError:
            raise ReferentielError(
                f"encodage inconnu « {encoding or declared} »", file=source, location="ligne 1"
            ) from None
        if codec not in ALLOWED_ENCODINGS:
            raise ReferentielError(
                f"encodage « {encoding or declared} » refusé : un export RNCP est en UTF-8 "
                "ou en Latin-1 (ISO-8859-1, cp1252)",
                file=source,
                location="ligne 1",
            )
        self.codec = codec
        self._pending = self._convert(head, final=False)

    def _convert(self, data: bytes, *, final: bool) -> bytes:
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as error:
            line = self._lines + error.object[: error.start].count(b"\n") + 1
            byte = error.object[error.start]
            raise ReferentielError(
                f"octet 0x{byte:02X} invalide en {self.codec} : le fichier n'est pas dans "
                "l'encodage attendu (relancez sans forcer l'encodage, ou avec « cp1252 » "
                "pour un export en Latin-1)",
                file=self._source,
                location=f"ligne {line}",
            ) from None
        self._lines += data.count(b"\n")
        if not self.repaired and REPAIRED in text:
            self.repaired = True
        out = text.encode("utf-8")
        if self._guard is not None and not self._guard.done:
            try:
                self._guard.feed(out, final)
            except _DtdFound as found:
                raise ReferentielError(
                    f"déclaration {found.what} refusée : un export RNCP n'en contient pas "
                    "(une DTD peut déclarer des entités qui font exploser la taille du texte)",
                    file=self._source,
                    location=f"ligne {found.line}",
                ) from None
        return out

    def read(self, size: int = -1) -> bytes:
        # Keep an offset into the converted chunk, so that a reader asking for
        # small pieces does not copy the whole chunk again at each call.
        while not self._done and (size < 0 or len(self._pending) - self._offset < size):
            rest = self._pending[self._offset :]
            data = self._raw.read(_CHUNK)
            if not data:
                self._pending = rest + self._convert(b"", final=True)
                self._done = True
            else:
                self._pending = rest + self._convert(data, final=False)
            self._offset = 0
        end = len(self._pending) if size < 0 else self._offset + size
        out = self._pending[self._offset : end]
        self._offset = min(end, len(self._pending))
        return out
