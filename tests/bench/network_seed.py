"""The network bench's data: a network of structures in set-based SQL, and the measured course
(through the ORM, the same in both databases). Used by tests/bench/bench_network.py."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from integration.models import (  # noqa: E402
    Evidence,
    HistoryEntry,
    Modalite,
    Platform,
    Review,
    Role,
    Tag,
    Task,
    TaskSource,
    Verdict,
)
from referentiels import Catalog  # noqa: E402
from tests.support.parcours import (  # noqa: E402
    actor_of,
    committed,
    make_course,
    make_membership,
    make_parcours,
    make_person,
    make_platform,
)

PLATFORMS = 50
COURSES_PER_PLATFORM = 16
TASKS_PER_PARCOURS = 30
REVIEWS_PER_PARCOURS = 4
HISTORY_PER_PARCOURS = 5
COURSE_CANDIDATS = 60
COURSE_TASKS = 40
REF = ("CAP-EPC", "2019-10-29")  # the measured course's référentiel
TARGET_RATIO = 1.3
TARGET_ERASE_MS = 50.0
STATEMENT_TIMEOUT_S = 20
WORDS = ["Je range les vêtements en rayon", "J’accueille les clients à la caisse",
         "Je reçois les livraisons", "Je mets les étiquettes", "Je compte le stock",
         "Je nettoie la réserve", "Je prépare une commande", "Je conseille une cliente"]


def _privacy() -> Any:
    """integration.privacy, wherever the modules' move has put it."""
    for name in ("integration.ops.privacy", "integration.privacy"):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            continue
    raise RuntimeError("integration privacy module not found (ops/privacy.py or privacy.py)")


def _referentiels() -> list[tuple[str, str, list[str]]]:
    """The shipped référentiels with compétences, with their compétence codes."""
    found = []
    for ref in Catalog.shipped().all():
        codes = [c.code for c in ref.competences()]
        if codes:
            found.append((ref.id, ref.version, codes))
    return found


# --- the network, in set-based SQL --------------------------------------------------------


