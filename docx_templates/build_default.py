"""Build the default template, ``docx_templates/dossier-de-preuves.docx``.

    python -m docx_templates.build_default [OUTPUT]

Also rewrites the field list of README.md from `context.py`.

The template is written from code so that a change to it is a readable diff
here, and the .docx beside this file is its output, committed. A structure that
wants its own look opens that .docx in Word, changes styles and words, keeps the
``{{ … }}`` and ``{%p … %}`` tags, and uploads it (README.md).

Deterministic: fixed core-property dates, no thumbnail, every zip entry dated
1980-01-01 in a fixed order. Two builds with the same python-docx and zlib give
the same bytes (a test checks this, and that the committed file has the same
content as a fresh build).

Words: plain ones where the candidat reads (headings of their work, labels such
as « Où ? », « Avec quoi ? »), the référentiel's official wording where the jury
needs it (bloc titles, « Mots du référentiel »), both side by side in the grid.
"""

from __future__ import annotations

import datetime as dt
import io
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.section import WD_SECTION
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.oxml.xmlchemy import BaseOxmlElement
from docx.shared import Cm, Pt, RGBColor
from docx.styles.style import BaseStyle
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

from docx_templates.context import readme_with_fields

DEFAULT_TEMPLATE = Path(__file__).with_name("dossier-de-preuves.docx")
README = Path(__file__).with_name("README.md")

FONT = "Arial"  # LibreOffice substitutes the metric-compatible Liberation Sans
INK = RGBColor(0x1A, 0x1A, 0x1A)
BLUE = RGBColor(0x1F, 0x38, 0x64)  # 11:1 on white
GREY = RGBColor(0x4A, 0x4A, 0x4A)  # 8.9:1 on white: official wording, still readable
SHADE_HEADER = "DCE6F2"
SHADE_BLOC = "EEF3F9"
SHADE_BOX = "F5F5F0"
FIXED_DATE = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
CONTENT_WIDTH = Cm(17.0)  # A4 minus 2 cm margins

# Style names (Word shows them; a structure restyles them).
WORDS = "Paroles du candidat"
OFFICIAL = "Intitulé officiel"
NOTE = "Consigne"
CELL = "Texte de tableau"
PHOTO = "Photo"
LABEL = "Libellé"


# --- small XML helpers -------------------------------------------------------------------


def _el(tag: str, **attrs: str) -> BaseOxmlElement:
    el = OxmlElement(tag)
    for key, value in attrs.items():
        el.set(qn(f"w:{key}"), value)
    return el


def _set_font(style: BaseStyle, name: str) -> None:
    """Set all four font slots and drop theme fonts, which would win over them."""
    rpr = style.element.get_or_add_rPr()
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = _el("w:rFonts")
        rpr.insert(0, fonts)
    for attr in list(fonts.attrib):
        if attr.endswith("Theme"):
            del fonts.attrib[attr]
    for slot in ("ascii", "hAnsi", "cs", "eastAsia"):
        fonts.set(qn(f"w:{slot}"), name)


def _shade(cell: _Cell, fill: str) -> None:
    tcpr = cell._tc.get_or_add_tcPr()
    tcpr.append(_el("w:shd", val="clear", color="auto", fill=fill))


