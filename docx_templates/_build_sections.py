"""The default template's sections, in the order the jury reads them (see `build_default`).

Words: the candidat's own where the candidat reads (« Ce que je fais », « Où ? »), the
référentiel's official wording where the jury needs it (« Mots du référentiel »), the
codes only in the jury's annex. « Activité » everywhere, as on the screens.
"""

from __future__ import annotations

from docx.document import Document as DocumentObject
from docx.enum.text import WD_BREAK
from docx.shared import Cm, Pt
from docx.text.paragraph import Paragraph

from docx_templates._build_base import (
    CONTENTS_1,
    CONTENTS_2,
    DETAIL,
    LABEL,
    NOTE,
    OFFICIAL,
    PHOTO,
    REVIEW,
    REVIEW_END,
    SHADE_BLOC,
    WORDS,
    bookmark,
    field,
    head_row,
    key_values,
    labelled,
    lined,
    row_height,
    shade,
    table,
    tag,
    write,
)

# The sections the contents list names: (bookmark, title, shown when).
SECTIONS = {
    "moi": "Moi et ma structure",
    "diplome": "Le diplôme que je vise",
    "grille": "Mon positionnement",
    "aussi": "Ce que je fais aussi",
    "formation": "Formation",
    "annexe": "Annexe : ce qui reste à montrer",
    "projet": "Mon projet : ce que je veux faire ensuite",
    "jury": "Pour le jury",
}
_IDS = {name: str(10 + i) for i, name in enumerate(SECTIONS)}
_BLOC_MARK = "rep_bloc{{ loop.index }}"
_BLOC_ID = "{{ 100 + loop.index }}"


def _heading(doc: DocumentObject, key: str) -> Paragraph:
    """A level-1 heading the contents list points to."""
    heading: Paragraph = doc.add_heading(SECTIONS[key], level=1)
    bookmark(heading, f"rep_{key}", _IDS[key])
    return heading


def _entry(doc: DocumentObject, title: str, mark: str, style: str = CONTENTS_1) -> None:
    """One line of the contents: its title, dots, and the page (a PAGEREF field)."""
    p = doc.add_paragraph(style=style)
    p.add_run(title)
    p.add_run().add_tab()
    field(p, f"PAGEREF {mark} \\h")


def cover(doc: DocumentObject) -> None:
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
    tag(doc, "for r in referentiels")
    labelled(doc, "Diplôme visé : ", "{{ r.intitule }}{% if r.rncp %} ({{ r.rncp }}){% endif %}")
    tag(doc, "endfor")
    doc.add_paragraph(
        "Version {{ dossier_version }} du dossier, créée le {{ generated_at }}.", style=NOTE
    )
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def contents(doc: DocumentObject) -> None:
    """The contents list, written when the dossier is made: complete as soon as it opens,
    in Word and in LibreOffice. Only the page numbers are fields."""
    doc.add_paragraph("Sommaire", style="TOC Heading")
    for key in ("moi", "diplome", "grille"):
        _entry(doc, SECTIONS[key], f"rep_{key}")
    tag(doc, "for bloc in blocs")
    _entry(doc, "{% if bloc.falc %}{{ bloc.falc }}{% else %}{{ bloc.intitule }}{% endif %}",
           _BLOC_MARK, CONTENTS_2)
    tag(doc, "endfor")
    for key, shown in (("aussi", "autres_activites"), ("formation", "formation"),
                       ("annexe", "reste_a_montrer")):
        tag(doc, f"if {shown}")
        _entry(doc, SECTIONS[key], f"rep_{key}")
        tag(doc, "endif")
    for key in ("projet", "jury"):
        _entry(doc, SECTIONS[key], f"rep_{key}")