def seed_network(url: str, n: int) -> dict[str, int]:
    """The network's rows with explicit ids (platform 1..50, course 1..800, candidat and
    parcours i in 1..n, the accompagnateur of course c is person n + c, task ids 1..30n);
    sequences are moved past them at the end. Returns the row counts."""
    courses = PLATFORMS * COURSES_PER_PLATFORM
    refs = _referentiels()
    params = {"n": n, "courses": courses, "per": COURSES_PER_PLATFORM, "refs": len(refs),
              "platforms": PLATFORMS, "tasks": TASKS_PER_PARCOURS,
              "words": WORDS}
    # course c (1-based) -> platform (c-1)/per+1; parcours p -> course ((p-1) % courses)+1;
    # the référentiel of course c is bench_ref.idx = (c-1) % refs.
    course_of = "(((p - 1) % :courses) + 1)"
    statements = [
        "CREATE TEMP TABLE bench_ref (idx int PRIMARY KEY, rid text, ver text, codes text[],"
        " n int)",
        """INSERT INTO platform (id, name, issuer, client_id, auth_url, token_url, jwks_url,
               active, moodle_match, settings, created_at)
           SELECT g, 'Structure ' || g, 'https://moodle' || g || '.reseau.example.org',
               'client-' || g, 'https://moodle' || g || '.reseau.example.org/mod/lti/auth.php',
               'https://moodle' || g || '.reseau.example.org/mod/lti/token.php',
               'https://moodle' || g || '.reseau.example.org/mod/lti/certs.php',
               true, 'id', '{}'::json, now()
           FROM generate_series(1, :platforms) g""",
        """INSERT INTO deployment (platform_id, deployment_id, created_at)
           SELECT g, '1', now() FROM generate_series(1, :platforms) g""",
        """INSERT INTO course (id, platform_id, context_id, deployment_id, title, label,
               referentiels, ags_scopes, created_at)
           SELECT c, (c - 1) / :per + 1, 'net-ctx-' || c, '1', 'Parcours RAE ' || c, '',
               json_build_array(r.rid || '@' || r.ver), '[]'::json, now()
           FROM generate_series(1, :courses) c JOIN bench_ref r ON r.idx = (c - 1) % :refs""",
        f"""INSERT INTO person (id, platform_id, sub, name, given_name, family_name, email,
               username, is_coordinateur, created_at, last_seen_at)
           SELECT p, ({course_of} - 1) / :per + 1, 'net-' || p, 'Candidat ' || p,
               'Prénom' || p, 'Nom' || p, 'c' || p || '@example.org', 'c' || p, false,
               now() - (p % 365) * interval '1 day', now()
           FROM generate_series(1, :n) p""",
        """INSERT INTO person (id, platform_id, sub, name, given_name, family_name, email,
               username, is_coordinateur, created_at)
           SELECT :n + c, (c - 1) / :per + 1, 'net-acc-' || c, 'Accompagnateur ' || c, '', '',
               'a' || c || '@example.org', 'a' || c, false, now()
           FROM generate_series(1, :courses) c""",
        f"""INSERT INTO membership (course_id, person_id, role, roles_raw, launched,
               last_launch_at)
           SELECT {course_of}, p, 'candidat', '[]'::json, true, now()
           FROM generate_series(1, :n) p""",
        """INSERT INTO membership (course_id, person_id, role, roles_raw, launched,
               last_launch_at)
           SELECT c, :n + c, 'accompagnateur', '[]'::json, true, now()
           FROM generate_series(1, :courses) c""",
        f"""INSERT INTO parcours (id, person_id, course_id, modalite, status, projet,
               closed_at, created_at, updated_at, version)
           SELECT p, p, {course_of},
               (ARRAY[NULL, 'concret', 'abstrait', 'transfert'])[1 + p % 4],
               (ARRAY['en_preparation', 'en_preparation', 'pret_pour_le_jury', 'presente',
                      'reconnu'])[1 + p % 5],
               'Je veux devenir responsable de rayon.',
               CASE WHEN p % 20 = 0 THEN now() - (p % 700) * interval '1 day' END,
               now() - (p % 365) * interval '1 day', now(), 1
           FROM generate_series(1, :n) p""",
        f"""INSERT INTO parcours_accompagnateur (parcours_id, person_id, added_at)
           SELECT p, :n + {course_of}, now() FROM generate_series(1, :n) p""",
        f"""INSERT INTO parcours_referentiel (parcours_id, referentiel_id, referentiel_version)
           SELECT p, r.rid, r.ver FROM generate_series(1, :n) p
           JOIN bench_ref r ON r.idx = ({course_of} - 1) % :refs""",
        """INSERT INTO task (id, parcours_id, title, description, "where", how, tools,
               frequency, started_on, source, moodle_cmid, moodle_completed,
               moodle_completed_at, created_by_id, created_at, updated_at, deleted_at, version)
           SELECT t, (t - 1) / :tasks + 1,
               (CAST(:words AS text[]))[1 + t % 8] || ' (' || ((t - 1) % :tasks + 1) || ')',
               '', 'à l’épicerie solidaire', 'Je regarde la liste, je prends, je vérifie.',
               'une balance, un chariot', 'toutes les semaines',
               current_date - (t % 900),
               CASE WHEN (t - 1) % :tasks % 5 = 4 THEN 'moodle'
                    WHEN t % 7 = 0 THEN 'coursework' ELSE 'workplace' END,
               CASE WHEN (t - 1) % :tasks % 5 = 4 THEN 1000 + (t - 1) % :tasks END,
               CASE WHEN (t - 1) % :tasks % 5 = 4 THEN t % 3 <> 0 END,
               CASE WHEN (t - 1) % :tasks % 5 = 4 AND t % 3 <> 0 THEN now() END,
               (t - 1) / :tasks + 1, now() - (t % 365) * interval '1 day', now(),
               CASE WHEN t % 41 = 0 THEN now() END, 1
           FROM generate_series(1, :n * :tasks) t""",
        """INSERT INTO evidence (task_id, kind, storage_path, medium_path, preview_path,
               original_name, content_type, size, sha256, width, height, caption,
               created_by_id, created_at)
           SELECT t, 'photo', 'evidence/net/' || t || '.jpg',
               'evidence/net/' || t || '-medium.jpg', 'evidence/net/' || t || '-preview.jpg',
               'photo.jpg', 'image/jpeg', 250000, repeat('0', 64), 4000, 3000, '',
               (t - 1) / :tasks + 1, now()
           FROM generate_series(3, :n * :tasks, 3) t""",
        f"""INSERT INTO tag (task_id, referentiel_id, referentiel_version, competence_code,
               comment, created_by_id, created_at, updated_at)
           SELECT t, r.rid, r.ver, r.codes[1 + t % r.n], '', (t - 1) / :tasks + 1, now(), now()
           FROM (SELECT t, (t - 1) / :tasks + 1 AS p FROM generate_series(1, :n * :tasks) t) x
           JOIN bench_ref r ON r.idx = ({course_of} - 1) % :refs""",
        f"""INSERT INTO review (parcours_id, referentiel_id, referentiel_version,
               competence_code, verdict, comment, reviewer_id, reviewer_name, created_at)
           SELECT p, r.rid, r.ver, r.codes[1 + k % r.n],
               (ARRAY['oui', 'non', 'partiellement'])[1 + (p + k) % 3], 'Bien décrit.',
               :n + {course_of}, 'Accompagnateur', now() - k * interval '1 day'
           FROM generate_series(1, :n) p CROSS JOIN generate_series(0, {REVIEWS_PER_PARCOURS - 1}) k
           JOIN bench_ref r ON r.idx = ({course_of} - 1) % :refs""",
        f"""INSERT INTO history_entry (parcours_id, actor_id, action, detail, at)
           SELECT p, p, (ARRAY['task_added', 'tag_added', 'evidence_added', 'task_changed',
                               'status_changed'])[1 + k],
               json_build_object('n', k), now() - k * interval '1 hour'
           FROM generate_series(1, :n) p
           CROSS JOIN generate_series(0, {HISTORY_PER_PARCOURS - 1}) k""",
    ]
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
            for sql in statements[:1]:
                conn.execute(sa.text(sql))
            conn.execute(
                sa.text("INSERT INTO bench_ref VALUES (:idx, :rid, :ver, :codes, :n)"),
                [{"idx": i, "rid": rid, "ver": ver, "codes": codes, "n": len(codes)}
                 for i, (rid, ver, codes) in enumerate(refs)],
            )
            for sql in statements[1:]:
                # Integers written in (psycopg would bind small ones as smallint, and
                # n * tasks overflows it); the words stay a bound array.
                for name, value in params.items():
                    if isinstance(value, int):
                        sql = re.sub(rf":{name}\b", str(value), sql)
                conn.execute(sa.text(sql), {"words": WORDS} if ":words" in sql else {})
            for table in ("platform", "course", "person", "parcours", "task"):
                conn.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT max(id) FROM {table}))"))
        with engine.connect() as conn:
            counts = {
                table: int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in ("platform", "course", "person", "parcours", "task", "evidence",
                              "tag", "review", "history_entry")
            }
    finally:
        engine.dispose()
    return counts