def _borders(table: Table, *, vertical: bool = True, color: str = "8C8C8C") -> None:
    tblpr = table._tbl.tblPr
    borders = _el("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        if not vertical and side in ("left", "right", "insideV"):
            borders.append(_el(f"w:{side}", val="nil"))
        else:
            borders.append(_el(f"w:{side}", val="single", sz="4", space="0", color=color))
    tblpr.append(borders)


def _repeat_header(table: Table) -> None:
    trpr = table.rows[0]._tr.get_or_add_trPr()
    trpr.append(_el("w:tblHeader"))


def _no_split(table: Table) -> None:
    for row in table.rows:
        row._tr.get_or_add_trPr().append(_el("w:cantSplit"))


def _row_height(table: Table, index: int, height: Cm) -> None:
    trpr = table.rows[index]._tr.get_or_add_trPr()
    trpr.append(_el("w:trHeight", val=str(int(height.twips)), hRule="atLeast"))


def _field(paragraph: Paragraph, instruction: str, shown: str = "") -> None:
    """A Word field (PAGE, NUMPAGES, TOC…) marked dirty, so Word computes it on open."""

    def run_with(child: BaseOxmlElement) -> None:
        r = OxmlElement("w:r")
        r.append(child)
        paragraph._p.append(r)

    run_with(_el("w:fldChar", fldCharType="begin", dirty="true"))
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    run_with(instr)
    run_with(_el("w:fldChar", fldCharType="separate"))
    paragraph.add_run(shown)
    run_with(_el("w:fldChar", fldCharType="end"))


# --- styles --------------------------------------------------------------------------------


def _styles(doc: DocumentObject) -> None:
    styles = doc.styles
    normal = styles["Normal"]
    _set_font(normal, FONT)
    normal.font.size = Pt(12)
    normal.font.color.rgb = INK
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.line_spacing = 1.15

    # French for spelling and hyphenation, in every run that says nothing else.
    rpr_default = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault"))
    rpr = rpr_default.find(qn("w:rPr"))
    for old in rpr.findall(qn("w:lang")):
        rpr.remove(old)
    rpr.append(_el("w:lang", val="fr-FR", eastAsia="fr-FR", bidi="ar-SA"))

    for name, size, color, before in (
        ("Title", 30, BLUE, 0),
        ("Subtitle", 16, GREY, 0),
        ("Heading 1", 20, BLUE, 18),
        ("Heading 2", 15, BLUE, 14),
        ("Heading 3", 13, INK, 10),
        ("TOC Heading", 20, BLUE, 0),
    ):
        style = styles[name]
        _set_font(style, FONT)
        style.font.size = Pt(size)
        style.font.color.rgb = color
        style.font.italic = False
        style.font.bold = name != "Subtitle"
        style.paragraph_format.space_before = Pt(before)
        style.paragraph_format.space_after = Pt(6)
    for name in ("Header", "Footer"):
        styles[name].font.size = Pt(9)
        styles[name].font.color.rgb = GREY

    words = styles.add_style(WORDS, WD_STYLE_TYPE.PARAGRAPH)
    words.base_style = normal
    words.next_paragraph_style = normal
    words.paragraph_format.left_indent = Cm(0.6)
    words.paragraph_format.space_before = Pt(4)
    words.paragraph_format.space_after = Pt(8)
    ppr = words.element.get_or_add_pPr()
    border = _el("w:pBdr")
    border.append(_el("w:left", val="single", sz="24", space="8", color="1F3864"))
    ppr.append(border)

    official = styles.add_style(OFFICIAL, WD_STYLE_TYPE.PARAGRAPH)
    official.base_style = normal
    official.font.size = Pt(10.5)
    official.font.color.rgb = GREY
    official.paragraph_format.space_after = Pt(6)

    note = styles.add_style(NOTE, WD_STYLE_TYPE.PARAGRAPH)
    note.base_style = normal
    note.font.size = Pt(10.5)
    note.font.color.rgb = GREY

    cell = styles.add_style(CELL, WD_STYLE_TYPE.PARAGRAPH)
    cell.base_style = normal
    cell.font.size = Pt(10)
    cell.paragraph_format.space_after = Pt(2)
    cell.paragraph_format.line_spacing = 1.0

    photo = styles.add_style(PHOTO, WD_STYLE_TYPE.PARAGRAPH)
    photo.base_style = normal
    photo.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    photo.paragraph_format.keep_with_next = True
    photo.paragraph_format.space_before = Pt(8)
    photo.paragraph_format.space_after = Pt(2)

    caption = styles["Caption"]
    _set_font(caption, FONT)
    caption.font.size = Pt(10.5)
    caption.font.bold = False
    caption.font.italic = False
    caption.font.color.rgb = GREY
    caption.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
    caption.paragraph_format.space_after = Pt(10)

    label = styles.add_style(LABEL, WD_STYLE_TYPE.CHARACTER)
    label.font.bold = True

    _set_font(styles["List Bullet"], FONT)


def _settings(doc: DocumentObject) -> None:
    """Ask Word to update fields (table of contents, page count) when it opens the file."""
    settings = doc.settings.element
    # CT_Settings is a sequence: updateFields must come before these.
    after = (
        "hdrShapeDefaults",
        "footnotePr",
        "endnotePr",
        "compat",
        "docVars",
        "rsids",
        "mathPr",
        "attachedSchema",
        "themeFontLang",
        "clrSchemeMapping",
    )
    update = _el("w:updateFields", val="true")
    for tag in after:
        found = settings.find(qn(f"w:{tag}"))
        if found is not None:
            found.addprevious(update)
            break
    else:
        settings.append(update)
    lang = settings.find(qn("w:themeFontLang"))
    if lang is not None:
        lang.set(qn("w:val"), "fr-FR")
        lang.attrib.pop(qn("w:eastAsia"), None)
    for tag, value in (("decimalSymbol", ","), ("listSeparator", ";")):
        el = settings.find(qn(f"w:{tag}"))
        if el is not None:
            el.set(qn("w:val"), value)


# --- content helpers ------------------------------------------------------------------------


def _tag(doc: DocumentObject | _Cell, tag: str) -> None:
    """A paragraph holding only a docxtpl paragraph tag (``{%p … %}``): it vanishes."""
    doc.add_paragraph(f"{{%p {tag} %}}")


def _labelled(
    container: DocumentObject | _Cell, label: str, value: str, style: str | None = None
) -> Paragraph:
    p = container.add_paragraph(style=style)
    p.add_run(label, style=LABEL)
    p.add_run(value)
    return p


def _table(
    doc: DocumentObject, rows: int, widths: Sequence[float], *, vertical: bool = True
) -> Table:
    table: Table = doc.add_table(rows=rows, cols=len(widths))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    _borders(table, vertical=vertical)
    for row in table.rows:
        for cell, width in zip(row.cells, widths, strict=True):
            cell.width = Cm(width)
    for col, width in zip(table.columns, widths, strict=True):
        col.width = Cm(width)
    return table


def _write(cell: _Cell, text: str, *, bold: bool = False) -> None:
    """Fill a cell's first paragraph in the table text style."""
    p = cell.paragraphs[0]
    p.style = CELL
    run = p.add_run(text)
    run.bold = bold or None


def _lined(doc: DocumentObject, lines: int, first: str = "") -> Table:
    """An empty ruled table to write on by hand."""
    table = _table(doc, lines, [17.0], vertical=False)
    for i in range(lines):
        _row_height(table, i, Cm(0.95))
        table.rows[i].cells[0].paragraphs[0].style = CELL
    if first:
        _write(table.rows[0].cells[0], first)
    return table


def _key_values(doc: DocumentObject, rows: Sequence[tuple[str, str]]) -> Table:
    table = _table(doc, len(rows), [5.0, 12.0])
    for (label, value), row in zip(rows, table.rows, strict=True):
        _write(row.cells[0], label, bold=True)
        _shade(row.cells[0], SHADE_BOX)
        _write(row.cells[1], value)
    return table


# --- the dossier ---------------------------------------------------------------------------


def _cover(doc: DocumentObject) -> None:
    doc.add_paragraph("Dossier de preuves", style="Title")
    doc.add_paragraph("Reconnaissance des acquis de l'expérience (RAE)", style="Subtitle")
    name = doc.add_paragraph()
    name.paragraph_format.space_before = Pt(48)
    run = name.add_run("{{ candidat.nom_complet }}")
    run.bold = True
    run.font.size = Pt(24)
    doc.add_paragraph("{{ candidat.structure }}")
    doc.add_paragraph(
        "Ce dossier raconte mon travail avec mes mots. Il montre ce que je sais faire. "
        "Je l'apporte au jury.",
        style=WORDS,
    ).paragraph_format.space_before = Pt(36)
    _tag(doc, "for r in referentiels")
    _labelled(doc, "Diplôme visé : ", "{{ r.intitule }}{% if r.rncp %} ({{ r.rncp }}){% endif %}")
    _tag(doc, "endfor")
    doc.add_paragraph(
        "Version {{ dossier_version }} du dossier, créée le {{ generated_at }}.", style=NOTE
    )
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)

    doc.add_paragraph("Sommaire", style="TOC Heading")
    _field(
        doc.add_paragraph(),
        'TOC \\o "1-2" \\h \\z \\u',
        "Le sommaire se remplit à l'ouverture dans Word (répondre « Oui »). "
        "Dans LibreOffice : menu Outils, Mettre à jour, Tout mettre à jour.",
    )
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def _me(doc: DocumentObject) -> None:
    doc.add_heading("Moi et ma structure", level=1)
    _key_values(
        doc,
        [
            ("Mon nom", "{{ candidat.prenom }} {{ candidat.nom }}"),
            ("Ma structure", "{{ candidat.structure }}"),
            (
                "Je suis accompagné(e) par",
                "{% for a in accompagnateurs %}{{ a.nom_complet }}"
                "{% if a.fonction %} ({{ a.fonction }}){% endif %}"
                "{% if not loop.last %}, {% endif %}{% endfor %}",
            ),
            ("Ce dossier", "Version {{ dossier_version }}, créée le {{ generated_at }}"),
        ],
    )