def me(doc: DocumentObject) -> None:
    _heading(doc, "moi")
    key_values(
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


def referentiels(doc: DocumentObject) -> None:
    _heading(doc, "diplome")
    doc.add_paragraph(
        "Le référentiel est le texte officiel du diplôme. Il dit ce qu'une personne "
        "du métier sait faire.",
        style=NOTE,
    )
    tag(doc, "for r in referentiels")
    doc.add_heading("{{ r.intitule }}", level=2)
    key_values(
        doc,
        [
            ("Numéro RNCP", "{% if r.rncp %}{{ r.rncp }}{% else %}non renseigné{% endif %}"),
            ("Certificateur", "{{ r.certificateur }}"),
            ("Niveau", "{{ r.niveau }}"),
            ("Version du référentiel", "{{ r.version }} ({{ r.statut }})"),
        ],
    )
    tag(doc, "endfor")

    doc.add_heading("Comment je montre mes compétences", level=2)
    p = doc.add_paragraph(style=WORDS)
    p.add_run("{{ modalite.phrase }}").bold = True
    p.paragraph_format.keep_with_next = False
    doc.add_paragraph("Modalité de reconnaissance : {{ modalite.intitule }}", style=OFFICIAL)


# No code column: codes are in the jury's annex (a code column wrapped « RNCP3 / 4947BC »).
GRID_WIDTHS = (5.4, 4.6, 2.2, 2.0, 2.8)


def grid(doc: DocumentObject) -> None:
    _heading(doc, "grille")
    doc.add_paragraph(
        "Pour chaque compétence du référentiel : ce que j'ai montré, et l'avis de "
        "mon accompagnateur.",
        style=NOTE,
    )
    made = table(doc, 7, GRID_WIDTHS)
    head_row(made, ("Ce que dit le référentiel", "En mots simples", "Activités", "Preuves",
                    "Avis"))
    write(made.rows[1].cells[0], "{%tr for bloc in blocs %}")
    bloc_row = made.rows[2]
    merged = bloc_row.cells[0].merge(bloc_row.cells[-1])
    write(merged, "{{ bloc.intitule }}", bold=True)
    shade(merged, SHADE_BLOC)
    write(made.rows[3].cells[0], "{%tr for c in bloc.competences %}")
    for cell, text in zip(
        made.rows[4].cells,
        ("{{ c.intitule }}", "{{ c.falc }}", "{{ c.nb_taches }}", "{{ c.nb_preuves }}",
         "{{ c.revue.verdict_libelle }}"),
        strict=True,
    ):
        write(cell, text)
    write(made.rows[5].cells[0], "{%tr endfor %}")
    write(made.rows[6].cells[0], "{%tr endfor %}")


DETAILS = (
    ("Où ? ", "t.lieu", "{{ t.lieu }}"),
    ("Comment ? ", "t.comment", "{{ t.comment }}"),
    ("Avec quoi ? ", "t.avec_quoi", "{{ t.avec_quoi }}"),
    ("Combien de fois ? ", "t.frequence", "{{ t.frequence }}"),
    (
        "Quand ? ",
        "t.date_debut",
        "{% if t.date_fin %}De {{ t.date_debut }} à {{ t.date_fin }}"
        "{% else %}Depuis {{ t.date_debut }}{% endif %}",
    ),
    ("D'où vient cette activité ? ", "t.source_libelle", "{{ t.source_libelle }}"),
)


def activity(doc: DocumentObject) -> None:
    """One activity (``t``): its title, its words and its first photo on one page, then
    the details. Nothing is printed for what is empty (no bare label, no empty caption)."""
    doc.add_heading("{{ t.titre }}", level=3)
    tag(doc, "if t.description")
    doc.add_paragraph("{{ t.description }}", style=WORDS)
    tag(doc, "endif")
    tag(doc, "for photo in t.photos")
    doc.add_paragraph("{{ photo.image }}", style=PHOTO)
    tag(doc, "if photo.legende")
    doc.add_paragraph("{{ photo.legende }}", style="Caption")
    tag(doc, "endif")
    tag(doc, "endfor")
    for label, test, value in DETAILS:
        tag(doc, f"if {test}")
        labelled(doc, label, value, style=DETAIL)
        tag(doc, "endif")
    tag(doc, "for n in t.autres_preuves")
    labelled(doc, "{{ n.sorte }} : ", "« {{ n.nom }} »", style=DETAIL)
    tag(doc, "endfor")
    tag(doc, "if t.commentaire")
    p = labelled(doc, "Ce que j'en dis : ", "{{ t.commentaire }}", style=WORDS)
    p.paragraph_format.keep_with_next = False
    tag(doc, "endif")


def _review(doc: DocumentObject, who: str, title: str, *, verdict_always: bool) -> None:
    """The accompagnateur's avis: a shaded box of paragraphs (no table, no empty line)."""
    verdict = f"{{{{ {who}.verdict_libelle }}}}"
    if not verdict_always:  # a comment on a whole bloc often comes without a verdict
        verdict = f"{{% if {who}.verdict %}}{verdict}{{% endif %}}"
    tag(doc, f"if {who}.commentaire")
    labelled(doc, title, verdict, style=REVIEW)
    doc.add_paragraph(f"« {{{{ {who}.commentaire }}}} »", style=REVIEW)
    doc.add_paragraph(
        f"{{{{ {who}.auteur }}}}{{% if {who}.date %}}, le {{{{ {who}.date }}}}{{% endif %}}",
        style=REVIEW_END,
    )
    tag(doc, "else")
    labelled(doc, title, verdict, style=REVIEW_END)
    tag(doc, "endif")


def blocs(doc: DocumentObject) -> None:
    tag(doc, "for bloc in blocs")
    heading = doc.add_heading(
        "{% if bloc.falc %}{{ bloc.falc }}{% else %}{{ bloc.intitule }}{% endif %}", level=1
    )
    bookmark(heading, _BLOC_MARK, _BLOC_ID)
    doc.add_paragraph(
        "{% if bloc.falc %}{{ bloc.intitule }} — {% endif %}Référentiel : "
        "{% for r in referentiels if r.id == bloc.referentiel_id %}{{ r.intitule }}{% endfor %}",
        style=OFFICIAL,
    )

    tag(doc, "for c in bloc.competences")
    doc.add_heading("{% if c.falc %}{{ c.falc }}{% else %}{{ c.intitule }}{% endif %}", level=2)
    tag(doc, "if c.falc")
    doc.add_paragraph("Mots du référentiel : {{ c.intitule }}", style=OFFICIAL)
    tag(doc, "endif")
    tag(doc, "for t in c.taches")
    activity(doc)
    tag(doc, "endfor")

    tag(doc, "if c.modules")
    p = doc.add_paragraph()
    p.add_run("Ce que j'ai appris en formation", style=LABEL)
    p.paragraph_format.keep_with_next = True
    tag(doc, "for m in c.modules")
    doc.add_paragraph(
        "{{ m.nom }}{% if m.date %}, terminé le {{ m.date }}{% endif %}", style="List Bullet"
    )
    tag(doc, "endfor")
    tag(doc, "endif")

    _review(doc, "c.revue", "L'avis de mon accompagnateur : ", verdict_always=True)
    tag(doc, "endfor")

    tag(doc, "if bloc.revue.commentaire or bloc.revue.verdict")
    _review(doc, "bloc.revue", "Avis sur tout le bloc : ", verdict_always=False)
    tag(doc, "endif")
    tag(doc, "endfor")


def also(doc: DocumentObject) -> None:
    """« Ce que je fais aussi »: the activities tied to no compétence yet, all of them."""
    tag(doc, "if autres_activites")
    _heading(doc, "aussi")
    doc.add_paragraph(
        "D'autres activités de mon travail, pas encore rattachées au diplôme.", style=NOTE
    )
    tag(doc, "for t in autres_activites")
    activity(doc)
    tag(doc, "endfor")
    tag(doc, "endif")


def training(doc: DocumentObject) -> None:
    tag(doc, "if formation")
    _heading(doc, "formation")
    doc.add_paragraph("Les modules de formation que j'ai terminés.", style=NOTE)
    tag(doc, "for m in formation")
    doc.add_paragraph(
        "{{ m.nom }}{% if m.date %}, terminé le {{ m.date }}{% endif %}", style="List Bullet"
    )
    tag(doc, "endfor")
    tag(doc, "endif")


def remaining(doc: DocumentObject) -> None:
    """The annex the accompagnateur may add; absent by default (the dossier shows what the
    person can do)."""
    tag(doc, "if reste_a_montrer")
    _heading(doc, "annexe")
    doc.add_paragraph("Cette annexe est ajoutée par l'accompagnateur.", style=NOTE)
    made = table(doc, 4, [7.0, 10.0])
    head_row(made, ("Compétence", "Ce qui manque"))
    write(made.rows[1].cells[0], "{%tr for r in reste_a_montrer %}")
    write(made.rows[2].cells[0],
          "{% if r.falc %}{{ r.falc }}{% else %}{{ r.intitule }}{% endif %}")
    write(made.rows[2].cells[1], "{{ r.note }}")
    write(made.rows[3].cells[0], "{%tr endfor %}")
    tag(doc, "endif")


def project(doc: DocumentObject) -> None:
    _heading(doc, "projet")
    tag(doc, "if projet")
    p = doc.add_paragraph("{{ projet }}", style=WORDS)
    p.paragraph_format.keep_with_next = False
    tag(doc, "else")
    doc.add_paragraph("À écrire avec mon accompagnateur :", style=NOTE)
    lined(doc, 6)
    tag(doc, "endif")


def jury(doc: DocumentObject) -> None:
    """The jury's annex: the official codes, then its notes."""
    heading = _heading(doc, "jury")
    heading.paragraph_format.page_break_before = True
    doc.add_heading("Les codes du référentiel", level=2)
    made = table(doc, 7, [3.8, 13.2])
    head_row(made, ("Code", "Intitulé officiel"))
    write(made.rows[1].cells[0], "{%tr for bloc in blocs %}")
    write(made.rows[2].cells[0], "{{ bloc.code }}", bold=True)
    write(made.rows[2].cells[1], "{{ bloc.intitule }}", bold=True)
    shade(made.rows[2].cells[0], SHADE_BLOC)
    shade(made.rows[2].cells[1], SHADE_BLOC)
    write(made.rows[3].cells[0], "{%tr for c in bloc.competences %}")
    write(made.rows[4].cells[0], "{{ c.code }}")
    write(made.rows[4].cells[1], "{{ c.intitule }}")
    write(made.rows[5].cells[0], "{%tr endfor %}")
    write(made.rows[6].cells[0], "{%tr endfor %}")

    doc.add_heading("Notes du jury", level=2)
    doc.add_paragraph("Cette partie est remplie par le jury pendant l'entretien.", style=NOTE)
    notes = table(doc, 4, [6.0, 11.0])
    head_row(notes, ("Bloc de compétences", "Ce que le jury a observé"))
    write(notes.rows[1].cells[0], "{%tr for bloc in blocs %}")
    write(notes.rows[2].cells[0], "{{ bloc.code }} · {{ bloc.intitule }}")
    row_height(notes, 2, Cm(3.0))
    write(notes.rows[3].cells[0], "{%tr endfor %}")

    doc.add_heading("Autres observations", level=2)
    lined(doc, 8)
    doc.add_heading("Mises en perspective", level=2)
    doc.add_paragraph("Pour la suite du projet du candidat.", style=NOTE)
    lined(doc, 6)
    lined(doc, 3, "Date de l'entretien :")
    lined(doc, 4, "Membres du jury (nom, qualité, signature) :")
