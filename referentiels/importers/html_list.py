"""Split a list of compétences written in loose HTML or text into items.

The RNCP export writes each bloc's ``LISTE_COMPETENCES`` by hand-made HTML or
plain text: ``<ul><li>``, ``<p>``, ``<br>``, bullets (``-``, ``*``, ``•``,
``–``), numbering (``C1.``, ``C1 -``, ``1)``, ``1.``), nested lists, ``&nbsp;``,
empty items, a heading such as « Compétences : » before the list, and at times
the evaluation terms after it. The rules, in order:

1. HTML escaped as text (``&lt;ul&gt;``) is unescaped once, then parsed.
2. Each ``<li>``, at any depth, is one item; ``<br>`` and ``<p>`` inside an item
   are spaces. Outside items, every line, paragraph or ``<br>`` is one item, and
   ``•``/``▪`` bullets inside one line also separate items.
3. A leading bullet or ordinal (``-``, ``1)``, ``2.``, ``a)``) is dropped; a
   leading code (``C1``, ``C1.2``, ``CP 3``, ``1.1``) becomes the item's code; a
   code alone on its line is the code of the next line.
4. An item without code that ends with « : » is a heading (« Compétences : »,
   « Le candidat est capable de : », the head of a nested list): dropped.
5. An item that starts the evaluation terms (« Modalités d'évaluation… »,
   « Évaluation : ») ends the list.
6. Empty items are dropped; a trailing « ; » or « , » (list punctuation) is
   removed, the rest of the wording is kept as written.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from referentiels.errors import ReferentielError

_BREAKS = {
    "br", "p", "div", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6",
    "section", "blockquote", "dl", "dt", "dd", "hr",
}
_SPACES = re.compile(r"\s+")
_LIST_PUNCTUATION = re.compile(r"\s*[;,]$")
_BULLET = re.compile(r"^[-*•–—·▪►➢✓■□◦○]+\s*")
_ORDINAL = re.compile(r"^(?:\d{1,2}|[a-z]|[ivx]{1,4})\s*[.)]\s+|^\d{1,2}\s*[-–—]\s+")
_CODE = re.compile(
    r"^(?P<code>[A-Z]{1,4}\s?\d{1,3}(?:[.-]\d{1,3})*|\d{1,2}(?:\.\d{1,2})+)"
    r"(?:\s*[.):\-–—]\s*|\s+|$)(?P<rest>.*)$",
    re.DOTALL,
)
_INLINE_BULLET = re.compile("[•▪■]")
_HEADING = re.compile(r"^(?:les\s+)?comp[ée]tences(?:\s+(?:attest[ée]es|vis[ée]es))?\s*:?$", re.I)
_EVALUATION = re.compile(
    r"^(?:les\s+)?modalit[ée]s\s+d.[ée]valuation\b|^[ée]valuation\s*:", re.I
)


class _Reader(HTMLParser):
    """Collect (text, in_item) chunks from loose HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[tuple[str, bool]] = []
        self._buffer: list[str] = []
        self._item_depth = 0

    def _flush(self) -> None:
        text = "".join(self._buffer)
        self._buffer = []
        if text.strip():
            self.chunks.append((text, self._item_depth > 0))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "li":
            self._flush()
            self._item_depth += 1
        elif tag in ("ul", "ol"):
            self._flush()
        elif tag in _BREAKS:
            if self._item_depth:
                self._buffer.append(" ")
            else:
                self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "li":
            self._flush()
            self._item_depth = max(0, self._item_depth - 1)
        elif tag in ("ul", "ol") or tag in _BREAKS and not self._item_depth:
            self._flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self._buffer.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def _split_bullets(line: str) -> list[str]:
    """Cut `line` at each bullet (•, ▪, ■) that has white space on both sides.

    One pass over the line. (A regular expression ``\\s+[•▪■]\\s+`` did the same but,
    on a long run of white space without a bullet, tried again from every position:
    30,000 tabs took seconds.)
    """
    parts: list[str] = []
    start = 0
    last = len(line) - 1
    for found in _INLINE_BULLET.finditer(line):
        index = found.start()
        if (index == 0 or line[index - 1].isspace()) and (
            index == last or line[index + 1].isspace()
        ):
            parts.append(line[start:index])
            start = index + 1
    parts.append(line[start:])
    return parts


def _lines(text: str, in_item: bool) -> list[str]:
    if in_item:
        return [text]
    lines: list[str] = []
    for line in text.splitlines():
        lines.extend(_split_bullets(line))
    return lines


def _clean(text: str) -> str:
    return _SPACES.sub(" ", text.replace("\xa0", " ").replace("\u202f", " ")).strip()


def split_competences(text: str) -> list[tuple[str | None, str]]:
    """Items of a compétence list: ``(code or None, wording)``, in order.

    `ReferentielError` (without file: the caller adds it) when an item has a
    code but no wording.
    """
    if "<" not in text and "&lt;" in text:
        text = html.unescape(text)
    # Some exports carry the two characters backslash-n instead of a line break.
    text = text.replace("\\n", "\n")
    chunks: list[tuple[str, bool]]
    if "<" in text or "&" in text:
        reader = _Reader()
        reader.feed(text)
        reader.close()
        chunks = reader.chunks
    else:
        chunks = [(text, False)]  # plain text: no need for the HTML parser
    items: list[tuple[str | None, str]] = []
    pending: str | None = None
    lines = (raw for chunk, in_item in chunks for raw in _lines(chunk, in_item))
    for raw in lines:
        line = _clean(raw)
        line = _ORDINAL.sub("", _BULLET.sub("", line), count=1).strip()
        if not line:
            continue
        if _EVALUATION.match(line):
            break
        code: str | None = None
        match = _CODE.match(line)
        if match:
            code = match.group("code").replace(" ", "").upper()
            line = _BULLET.sub("", match.group("rest").strip())
            if pending is not None:
                raise ReferentielError(f"compétence « {pending} » sans libellé")
            if not line:
                pending = code  # « <p>C1</p><p>Accueillir…</p> »: the wording follows
                continue
        elif pending is not None:
            code, pending = pending, None
        line = _LIST_PUNCTUATION.sub("", line)
        if code is None and (line.endswith(":") or _HEADING.match(line)):
            continue
        if line:
            items.append((code, line))
    if pending is not None:
        raise ReferentielError(f"compétence « {pending} » sans libellé")
    return items