def _referentiels(doc: DocumentObject) -> None:
    doc.add_heading("Le diplôme que je vise", level=1)
    doc.add_paragraph(
        "Le référentiel est le texte officiel du diplôme. Il dit ce qu'une personne "
        "du métier sait faire.",
        style=NOTE,
    )
    _tag(doc, "for r in referentiels")
    doc.add_heading("{{ r.intitule }}", level=2)
    _key_values(
        doc,
        [
            ("Numéro RNCP", "{% if r.rncp %}{{ r.rncp }}{% else %}non renseigné{% endif %}"),
            ("Certificateur", "{{ r.certificateur }}"),
            ("Niveau", "{{ r.niveau }}"),
            ("Version du référentiel", "{{ r.version }} ({{ r.statut }})"),
        ],
    )
    _tag(doc, "endfor")

    doc.add_heading("Comment je montre mes compétences", level=2)
    p = doc.add_paragraph(style=WORDS)
    p.add_run("{{ modalite.phrase }}").bold = True
    doc.add_paragraph("Modalité de reconnaissance : {{ modalite.intitule }}", style=OFFICIAL)


GRID_WIDTHS = (1.7, 4.8, 4.0, 1.8, 2.0, 2.7)


def _grid(doc: DocumentObject) -> None:
    doc.add_heading("Mon positionnement", level=1)
    doc.add_paragraph(
        "Pour chaque compétence du référentiel : ce que j'ai montré, et l'avis de "
        "mon accompagnateur.",
        style=NOTE,
    )
    table = _table(doc, 7, GRID_WIDTHS)
    head = ("Code", "Ce que dit le référentiel", "En mots simples", "Tâches", "Preuves", "Avis")
    for cell, text in zip(table.rows[0].cells, head, strict=True):
        _write(cell, text, bold=True)
        _shade(cell, SHADE_HEADER)
    _repeat_header(table)
    _write(table.rows[1].cells[0], "{%tr for bloc in blocs %}")
    bloc_row = table.rows[2]
    merged = bloc_row.cells[0].merge(bloc_row.cells[-1])
    _write(merged, "{{ bloc.code }} · {{ bloc.intitule }}", bold=True)
    _shade(merged, SHADE_BLOC)
    _write(table.rows[3].cells[0], "{%tr for c in bloc.competences %}")
    row = table.rows[4].cells
    for cell, text in zip(
        row,
        (
            "{{ c.code }}",
            "{{ c.intitule }}",
            "{{ c.falc }}",
            "{{ c.nb_taches }}",
            "{{ c.nb_preuves }}",
            "{{ c.revue.verdict_libelle }}",
        ),
        strict=True,
    ):
        _write(cell, text)
    _write(table.rows[5].cells[0], "{%tr endfor %}")
    _write(table.rows[6].cells[0], "{%tr endfor %}")
    _no_split(table)


