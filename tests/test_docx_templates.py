"""docx_templates: the dossier de preuves as an editable Word document.

LibreOffice conversions live in test_docx_templates_libreoffice.py."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import docx
import pytest
from docx.oxml.ns import qn
from PIL import Image

from docx_templates import (
    DEFAULT_TEMPLATE,
    TemplateError,
    check_template,
    context,
    reduce_photo,
    render,
    sample_context,
)
from docx_templates.render import clean_text
from docx_templates.samples import hostile_context

README = DEFAULT_TEMPLATE.with_name("README.md")

# --- helpers -----------------------------------------------------------------------------


def jpeg(size: tuple[int, int] = (640, 480), color: tuple[int, int, int] = (90, 140, 60)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG", quality=80)
    return out.getvalue()


def opened(data: bytes) -> docx.document.Document:
    return docx.Document(io.BytesIO(data))


def all_text(document: docx.document.Document) -> str:
    """Body text, tables included (python-docx's paragraphs skip tables)."""
    body = document.element.body
    return "\n".join("".join(t.text or "" for t in p.iter(qn("w:t"))) for p in body.iter(qn("w:p")))


def media(data: bytes) -> list[str]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [n for n in zf.namelist() if n.startswith("word/media/")]


def template_with(*paragraphs: str, header: str = "") -> bytes:
    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if header:
        document.sections[0].header.paragraphs[0].text = header
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def competences(ctx: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for bloc in ctx["blocs"]:
        yield from bloc["competences"]


@pytest.fixture(scope="module")
def rendered() -> bytes:
    return render(DEFAULT_TEMPLATE, sample_context())


# --- the default dossier -----------------------------------------------------------------


def test_candidat_dossier_holds_their_work_in_their_words(rendered: bytes) -> None:
    ctx = sample_context()
    text = all_text(opened(rendered))
    assert "Sandrine Delattre" in text
    for c in competences(dict(ctx)):
        assert c["code"] in text
        assert c["intitule"] in text
        assert c["falc"] in text
        for task in c["taches"]:
            assert task["titre"] in text
            for line in task["description"].split("\n"):
                assert line in text
        if c["revue"]["commentaire"]:
            assert c["revue"]["commentaire"] in text
        for module in c["modules"]:
            assert module["nom"] in text
    # Every activity is there: those tied to no compétence under « Ce que je fais aussi ».
    for task in ctx["autres_activites"]:
        assert task["titre"] in text
    assert "Ce que je fais aussi" in text
    for module in ctx["formation"]:
        assert module["nom"] in text
    assert "Note vocale : « Je raconte comment je fais les vitres »" in text
    # What remains goes to the accompagnateur's view, not into the candidat's dossier.
    assert "Ce qui reste à montrer" not in text and "Pas encore d'activité" not in text
    assert "Tâche" not in text and "tâche" not in text.replace("ordre des tâches", "")
    assert "Je montre ce que je fais" in text
    assert "RNCP37875" in text
    assert "ressourcerie" in text  # the projet
    assert "Notes du jury" in text


def test_what_the_candidat_says_of_a_task_shows_under_that_competence_only(
    rendered: bytes,
) -> None:
    said = [
        t["commentaire"]
        for c in competences(dict(sample_context()))
        for t in c["taches"]
        if t.get("commentaire")
    ]
    assert said, "the sample should show a comment"
    text = all_text(opened(rendered))
    for commentaire in said:
        assert text.count(f"Ce que j'en dis : {commentaire}") == 1
    assert text.count("Ce que j'en dis") == len(said)  # none for a task without comment


def test_a_task_without_comment_gets_no_empty_line() -> None:
    ctx = sample_context()
    for c in competences(dict(ctx)):
        for t in c["taches"]:
            t.pop("commentaire", None)
    assert "Ce que j'en dis" not in all_text(opened(render(DEFAULT_TEMPLATE, ctx)))


def test_jinja_tags_are_all_consumed(rendered: bytes) -> None:
    text = all_text(opened(rendered))
    assert "{{" not in text and "{%" not in text and "%}" not in text


def test_header_carries_the_candidat_name(rendered: bytes) -> None:
    document = opened(rendered)
    assert "Sandrine Delattre" in document.sections[0].header.paragraphs[0].text
    assert document.core_properties.title == "Dossier de preuves · Sandrine Delattre"


def test_photos_are_in_the_document_once_each(rendered: bytes) -> None:
    ctx = sample_context()
    tasks = [t for c in competences(dict(ctx)) for t in c["taches"]] + ctx["autres_activites"]
    distinct = {p["data"] for t in tasks for p in t["photos"]}
    # The « dons » task shows under two compétences: its photo is stored once.
    assert len(media(rendered)) == len(distinct) == 7
    document = opened(rendered)
    inline = document.inline_shapes
    assert len(inline) == 8
    assert all(abs(shape.width.cm - 8.0) < 0.01 for shape in inline)
    captions = [p.text for p in document.paragraphs if p.style.name == "Caption"]
    assert "Les caisses de dons du mardi, avant le tri" in captions
    # A photo without caption gets no caption line (« Photo : » alone was printed).
    assert len(captions) == 7 and all(c.strip() for c in captions)


def test_accompagnateur_edits_the_dossier_in_word(rendered: bytes) -> None:
    document = opened(rendered)
    first = document.paragraphs[0]
    first.text = "Dossier de preuves (relu)"
    document.add_paragraph("Ajout de l'accompagnatrice après l'entretien.")
    out = io.BytesIO()
    document.save(out)
    again = opened(out.getvalue())
    assert again.paragraphs[0].text == "Dossier de preuves (relu)"
    assert "Ajout de l'accompagnatrice" in all_text(again)


def test_the_contents_list_is_written_and_its_page_numbers_are_fields(rendered: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(rendered)) as zf:
        settings = zf.read("word/settings.xml").decode()
        body = zf.read("word/document.xml").decode()
        footers = "".join(zf.read(n).decode() for n in zf.namelist() if "footer" in n)
    assert '<w:updateFields w:val="true"/>' in settings
    assert "PAGE" in footers and "NUMPAGES" in footers
    document = opened(rendered)
    entries = [p.text.split("\t")[0] for p in document.paragraphs
               if p.style.name.startswith("Sommaire")]
    assert entries[:3] == ["Moi et ma structure", "Le diplôme que je vise", "Mon positionnement"]
    for bloc in sample_context()["blocs"]:
        assert (bloc["falc"] or bloc["intitule"]) in entries
    assert "Ce que je fais aussi" in entries and "Pour le jury" in entries
    # Each entry's page points to a bookmark of the same name in the body.
    for mark in re.findall(r"PAGEREF (\w+)", body):
        assert f'w:name="{mark}"' in body
    assert "Mettre à jour" not in all_text(document)  # no instruction instead of contents


def test_default_template_uses_real_word_styles(rendered: bytes) -> None:
    document = opened(rendered)
    used = {p.style.name for p in document.paragraphs}
    assert {"Title", "Heading 1", "Heading 2", "Heading 3", "Caption"} <= used
    assert {"Paroles du candidat", "Intitulé officiel"} <= used


def test_positionnement_grid_lists_every_competence(rendered: bytes) -> None:
    document = opened(rendered)
    grid = next(t for t in document.tables
                if t.rows[0].cells[0].text == "Ce que dit le référentiel")
    names = [row.cells[0].text for row in grid.rows[1:]]
    expected = [c["intitule"] for c in competences(dict(sample_context()))]
    assert [c for c in names if c in expected] == expected
    assert "Partiellement" in [row.cells[4].text for row in grid.rows]
    assert [c.text for c in grid.rows[0].cells][2] == "Activités"
    # The codes are in the jury's annex, in a column of their own.
    codes = next(t for t in document.tables if t.rows[0].cells[0].text == "Code")
    assert [c["code"] for c in competences(dict(sample_context()))] == [
        row.cells[0].text for row in codes.rows[1:]
        if row.cells[0].text in {c["code"] for c in competences(dict(sample_context()))}]


def test_the_accompagnateurs_annex_shows_what_remains_when_added() -> None:
    from docx_templates.samples import sample_remaining

    ctx = sample_context()
    ctx["reste_a_montrer"] = sample_remaining()
    text = all_text(opened(render(DEFAULT_TEMPLATE, ctx)))
    assert "Annexe : ce qui reste à montrer" in text
    for item in ctx["reste_a_montrer"]:
        assert item["note"] in text


# --- what the candidat writes never breaks the document ----------------------------------


def test_xml_specials_are_printed_as_written() -> None:
    ctx = sample_context()
    ctx["blocs"][0]["competences"][0]["taches"][0]["titre"] = "A & B <x> ]]> {{ y }}"
    ctx["candidat"]["nom_complet"] = "Zoé & Cie <test>"
    document = opened(render(DEFAULT_TEMPLATE, ctx))
    assert "A & B <x> ]]> {{ y }}" in all_text(document)
    assert "Zoé & Cie <test>" in document.sections[0].header.paragraphs[0].text
    # Core properties are plain text: no "&amp;" there either.
    assert document.core_properties.title == "Dossier de preuves · Zoé & Cie <test>"


def test_control_characters_are_removed_and_newlines_kept() -> None:
    assert clean_text("a\x00b\x01c\x1fd\x7fe") == "abcd\x7fe"
    assert clean_text("un\r\ndeux\rtrois\x0bquatre\x0ccinq") == "un\ndeux\ntrois\nquatre\ncinq"
    assert clean_text("tab\tok\ud800\ufffe\uffff") == "tab\tok"
    assert clean_text("مرحبا 👩‍🌾") == "مرحبا 👩‍🌾"


def test_newlines_in_the_candidat_text_become_line_breaks(rendered: bytes) -> None:
    document = opened(rendered)
    paragraph = next(p for p in document.paragraphs if p.text.startswith("Les gens apportent"))
    assert len(paragraph._p.findall(".//" + qn("w:br"))) == 2
    assert paragraph.style.name == "Paroles du candidat"


def test_hostile_content_in_every_field_gives_a_valid_document() -> None:
    ctx = hostile_context()
    ctx["projet"] = None  # a None that slipped through prints nothing
    data = render(DEFAULT_TEMPLATE, ctx)
    document = opened(data)
    text = all_text(document)
    assert 'A & B <x> "guillemets" ]]> &amp; {{ candidat.nom }} {% if %} </w:t>' in text
    assert "ctrl" in text and "FIN" in text and "\x00" not in text and "\x0b" not in text
    assert "مرحبا، أنا أعمل في إعادة التدوير 👩‍🌾🥕♻️ نعم" in text
    assert "x" * 10_000 in text
    assert "None" not in text
    assert "[photo illisible]" in text
    assert media(data) == []
    # Every XML part is still well-formed for a strict parser.
    from lxml import etree

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for name in zf.namelist():
            if name.endswith(".xml") or name.endswith(".rels"):
                etree.fromstring(zf.read(name))


@pytest.mark.parametrize(
    "photo",
    [
        {"data": jpeg()[:300], "legende": "tronquée"},
        {"data": b"GIF89a garbage", "legende": "fausse"},
        {"data": b"", "legende": "vide"},
        {"data": "pas des octets", "legende": "texte"},
        {"legende": "sans données"},
        b"\x00\x01",
    ],
    ids=["truncated-jpeg", "garbage", "empty", "str", "no-data", "bare-bytes"],
)
def test_unreadable_photo_is_shown_as_such(photo: Any) -> None:
    ctx = sample_context()
    task = ctx["blocs"][1]["competences"][1]["taches"][0]  # the toilets: no photo of its own
    task["photos"] = [photo, {"data": jpeg(color=(1, 2, 3)), "legende": "la bonne"}]
    data = render(DEFAULT_TEMPLATE, ctx)
    text = all_text(opened(data))
    assert "[photo illisible]" in text
    assert "la bonne" in text
    assert len(media(data)) == 8  # the 7 sample photos and the good one


def test_phone_photo_too_big_is_reduced_at_render() -> None:
    ctx = sample_context()
    ctx["blocs"][1]["competences"][1]["taches"][0]["photos"] = [
        {"data": jpeg((3000, 2000)), "legende": "grande"}
    ]
    data = render(DEFAULT_TEMPLATE, ctx)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        sizes = [Image.open(io.BytesIO(zf.read(n))).size for n in media(data)]
    assert (1600, 1067) in sizes
    assert max(max(s) for s in sizes) <= 1600


def test_reduce_photo_turns_and_strips_metadata() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # the phone was held upright
    exif[0x010F] = "PhoneMaker"
    raw = io.BytesIO()
    Image.new("RGB", (4000, 3000), (200, 100, 50)).save(raw, "JPEG", exif=exif)
    reduced = reduce_photo(raw.getvalue())
    with Image.open(io.BytesIO(reduced)) as im:
        assert im.size == (1200, 1600)
        assert not im.getexif()


def test_a_missing_field_prints_nothing() -> None:
    document = opened(render(DEFAULT_TEMPLATE, {"candidat": {"nom_complet": "Sam Martin"}}))
    text = all_text(document)
    assert "Sam Martin" in text
    assert "None" not in text and "Undefined" not in text


def test_dates_given_as_dates_are_written_in_french() -> None:
    import datetime as dt

    ctx: dict[str, Any] = dict(sample_context())
    ctx["generated_at"] = dt.datetime(2025, 4, 1, 9, 5)
    assert "créée le 1er avril 2025 à 9 h 05" in all_text(opened(render(DEFAULT_TEMPLATE, ctx)))
    assert context.date_fr(dt.date(2025, 8, 15)) == "15 août 2025"


# --- refusing what is not a template -----------------------------------------------------


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"%PDF-1.7 not a docx", "pas un document Word"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "Word 97-2003"),
        (b"PK\x03\x04 broken zip", "pas un document Word"),
    ],
    ids=["pdf", "doc", "broken-zip"],
)
def test_render_refuses_what_is_not_a_docx(data: bytes, words: str) -> None:
    with pytest.raises(TemplateError, match=words):
        render(data, sample_context())


