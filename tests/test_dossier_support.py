"""Shared pieces of the dossier and publication tests: a runtime, a parcours told through the
real services, and readers for the .docx produced (no test here)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from docx import Document

from integration import parcours as services
from integration.actor import Actor
from integration.db import transaction
from integration.models import Tag, TaskSource
from integration.parcours.catalog import load_catalog
from integration.runtime import Runtime
from integration.settings import Settings
from tests.support.database import migrate
from tests.support.parcours import APH, Cast, committed, jpeg_bytes, make_task

PHOTO_SIZE = (2400, 1800)  # bigger than the 1600 px reduced copy, so the two differ


def make_runtime(database_url: str, var_dir: Path, **settings: Any) -> Runtime:
    """A runtime on a migrated database (files in `var_dir/files` unless told otherwise)."""
    migrate(database_url)
    return Runtime.from_settings(
        Settings(var_dir=var_dir, database_url=database_url, secret_key="t", testing=True,
                 **settings)
    )


@dataclass
class Story:
    """Alice's parcours in course X, told through the services; carla reviewed it."""

    runtime: Runtime
    cast: Cast
    database_url: str
    parcours_id: int
    texts: dict[str, str] = field(default_factory=dict)
    photo_evidence: list[int] = field(default_factory=list)

    def actor(self, name: str) -> Actor:
        return self.cast.actor(name)


def tell_story(runtime: Runtime, database_url: str, *, photos: int = 2) -> Story:
    """Alice (« Alice Martin ») tags three tasks, adds photos; carla says oui and partiellement."""
    with committed(database_url) as session:
        cast = Cast.build(session, referentiels=(APH,))
        alice = cast.people["alice"]
        alice.given_name, alice.family_name, alice.name = "Alice", "Martin", "Alice Martin"
        carla = cast.people["carla"]
        carla.given_name, carla.family_name, carla.name = "Carla", "Durand", "Carla Durand"
        carla.username, carla.email = "carla.nc", "carla.durand@example.org"
    story = Story(runtime, cast, database_url, cast.parcours["alice"].id)
    alice_actor, carla_actor = cast.actor("alice"), cast.actor("carla")
    story.texts = {
        "bureaux": "Je nettoie les bureaux de la Fabrique le matin",
        "bureaux_how": "Je commence par les poubelles puis je lave le sol du fond vers la porte",
        "toilettes": "Je nettoie les toilettes du rez-de-chaussée",
        "machine": "Je passe l’autolaveuse dans le hall",
        "tag_comment": "C’est ce que je fais tous les jours",
        "review_oui": "Méthode sûre, ordre des tâches respecté",
        "review_partiel": "Il manque le détartrage hebdomadaire",
        "projet": "Je veux passer le titre d’agent de propreté",
        "module": "Module hygiène et sécurité",
    }
    t = story.texts
    with transaction(runtime.sessions) as session:
        catalog = load_catalog(session, platform_id=None)
        pid = story.parcours_id
        services.set_modalite(session, alice_actor, pid, "concret")
        services.set_projet(session, alice_actor, pid, t["projet"])
        bureaux = services.create_task(session, alice_actor, pid, {
            "title": t["bureaux"], "how": t["bureaux_how"], "where": "Bureaux, rue principale",
            "tools": "Chariot, seau à deux bacs", "frequency": "Tous les matins",
            "description": "J’arrive à 7 h 30.\nJe vide les poubelles.",
        })
        for number in range(photos):
            evidence = services.attach_evidence(
                session, alice_actor, runtime.store, bureaux.id,
                jpeg_bytes(PHOTO_SIZE, (40 * number % 255, 120, 200)),
                filename=f"IMG_{number}.jpg", caption=f"Le couloir, photo {number + 1}",
            )
            story.photo_evidence.append(evidence.id)
        services.add_tag(session, alice_actor, bureaux.id, referentiel_id="TP-APH",
                         competence_code="C1", comment=t["tag_comment"], catalog=catalog)
        toilettes = services.create_task(session, alice_actor, pid, {"title": t["toilettes"]})
        services.add_tag(session, alice_actor, toilettes.id, referentiel_id="TP-APH",
                         competence_code="C2", catalog=catalog)
        machine = services.create_task(session, alice_actor, pid, {"title": t["machine"]})
        services.add_tag(session, alice_actor, machine.id, referentiel_id="TP-APH",
                         competence_code="C4", catalog=catalog)
        module = make_task(session, services.get_parcours(session, alice_actor, pid),
                           title=t["module"], source=TaskSource.MOODLE, moodle_cmid=7,
                           moodle_completed=True,
                           moodle_completed_at=datetime(2025, 2, 12, 9, 0, tzinfo=UTC))
        session.add(Tag(task_id=module.id, referentiel_id=APH[0], referentiel_version=APH[1],
                        competence_code="C3"))
        services.add_review(session, carla_actor, pid, referentiel_id="TP-APH",
                            competence_code="C1", verdict="oui", comment=t["review_oui"],
                            catalog=catalog)
        services.add_review(session, carla_actor, pid, referentiel_id="TP-APH",
                            competence_code="C2", verdict="partiellement",
                            comment=t["review_partiel"], catalog=catalog)
    return story


