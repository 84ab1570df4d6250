"""The dossier template's schema, its documentation and the committed default template."""

from __future__ import annotations

import copy
import io
import re
import zipfile
from typing import Any, get_args, get_origin

import docx
import pytest

from docx_templates import (
    DEFAULT_TEMPLATE,
    build_default,
    context,
    render,
    sample_context,
)
from tests.test_docx_templates import README, all_text, jpeg, media, opened


@pytest.fixture(scope="module")
def rendered() -> bytes:
    return render(DEFAULT_TEMPLATE, sample_context())

# --- the schema, its documentation and the committed template ----------------------------


def test_readme_field_list_is_generated_from_the_schema() -> None:
    readme = README.read_text(encoding="utf-8")
    assert context.readme_with_fields(readme) == readme, (
        "README.md is out of date: run python -m docx_templates.build_default"
    )
    for field in context.template_fields():
        assert f"`{field.path}`" in readme


def test_schema_covers_the_brief() -> None:
    paths = {f.path for f in context.template_fields()}
    for path in (
        "candidat.nom_complet",
        "accompagnateurs[].nom_complet",
        "referentiels[].rncp",
        "referentiels[].certificateur",
        "referentiels[].statut",
        "modalite.phrase",
        "blocs[].competences[].falc",
        "blocs[].competences[].nb_preuves",
        "blocs[].competences[].revue.verdict",
        "blocs[].competences[].taches[].avec_quoi",
        "blocs[].competences[].taches[].photos[].legende",
        "blocs[].competences[].taches[].commentaire",
        "blocs[].competences[].modules[].date",
        "reste_a_montrer[].note",
        "projet",
        "generated_at",
        "dossier_version",
    ):
        assert path in paths
    assert context.MODALITES["transfert"]["phrase"] == "Je montre que je sais le faire ailleurs"


def _assert_matches(value: Any, tp: Any, where: str) -> None:
    if get_origin(tp) is list:
        assert isinstance(value, list), where
        for i, item in enumerate(value):
            _assert_matches(item, get_args(tp)[0], f"{where}[{i}]")
    elif isinstance(tp, type) and issubclass(tp, dict):
        fields = {k: t for k, (t, _doc) in context.typed_fields(tp).items()}
        if tp is context.Photo:
            fields = {"data": bytes, "legende": str}
        assert set(value) == set(fields), where
        for key, sub in fields.items():
            _assert_matches(value[key], sub, f"{where}.{key}")
    elif tp in (str, int, bytes):
        assert isinstance(value, tp), where


def test_sample_context_fills_every_field_of_the_schema() -> None:
    _assert_matches(sample_context(), context.DossierContext, "context")


def test_default_template_is_rebuilt_identically_and_committed_up_to_date() -> None:
    first, second = build_default.build(), build_default.build()
    assert first == second
    with (
        zipfile.ZipFile(io.BytesIO(first)) as fresh,
        zipfile.ZipFile(DEFAULT_TEMPLATE) as committed,
    ):
        assert fresh.namelist() == committed.namelist()
        for name in fresh.namelist():
            assert fresh.read(name) == committed.read(name), (
                f"{name} differs: run python -m docx_templates.build_default"
            )


def test_sample_context_is_a_fresh_copy_each_time() -> None:
    a = sample_context()
    b = copy.deepcopy(sample_context())
    a["candidat"]["nom"] = "Changé"
    assert sample_context()["candidat"]["nom"] == b["candidat"]["nom"] == "Delattre"


def test_no_jinja_left_in_a_rendered_default_template_with_an_empty_context() -> None:
    text = all_text(opened(render(DEFAULT_TEMPLATE, {})))
    assert not re.search(r"\{[{%]|[}%]\}", text)


def test_a_structure_logo_and_the_photos_live_together() -> None:
    document = docx.Document()
    document.add_picture(io.BytesIO(jpeg((200, 100), (200, 0, 0))))  # the logo
    document.add_paragraph("{{ candidat.nom_complet }}")
    document.add_paragraph("{%p for bloc in blocs %}")
    document.add_paragraph("{%p for c in bloc.competences %}")
    document.add_paragraph("{%p for t in c.taches %}")
    document.add_paragraph("{%p for photo in t.photos %}")
    document.add_paragraph("{{ photo.image }}")
    document.add_paragraph("{%p endfor %}")
    document.add_paragraph("{%p endfor %}")
    document.add_paragraph("{%p endfor %}")
    document.add_paragraph("{%p endfor %}")
    out = io.BytesIO()
    document.save(out)
    data = render(out.getvalue(), sample_context())
    assert len(media(data)) == 6  # the logo and five photos
    assert len(opened(data).inline_shapes) == 7  # the logo and six photo places


def test_photos_are_stored_not_deflated_again(rendered: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(rendered)) as zf:
        kinds = {i.filename: i.compress_type for i in zf.infolist()}
        assert zf.testzip() is None
    assert all(kinds[n] == zipfile.ZIP_STORED for n in kinds if n.startswith("word/media/"))
    assert kinds["word/document.xml"] == zipfile.ZIP_DEFLATED