def test_render_explains_a_broken_tag() -> None:
    with pytest.raises(TemplateError, match="il manque {% endfor %}"):
        render(template_with("{%p for bloc in blocs %}", "{{ bloc.code }}"), sample_context())


def test_render_runs_templates_in_a_sandbox() -> None:
    evil = template_with("{{ candidat.nom.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError, match="opération interdite"):
        render(evil, sample_context())


def test_render_refuses_a_context_that_is_not_a_mapping() -> None:
    with pytest.raises(TemplateError, match="dictionnaire"):
        render(DEFAULT_TEMPLATE, ["pas", "un", "dict"])  # type: ignore[arg-type]


def test_a_word_template_dotx_is_accepted() -> None:
    source = DEFAULT_TEMPLATE.read_bytes()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            blob = src.read(info)
            if info.filename == "[Content_Types].xml":
                blob = blob.replace(b"document.main+xml", b"template.main+xml")
            dst.writestr(info, blob)
    dotx = out.getvalue()
    assert check_template(dotx) == []
    assert "Sandrine Delattre" in all_text(opened(render(dotx, sample_context())))


# --- check_template at upload ------------------------------------------------------------


def test_default_template_passes_the_check() -> None:
    assert check_template(DEFAULT_TEMPLATE.read_bytes()) == []


def test_check_finds_an_unknown_field_and_suggests_the_right_one() -> None:
    problems = check_template(template_with("Bonjour", "{{ candidat.prenon }}"))
    assert len(problems) == 1
    assert "candidat.prenon" in problems[0]
    assert "« prenom »" in problems[0]
    assert "corps du document" in problems[0]


def test_check_follows_loop_variables_through_the_schema() -> None:
    problems = check_template(
        template_with(
            "{%p for bloc in blocs %}",
            "{%p for c in bloc.competences %}",
            "{%p for t in c.taches %}",
            "{{ t.titre }} {{ t.lieux }}",
            "{% for photo in t.photos %}{{ photo.image }}{{ photo.data }}{% endfor %}",
            "{%p endfor %}",
            "{{ c.revue.verdict_libelle }} {{ c.revue.avis }}",
            "{%p endfor %}",
            "{%p endfor %}",
        )
    )
    assert len(problems) == 3, problems
    assert any("t.lieux" in p and "« lieu »" in p for p in problems)
    assert any("photo.data" in p for p in problems)
    assert any("c.revue.avis" in p for p in problems)


def test_check_knows_a_list_needs_a_loop() -> None:
    (problem,) = check_template(template_with("{{ blocs.code }}"))
    assert "liste" in problem and "for" in problem


def test_check_finds_unknown_fields_in_the_header_and_in_filters() -> None:
    problems = check_template(
        template_with(
            "{{ candidat.nom }}",
            "{% for b in blocs|selectattr('verdit') %}{{ b.code }}{% endfor %}",
            header="{{ candidat.age }}",
        )
    )
    assert any("en-tête" in p and "candidat.age" in p for p in problems)
    assert any("verdit" in p for p in problems)


@pytest.mark.parametrize(
    ("paragraphs", "words"),
    [
        (("{%p for bloc in blocs %}", "{{ bloc.code }}"), "il manque {% endfor %}"),
        (("{%p if projet %}", "{{ projet }}"), "il manque {% endif %}"),
        (("{{ candidat.nom }}", "{% endif %}"), "ne ferme rien"),
        (("{{ candidat.nom | majuscules }}",), "le filtre « majuscules » n'existe pas"),
        (("{{ candidat.nom }",), "erreur de syntaxe"),
        (("{% include 'autre.docx' %}",), "include"),
        (("{{ candidat._secret }}",), "« _ »"),
        (("{{ loop.index }}",), "boucle"),
        (("Un texte sans aucun champ.",), "aucun champ"),
    ],
    ids=["unclosed", "unclosed-if", "stray-end", "filter", "syntax", "include", "underscore",
         "loop", "static"],
)
def test_check_explains_what_is_wrong_and_where(paragraphs: tuple[str, ...], words: str) -> None:
    problems = check_template(template_with(*paragraphs))
    assert problems, "the template should be refused"
    assert words in problems[0], problems


def test_check_syntax_error_says_where() -> None:
    (problem,) = check_template(template_with("Titre", "Mon nom : {{ candidat.nom }"))
    assert "près de « Mon nom : {{ candidat.nom } »" in problem


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not a docx at all", "pas un document Word"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), ".doc"),
        (b"", "pas un document Word"),
    ],
    ids=["text", "doc", "empty"],
)
def test_check_refuses_what_is_not_a_docx(data: bytes, words: str) -> None:
    (problem,) = check_template(data)
    assert words in problem


def test_check_refuses_other_zip_files() -> None:
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("photo.jpg", b"x")
    odt = io.BytesIO()
    with zipfile.ZipFile(odt, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        zf.writestr("content.xml", "<x/>")
    assert "archive zip" in check_template(plain.getvalue())[0]
    assert ".odt" in check_template(odt.getvalue())[0]


def test_check_tries_the_template_on_a_sample_dossier() -> None:
    # Every name is known, but filling it fails.
    (problem,) = check_template(template_with("Page {{ dossier_version // 0 }}"))
    assert problem.startswith("Essai avec un dossier d'exemple")