TASK_ROWS = (
    ("Où ?", "t.lieu", "{{ t.lieu }}"),
    ("Comment ?", "t.comment", "{{ t.comment }}"),
    ("Avec quoi ?", "t.avec_quoi", "{{ t.avec_quoi }}"),
    ("Combien de fois ?", "t.frequence", "{{ t.frequence }}"),
    (
        "Quand ?",
        "t.date_debut",
        "{% if t.date_fin %}De {{ t.date_debut }} à {{ t.date_fin }}"
        "{% else %}Depuis {{ t.date_debut }}{% endif %}",
    ),
)


def _task(doc: DocumentObject) -> None:
    doc.add_heading("{{ t.titre }}", level=3)
    doc.add_paragraph("{{ t.description }}", style=WORDS)
    rows = 1 + 3 * len(TASK_ROWS)
    table = _table(doc, rows, [4.6, 12.4])
    i = 0
    for label, test, value in TASK_ROWS:
        _write(table.rows[i].cells[0], f"{{%tr if {test} %}}")
        _write(table.rows[i + 1].cells[0], label, bold=True)
        _shade(table.rows[i + 1].cells[0], SHADE_BOX)
        _write(table.rows[i + 1].cells[1], value)
        _write(table.rows[i + 2].cells[0], "{%tr endif %}")
        i += 3
    # Always one row: a table left with no row at all would be invalid for Word.
    _write(table.rows[i].cells[0], "D'où vient cette tâche ?", bold=True)
    _shade(table.rows[i].cells[0], SHADE_BOX)
    _write(table.rows[i].cells[1], "{{ t.source_libelle }}")
    _no_split(table)
    _tag(doc, "if t.commentaire")
    _labelled(doc, "Ce que j'en dis : ", "{{ t.commentaire }}", style=WORDS)
    _tag(doc, "endif")

    _tag(doc, "for photo in t.photos")
    doc.add_paragraph("{{ photo.image }}", style=PHOTO)
    doc.add_paragraph("Photo : {{ photo.legende }}", style="Caption")
    _tag(doc, "endfor")