@pytest.fixture(name="runtime")
def runtime_fixture(tmp_path: Path) -> Iterator[Runtime]:
    """SQLite and a local-folder store under tmp_path."""
    built = make_runtime(f"sqlite:///{tmp_path / 'reperes.sqlite3'}", tmp_path / "var")
    yield built
    built.engine.dispose()


@pytest.fixture(name="story")
def story_fixture(runtime: Runtime, tmp_path: Path) -> Story:
    return tell_story(runtime, f"sqlite:///{tmp_path / 'reperes.sqlite3'}")


# --- reading a .docx ------------------------------------------------------------------------


def docx_text(data: bytes) -> str:
    """Every paragraph of the body, tables, headers and footers, one per line."""
    document = Document(io.BytesIO(data))
    lines = [p.text for p in document.paragraphs]

    def cells(tables: Any) -> Iterator[str]:
        for table in tables:
            for row in table.rows:
                for cell in row.cells:
                    for paragraph in cell.paragraphs:
                        yield paragraph.text
                    yield from cells(cell.tables)

    lines.extend(cells(document.tables))
    for section in document.sections:
        lines.extend(p.text for p in section.header.paragraphs)
    return "\n".join(lines)


def docx_media(data: bytes) -> list[bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [archive.read(name) for name in archive.namelist()
                if re.match(r"word/media/image\d+\.", name)]


def image_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size


def add_hostile_tasks(runtime: Runtime, actor: Actor, parcours_id: int) -> None:
    """Tasks full of trouble (XML specials, control characters, 10 000 characters, RTL and
    emoji) written straight into the rows, and a photo whose stored copy is corrupt."""
    from docx_templates.samples import CORRUPT_PHOTO, HOSTILE_TEXTS

    broken_path = None
    with transaction(runtime.sessions) as session:
        catalog = load_catalog(session, platform_id=None)
        parcours = services.get_parcours(session, actor, parcours_id)
        # Lone surrogates cannot even be stored; every other trouble is kept.
        for number, text in enumerate(t.replace("\ud800", "") for t in HOSTILE_TEXTS[:4]):
            task = make_task(session, parcours, title=text[:300], description=text, how=text,
                             where=text[:300], tools=text)
            services.add_tag(session, actor, task.id, referentiel_id="TP-APH",
                             competence_code=f"C{number + 3}", comment=text[:1000],
                             catalog=catalog)
            if number == 0:
                photo = services.attach_evidence(session, actor, runtime.store, task.id,
                                                 jpeg_bytes((320, 240)), caption=text[:500])
                broken_path = photo.medium_path
        parcours.projet = HOSTILE_TEXTS[2] + "\n" + HOSTILE_TEXTS[0]
    assert broken_path is not None
    current = runtime.store.stat(broken_path)
    assert current is not None
    runtime.store.put(broken_path, CORRUPT_PHOTO, if_match=current.etag)
    runtime.kept_files.put(broken_path, CORRUPT_PHOTO)  # the copy kept here too
