"""Benchmark the dossier rendering: a big parcours, phone photos.

    python tests/bench/bench_docx.py [--strict] [--keep DIR]

The dossier: 200 tasks, 60 tagged compétences (12 blocs in 3 référentiels), 40
phone photos of 4000×3000. One task in four is tagged to two compétences, so it
and its photo show twice (the photo is stored once in the .docx).

Photos: the service keeps a 1600 px copy of each photo when it is stored
(`docx_templates.reduce_photo`); this bench makes those copies the same way and
renders with them (the normal path). It also renders with the raw 4000×3000
photos, the case where `render` has to reduce them itself, and, as a reference,
builds the same content with bare python-docx (no template).

Each measure runs in a fresh subprocess so that its peak memory (ru_maxrss) is
its own. Targets: build < 2 s, peak memory < 300 MB, file < 15 MB.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

N_TASKS = 200
N_BLOCS = 12
PER_BLOC = 5  # 60 compétences
N_PHOTOS = 40
PHOTO_SIZE = (4000, 3000)
RUNS = 3
TARGET_SECONDS = 2.0
TARGET_MB = 300.0
TARGET_FILE_MB = 15.0

WORDS = [
    "je", "trie", "range", "nettoie", "plante", "arrose", "vérifie", "note", "prépare",
    "accueille", "répare", "pèse", "lave", "compte", "les", "dons", "la", "réserve",
    "locaux", "poireaux", "potager", "objets", "cahier", "commandes", "clients", "vélo",
    "légumes", "sol", "magasin", "étiquettes", "stock", "avec", "tous", "jours",
]  # fmt: skip


# --- data -------------------------------------------------------------------------------


def make_phone_photo(seed: int) -> bytes:
    """A 4000×3000 JPEG with the detail of a real photo (shapes, gradient, sensor noise).

    Detail is drawn at 2000×1500 so that it survives the reduction to 1600 px:
    the reduced copy weighs ~370 KB, the heavy end of real phone photos.
    """
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    w, h = PHOTO_SIZE[0] // 2, PHOTO_SIZE[1] // 2
    im = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(im)
    for y in range(h):
        shade = int(120 + 100 * y / h)
        draw.line([(0, y), (w, y)], fill=(shade // 2, shade, 255 - shade // 2))
    for _ in range(2500):
        x, y, r = rng.randrange(w), rng.randrange(h), rng.randrange(3, 40)
        color = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
    im = Image.blend(im, Image.effect_noise((w, h), 40).convert("RGB"), 0.10)
    im = im.resize(PHOTO_SIZE, Image.Resampling.BICUBIC)
    im = Image.blend(im, Image.effect_noise(PHOTO_SIZE, 30).convert("RGB"), 0.06)
    out = io.BytesIO()
    im.save(out, "JPEG", quality=90)
    return out.getvalue()


def make_context(photos: list[bytes]) -> dict[str, Any]:
    from docx_templates.context import MODALITES, SOURCE_LIBELLES, VERDICT_LIBELLES

    rng = random.Random(42)

    def sentence(n: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."

    tasks = []
    for i in range(N_TASKS):
        source = ("workplace", "workplace", "coursework", "moodle")[i % 4]
        tasks.append(
            {
                "titre": f"Tâche {i + 1} : {sentence(6)}",
                "description": "\n".join(sentence(rng.randrange(10, 25)) for _ in range(3)),
                "lieu": "Recyclerie des Oliveaux, Loos",
                "comment": sentence(12),
                "avec_quoi": sentence(5),
                "frequence": "Tous les jours",
                "date_debut": "mars 2024",
                "date_fin": "",
                "source": source,
                "source_libelle": SOURCE_LIBELLES[source],
                "photos": (
                    [{"data": photos[i // 5], "legende": f"Photo {i // 5 + 1}"}]
                    if i % 5 == 0 and i // 5 < len(photos)
                    else []
                ),
            }
        )
    n_comp = N_BLOCS * PER_BLOC
    tagged: list[list[dict[str, Any]]] = [[] for _ in range(n_comp)]
    for i, task in enumerate(tasks):
        tagged[i % n_comp].append(task)
        if i % 4 == 0:
            tagged[(i + 7) % n_comp].append(task)
    blocs = []
    for b in range(N_BLOCS):
        comps = []
        for k in range(PER_BLOC):
            idx = b * PER_BLOC + k
            verdict = ("oui", "partiellement", "non", "")[idx % 4]
            its = tagged[idx]
            comps.append(
                {
                    "code": f"C{idx + 1}",
                    "intitule": sentence(14),
                    "falc": sentence(6),
                    "nb_taches": len(its),
                    "nb_preuves": sum(len(t["photos"]) for t in its),
                    "taches": its,
                    "modules": [{"nom": f"Module {idx}", "date": "3 février 2025"}],
                    "revue": {
                        "verdict": verdict,
                        "verdict_libelle": VERDICT_LIBELLES[verdict],
                        "commentaire": sentence(15),
                        "auteur": "Nadia Lefebvre",
                        "date": "3 mars 2025",
                    },
                }
            )
        blocs.append(
            {
                "referentiel_id": f"REF-{b % 3}",
                "code": f"RNCP0000{b % 3}BC{b:02d}",
                "intitule": sentence(12),
                "falc": sentence(5),
                "competences": comps,
                "revue": {
                    "verdict": "",
                    "verdict_libelle": "",
                    "commentaire": sentence(10),
                    "auteur": "Nadia Lefebvre",
                    "date": "3 mars 2025",
                },
            }
        )
    return {
        "candidat": {
            "nom": "Delattre",
            "prenom": "Sandrine",
            "nom_complet": "Sandrine Delattre",
            "structure": "La Fabrique de l'Emploi",
        },
        "accompagnateurs": [{"nom_complet": "Nadia Lefebvre", "fonction": "accompagnatrice"}],
        "referentiels": [
            {
                "id": f"REF-{r}",
                "version": "2024",
                "intitule": f"Titre professionnel {r}",
                "rncp": f"RNCP0000{r}",
                "certificateur": "Ministère du Travail",
                "niveau": "Niveau 3",
                "statut": "en vigueur",
            }
            for r in range(3)
        ],
        "modalite": dict(MODALITES["concret"]),
        "blocs": blocs,
        "reste_a_montrer": [
            {"code": f"C{i}", "intitule": sentence(10), "falc": sentence(5), "note": sentence(8)}
            for i in range(10)
        ],
        "projet": sentence(30),
        "generated_at": "14 mars 2025 à 10 h 30",
        "dossier_version": 7,
    }


# --- the reference: the same content with bare python-docx --------------------------------


def render_bare(ctx: dict[str, Any]) -> bytes:
    from docx import Document
    from docx.shared import Cm

    doc = Document()
    doc.add_heading("Dossier de preuves", 0)
    doc.add_paragraph(ctx["candidat"]["nom_complet"])
    doc.sections[0].header.paragraphs[0].text = ctx["candidat"]["nom_complet"]
    for r in ctx["referentiels"]:
        doc.add_heading(r["intitule"], 2)
        table = doc.add_table(rows=4, cols=2)
        for row, (k, v) in zip(
            table.rows,
            [("RNCP", r["rncp"]), ("Certificateur", r["certificateur"]),
             ("Niveau", r["niveau"]), ("Version", r["version"])],
            strict=True,
        ):  # fmt: skip
            row.cells[0].text, row.cells[1].text = k, v
    grid = doc.add_table(rows=1, cols=6)
    for bloc in ctx["blocs"]:
        grid.add_row().cells[0].text = f"{bloc['code']} · {bloc['intitule']}"
        for c in bloc["competences"]:
            cells = grid.add_row().cells
            values = (c["code"], c["intitule"], c["falc"], str(c["nb_taches"]),
                      str(c["nb_preuves"]), c["revue"]["verdict_libelle"])  # fmt: skip
            for cell, value in zip(cells, values, strict=True):
                cell.text = value
    for bloc in ctx["blocs"]:
        doc.add_heading(f"{bloc['code']} · {bloc['intitule']}", 1)
        for c in bloc["competences"]:
            doc.add_heading(f"{c['code']} · {c['falc']}", 2)
            doc.add_paragraph(c["intitule"])
            for t in c["taches"]:
                doc.add_heading(t["titre"], 3)
                p = doc.add_paragraph()
                for i, line in enumerate(t["description"].split("\n")):
                    run = p.add_run(line)
                    if i:
                        run.add_break()
                details = doc.add_table(rows=6, cols=2)
                for row, (k, v) in zip(
                    details.rows,
                    [("Où ?", t["lieu"]), ("Comment ?", t["comment"]),
                     ("Avec quoi ?", t["avec_quoi"]), ("Combien de fois ?", t["frequence"]),
                     ("Quand ?", t["date_debut"]), ("Source", t["source_libelle"])],
                    strict=True,
                ):  # fmt: skip
                    row.cells[0].text, row.cells[1].text = k, v
                for photo in t["photos"]:
                    doc.add_picture(io.BytesIO(photo["data"]), width=Cm(8))
                    doc.add_paragraph(photo["legende"], style="Caption")
            for m in c["modules"]:
                doc.add_paragraph(f"{m['nom']}, {m['date']}", style="List Bullet")
            doc.add_paragraph(f"{c['revue']['verdict_libelle']} : {c['revue']['commentaire']}")
    doc.add_heading("Ce qui reste à montrer", 1)
    for item in ctx["reste_a_montrer"]:
        doc.add_paragraph(f"{item['code']} {item['falc']} : {item['note']}")
    doc.add_heading("Mon projet", 1)
    doc.add_paragraph(ctx["projet"])
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


# --- one measure, in a child process --------------------------------------------------------


def peak_mb() -> float:
    """This process's peak resident memory, in MB.

    VmHWM, not ru_maxrss: on Linux ru_maxrss survives fork and exec, so a child
    would report its parent's peak (here, the photo generation).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(mode: str, photo_dir: Path, keep: Path | None) -> dict[str, Any]:
    from docx_templates import DEFAULT_TEMPLATE, render

    kind = "raw" if mode == "raw" else "reduced"
    photos = [p.read_bytes() for p in sorted(photo_dir.glob(f"{kind}-*.jpg"))]
    ctx = make_context(photos)
    rss_before = peak_mb()
    times = []
    data = b""
    for _ in range(1 if mode == "raw" else RUNS):
        start = time.perf_counter()
        data = render_bare(ctx) if mode == "bare" else render(DEFAULT_TEMPLATE, ctx)
        times.append(time.perf_counter() - start)
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        (keep / f"dossier-{mode}.docx").write_bytes(data)
    return {
        "mode": mode,
        "seconds": statistics.median(times),
        "runs": len(times),
        "peak_mb": peak_mb(),
        "before_mb": rss_before,
        "file_mb": len(data) / 1e6,
        "input_mb": sum(len(p) for p in photos) / 1e6,
    }