# --- the measured course, through the ORM (the same in both databases) --------------------


def seed_course(url: str, platform_id: int | None) -> dict[str, Any]:
    """One course of 60 candidats x 40 activities on `platform_id` (a new platform if None)."""
    codes = [c.code for c in Catalog.shipped().get(*REF).competences()]
    with committed(url) as session:
        platform = (session.get(Platform, platform_id) if platform_id is not None
                    else make_platform(session, name="Structure mesurée"))
        assert platform is not None
        course = make_course(session, platform, title="Parcours RAE mesuré",
                             referentiels=[f"{REF[0]}@{REF[1]}"])
        nadia = make_person(session, platform, name="Nadia L.")
        make_membership(session, course, nadia, Role.ACCOMPAGNATEUR)
        parcours_ids, people, first_tasks = [], [], []
        for n in range(COURSE_CANDIDATS):
            person = make_person(session, platform, name=f"Candidat mesuré {n + 1:02d}")
            make_membership(session, course, person, Role.CANDIDAT)
            parcours = make_parcours(session, person, course, referentiels=[REF],
                                     modalite=Modalite.CONCRET if n % 2 else None)
            tasks = [Task(parcours_id=parcours.id, created_by_id=person.id,
                          title=f"{WORDS[i % len(WORDS)]} ({i + 1})",
                          where="à l’épicerie solidaire", tools="une balance, un chariot",
                          how="Je regarde la liste, je prends les produits, je vérifie.",
                          frequency="toutes les semaines",
                          source=TaskSource.MOODLE if i % 5 == 4 else TaskSource.WORKPLACE,
                          moodle_cmid=2000 + i if i % 5 == 4 else None,
                          moodle_completed=bool(i % 2) if i % 5 == 4 else None)
                     for i in range(COURSE_TASKS)]
            session.add_all(tasks)
            session.flush()
            for i, task in enumerate(tasks):
                for k in range(i % 2):
                    session.add(Evidence(
                        task_id=task.id, kind="photo",
                        storage_path=f"evidence/x/{task.id}-{k}.jpg",
                        medium_path=f"evidence/x/{task.id}-{k}-medium.jpg",
                        preview_path=f"evidence/x/{task.id}-{k}-preview.jpg",
                        original_name="photo.jpg", content_type="image/jpeg", size=1000,
                        sha256="0" * 64, width=4000, height=3000, created_by_id=person.id))
                for k in range(1 + i % 3):
                    session.add(Tag(task_id=task.id, referentiel_id=REF[0],
                                    referentiel_version=REF[1],
                                    competence_code=codes[(i + k * 5) % len(codes)],
                                    created_by_id=person.id))
                session.add(HistoryEntry(parcours_id=parcours.id, actor_id=person.id,
                                         action="task_added", detail={"task_id": task.id}))
            for i, code in enumerate(codes[: n % len(codes)]):
                session.add(Review(parcours_id=parcours.id, referentiel_id=REF[0],
                                   referentiel_version=REF[1], competence_code=code,
                                   verdict=list(Verdict)[i % 3], reviewer_id=nadia.id,
                                   reviewer_name="Nadia L."))
            session.flush()
            parcours_ids.append(parcours.id)
            people.append(person)
            first_tasks.append(tasks[17].id)
        me = 30
        return {
            "candidat": actor_of(people[me], course, Role.CANDIDAT),
            "accompagnateur": actor_of(nadia, course, Role.ACCOMPAGNATEUR),
            "parcours": parcours_ids[me],
            "task": first_tasks[me],
            "code": codes[0],
            # Candidats to erase at the end (not the one whose pages are measured).
            "erase": [p.id for i, p in enumerate(people) if i % 10 == 5],
        }