def _review_box(doc: DocumentObject, who: str, title: str, *, verdict_always: bool) -> None:
    # A paragraph between two tables, or Word glues them into one.
    doc.add_paragraph(style=NOTE)
    box = _table(doc, 1, [17.0])
    cell = box.rows[0].cells[0]
    _shade(cell, SHADE_BOX)
    p = cell.paragraphs[0]
    verdict = f"{{{{ {who}.verdict_libelle }}}}"
    if not verdict_always:  # a comment on a whole bloc often comes without a verdict
        verdict = f"{{% if {who}.verdict %}}{verdict}{{% endif %}}"
    p.add_run(title, style=LABEL)
    p.add_run(verdict)
    _tag(cell, f"if {who}.commentaire")
    cell.add_paragraph(f"« {{{{ {who}.commentaire }}}} »")
    cell.add_paragraph(
        f"{{{{ {who}.auteur }}}}{{% if {who}.date %}}, le {{{{ {who}.date }}}}{{% endif %}}",
        style=NOTE,
    )
    _tag(cell, "endif")
    _no_split(box)


def _blocs(doc: DocumentObject) -> None:
    _tag(doc, "for bloc in blocs")
    doc.add_heading("{{ bloc.code }} · {{ bloc.intitule }}", level=1)
    doc.add_paragraph(
        "Référentiel : {% for r in referentiels if r.id == bloc.referentiel_id %}"
        "{{ r.intitule }}{% endfor %}",
        style=OFFICIAL,
    )
    _tag(doc, "if bloc.falc")
    _labelled(doc, "En mots simples : ", "{{ bloc.falc }}")
    _tag(doc, "endif")

    _tag(doc, "for c in bloc.competences")
    doc.add_heading(
        "{{ c.code }} · {% if c.falc %}{{ c.falc }}{% else %}{{ c.intitule }}{% endif %}",
        level=2,
    )
    doc.add_paragraph("Mots du référentiel : {{ c.intitule }}", style=OFFICIAL)
    _tag(doc, "for t in c.taches")
    _task(doc)
    _tag(doc, "else")
    doc.add_paragraph("Je n'ai pas encore décrit de tâche pour cette compétence.", style=NOTE)
    _tag(doc, "endfor")

    _tag(doc, "if c.modules")
    p = doc.add_paragraph()
    p.add_run("Ce que j'ai appris en formation", style=LABEL)
    _tag(doc, "for m in c.modules")
    doc.add_paragraph(
        "{{ m.nom }}{% if m.date %}, terminé le {{ m.date }}{% endif %}", style="List Bullet"
    )
    _tag(doc, "endfor")
    _tag(doc, "endif")

    _review_box(doc, "c.revue", "L'avis de mon accompagnateur : ", verdict_always=True)
    _tag(doc, "endfor")

    _tag(doc, "if bloc.revue.commentaire or bloc.revue.verdict")
    _review_box(doc, "bloc.revue", "Avis sur tout le bloc : ", verdict_always=False)
    _tag(doc, "endif")
    _tag(doc, "endfor")


def _remaining(doc: DocumentObject) -> None:
    doc.add_heading("Ce qui reste à montrer", level=1)
    _tag(doc, "if reste_a_montrer")
    table = _table(doc, 4, [7.0, 10.0])
    for cell, text in zip(table.rows[0].cells, ("Compétence", "Ce qui manque"), strict=True):
        _write(cell, text, bold=True)
        _shade(cell, SHADE_HEADER)
    _repeat_header(table)
    _write(table.rows[1].cells[0], "{%tr for r in reste_a_montrer %}")
    _write(
        table.rows[2].cells[0],
        "{{ r.code }} · {% if r.falc %}{{ r.falc }}{% else %}{{ r.intitule }}{% endif %}",
    )
    _write(table.rows[2].cells[1], "{{ r.note }}")
    _write(table.rows[3].cells[0], "{%tr endfor %}")
    _tag(doc, "else")
    doc.add_paragraph("Pour l'instant, rien : tout ce que je vise est montré.")
    _tag(doc, "endif")