def measure(mode: str, photo_dir: Path, keep: Path | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", mode, str(photo_dir)]
    if keep:
        cmd += ["--keep", str(keep)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--keep", type=Path, help="write the generated dossiers to this folder")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.keep)))
        return 0

    from docx_templates import reduce_photo

    with tempfile.TemporaryDirectory(prefix="bench-docx-") as tmp:
        photo_dir = Path(tmp)
        print(f"Génération de {N_PHOTOS} photos {PHOTO_SIZE[0]}×{PHOTO_SIZE[1]}…", flush=True)
        reduce_times = []
        for i in range(N_PHOTOS):
            raw = make_phone_photo(i)
            (photo_dir / f"raw-{i:02d}.jpg").write_bytes(raw)
            start = time.perf_counter()
            reduced = reduce_photo(raw)
            reduce_times.append(time.perf_counter() - start)
            (photo_dir / f"reduced-{i:02d}.jpg").write_bytes(reduced)
        raw_mb = sum(p.stat().st_size for p in photo_dir.glob("raw-*")) / 1e6
        red_mb = sum(p.stat().st_size for p in photo_dir.glob("reduced-*")) / 1e6
        print(
            f"photos : {raw_mb:.1f} Mo brutes -> {red_mb:.1f} Mo réduites à 1600 px "
            f"({statistics.mean(reduce_times) * 1000:.0f} ms par photo, "
            f"payé une fois à l'enregistrement)\n",
            flush=True,
        )
        results = [measure(mode, photo_dir, args.keep) for mode in ("reduced", "raw", "bare")]

    labels = {
        "reduced": "render(), photos réduites (cas normal)",
        "raw": "render(), photos brutes réduites au rendu",
        "bare": "python-docx seul (référence)",
    }
    cpus = os.cpu_count()
    print(f"{N_TASKS} tâches, {N_BLOCS * PER_BLOC} compétences, {N_PHOTOS} photos, {cpus} cœurs")
    print(f"{'':45} {'temps':>8} {'mémoire max':>12} {'dont avant':>11} {'fichier':>9}")
    for r in results:
        print(
            f"{labels[r['mode']]:45} {r['seconds']:7.2f}s {r['peak_mb']:9.0f} Mo "
            f"{r['before_mb']:8.0f} Mo {r['file_mb']:6.1f} Mo"
        )
    print("(« dont avant » : le processus avec le contexte et ses photos, avant le rendu)")
    main_run = results[0]
    checks = [
        ("temps < 2 s", main_run["seconds"] < TARGET_SECONDS),
        ("mémoire < 300 Mo", main_run["peak_mb"] < TARGET_MB),
        ("fichier < 15 Mo", main_run["file_mb"] < TARGET_FILE_MB),
    ]
    print(
        "objectifs (cas normal) : "
        + ", ".join(f"{n} {'ok' if ok else 'MANQUÉ'}" for n, ok in checks)
    )
    return 1 if args.strict and not all(ok for _, ok in checks) else 0


if __name__ == "__main__":
    raise SystemExit(main())
