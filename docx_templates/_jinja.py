"""The Jinja side shared by `render` and `check_template`: environment, parts, messages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jinja2
from docx.opc.oxml import parse_xml
from docxtpl import DocxTemplate
from jinja2.sandbox import SandboxedEnvironment

_FOOTNOTES = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
# The core properties docxtpl renders as templates (docxtpl.DocxTemplate.render_properties).
PROPERTIES = ("author", "comments", "identifier", "language", "subject", "title")
_PROPERTY_NAMES = {
    "author": "auteur",
    "comments": "commentaires",
    "identifier": "identifiant",
    "language": "langue",
    "subject": "sujet",
    "title": "titre",
}
_TAG = re.compile(r"<[^>]+>")


def _finalize(value: Any) -> Any:
    # A None that slipped into the context prints as nothing, not as "None".
    return "" if value is None else value


def make_environment() -> SandboxedEnvironment:
    """Autoescaping (a value never becomes XML) in a sandbox.

    Templates come from structures, not from developers: the sandbox refuses
    ``{{ ''.__class__.__mro__ }}`` and friends, and caps ``range()``. A field the
    context lacks prints nothing, even deep (``{{ candidat.nom }}`` without
    ``candidat``): unknown names are caught by `check_template` at upload, and a
    partial dossier is better than none on the eve of the jury.
    """
    return SandboxedEnvironment(
        autoescape=True, finalize=_finalize, undefined=jinja2.ChainableUndefined
    )


def _paragraph_lines(xml: str) -> str:
    # docxtpl puts each paragraph on its own line before Jinja sees it, so a
    # Jinja line number points to one paragraph (DocxTemplate.render_xml_part).
    return re.sub(r"<w:p([ >])", r"\n<w:p\1", xml)


def template_parts(tpl: DocxTemplate) -> Iterator[tuple[str, str]]:
    """(where, Jinja source) for every part docxtpl renders, as docxtpl will see it."""
    docx = tpl.get_docx()
    yield "le corps du document", _paragraph_lines(tpl.patch_xml(tpl.get_xml()))
    for uri, what in ((tpl.HEADER_URI, "l'en-tête"), (tpl.FOOTER_URI, "le pied de page")):
        for _rel_id, part in tpl.get_headers_footers(uri):
            xml = tpl.xml_to_string(parse_xml(part.blob))
            name = str(part.partname).rsplit("/", 1)[-1]
            yield f"{what} ({name})", _paragraph_lines(tpl.patch_xml(xml))
    for part in docx.part.package.parts:
        if part.content_type == _FOOTNOTES:
            blob = part.blob.decode("utf-8") if isinstance(part.blob, bytes) else part.blob
            yield "les notes de bas de page", _paragraph_lines(tpl.patch_xml(blob))
    for prop in PROPERTIES:
        value = getattr(docx.core_properties, prop) or ""
        if "{" in value:
            yield f"la propriété « {_PROPERTY_NAMES[prop]} » du document", value


def snippet(source: str, lineno: int | None, width: int = 80) -> str:
    """The visible text of the paragraph at `lineno`, shortened."""
    if not lineno:
        return ""
    lines = source.splitlines()
    if not 0 < lineno <= len(lines):
        return ""
    text = _TAG.sub("", lines[lineno - 1]).strip()
    text = (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    )
    if len(text) > width:
        text = text[: width - 1] + "…"
    return text


def where(part: str, source: str, lineno: int | None) -> str:
    """« dans le corps du document, près de « … » »."""
    near = snippet(source, lineno)
    return f"dans {part}, près de « {near} »" if near else f"dans {part}"


_END_OF_TEMPLATE = re.compile(
    r"Unexpected end of template.*?looking for the following tags: ([^.]*)", re.S
)
_UNKNOWN_TAG = re.compile(r"Encountered unknown tag '(\w+)'")
_UNKNOWN_FILTER = re.compile(r"No filter named '(\w+)'")
_UNKNOWN_TEST = re.compile(r"No test named '(\w+)'")
_UNEXPECTED_CLOSE = re.compile(r"Unexpected end of template")


def explain(exc: jinja2.TemplateError) -> str:
    """A French sentence for a Jinja error, with Jinja's own words in case they help."""
    msg = str(exc.message or exc)
    if m := _END_OF_TEMPLATE.search(msg):
        # Jinja lists what could come next ('elif' or 'else' or 'endif'): what is
        # missing is the closing tag.
        wanted = re.findall(r"'(\w+)'", m.group(1))
        closing = next((t for t in wanted if t.startswith("end")), "")
        if closing:
            return f"une balise n'est pas fermée (il manque {{% {closing} %}})"
    if _UNEXPECTED_CLOSE.search(msg):
        return "une balise n'est pas fermée"
    if m := _UNKNOWN_TAG.search(msg):
        tag = m.group(1)
        if tag.startswith("end") or tag in ("else", "elif"):
            return f"la balise {{% {tag} %}} ne ferme rien (balise ouvrante manquante ?)"
        return f"la balise « {tag} » n'existe pas"
    if m := _UNKNOWN_FILTER.search(msg):
        return f"le filtre « {m.group(1)} » n'existe pas"
    if m := _UNKNOWN_TEST.search(msg):
        return f"le test « {m.group(1)} » n'existe pas"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"erreur de syntaxe ({msg})"
    return msg