def _project(doc: DocumentObject) -> None:
    doc.add_heading("Mon projet : ce que je veux faire ensuite", level=1)
    _tag(doc, "if projet")
    doc.add_paragraph("{{ projet }}", style=WORDS)
    _tag(doc, "else")
    doc.add_paragraph("À écrire avec mon accompagnateur :", style=NOTE)
    _lined(doc, 6)
    _tag(doc, "endif")


def _jury(doc: DocumentObject) -> None:
    doc.add_heading("Notes du jury", level=1)
    doc.add_paragraph("Cette partie est remplie par le jury pendant l'entretien.", style=NOTE)
    table = _table(doc, 4, [6.0, 11.0])
    head = ("Bloc de compétences", "Ce que le jury a observé")
    for cell, text in zip(table.rows[0].cells, head, strict=True):
        _write(cell, text, bold=True)
        _shade(cell, SHADE_HEADER)
    _repeat_header(table)
    _write(table.rows[1].cells[0], "{%tr for bloc in blocs %}")
    _write(table.rows[2].cells[0], "{{ bloc.code }} · {{ bloc.intitule }}")
    _row_height(table, 2, Cm(3.0))
    _write(table.rows[3].cells[0], "{%tr endfor %}")
    _no_split(table)

    doc.add_heading("Autres observations", level=2)
    _lined(doc, 8)
    doc.add_heading("Mises en perspective", level=2)
    doc.add_paragraph("Pour la suite du projet du candidat.", style=NOTE)
    _lined(doc, 6)
    doc.add_paragraph()
    _lined(doc, 3, "Date de l'entretien :")
    _lined(doc, 4, "Membres du jury (nom, qualité, signature) :")


def _header_footer(doc: DocumentObject) -> None:
    section = doc.sections[0]
    section.different_first_page_header_footer = True  # a clean cover page
    header = section.header.paragraphs[0]
    header.text = "{{ candidat.nom_complet }} · Dossier de preuves"
    header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    footer = section.footer.paragraphs[0]
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer.add_run("Page ")
    _field(footer, "PAGE", "1")
    footer.add_run(" sur ")
    _field(footer, "NUMPAGES", "1")


def _page(doc: DocumentObject) -> None:
    section = doc.sections[0]
    assert section.start_type == WD_SECTION.NEW_PAGE
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    for side in ("left_margin", "right_margin"):
        setattr(section, side, Cm(2.0))
    section.top_margin = section.bottom_margin = Cm(2.2)


def _properties(doc: DocumentObject) -> None:
    props = doc.core_properties
    props.title = "Dossier de preuves · {{ candidat.nom_complet }}"
    props.subject = "Reconnaissance des acquis de l'expérience (RAE)"
    props.author = "Repères"
    props.last_modified_by = "Repères"
    props.keywords = "RAE, dossier de preuves, compétences"
    props.comments = "Modèle par défaut de Repères (python -m docx_templates.build_default)."
    props.language = "fr-FR"
    props.created = props.modified = props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    # The thumbnail python-docx's blank template carries would show an empty page.
    package_rels = doc.part.package.rels
    for rel_id, rel in list(package_rels.items()):
        if rel.reltype == RT.THUMBNAIL:
            package_rels.pop(rel_id)


def build() -> bytes:
    """The default template's bytes."""
    doc = Document()
    _page(doc)
    _styles(doc)
    _settings(doc)
    _properties(doc)
    _header_footer(doc)
    # python-docx's blank document starts with no paragraph; add content in order.
    _cover(doc)
    _me(doc)
    _referentiels(doc)
    _grid(doc)
    _blocs(doc)
    _remaining(doc)
    _project(doc)
    _jury(doc)
    raw = io.BytesIO()
    doc.save(raw)
    return _stable_zip(raw.getvalue())


def _stable_zip(data: bytes) -> bytes:
    """The same archive with fixed dates and attributes, so that a rebuild is identical."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst,
    ):
        for name in src.namelist():
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(name), compresslevel=9)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Write the template (to OUTPUT if given) and, by default, README.md's field list."""
    args = list(sys.argv[1:] if argv is None else argv)
    target = Path(args[0]) if args else DEFAULT_TEMPLATE
    data = build()
    target.write_bytes(data)
    print(f"{target} ({len(data)} octets)")
    if not args:
        README.write_text(readme_with_fields(README.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"{README} (liste des champs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
