"""Bench the référentiels library: a national-size RNCP import, and the shipped files.

Run from the repository root:  python tests/bench/bench_referentiels.py [--fiches 20000]

1. Writes a synthetic RNCP export (flux V4-1) of N fiches to a temporary folder,
   padded with the long texts a real export carries (activités visées,
   capacités attestées, modalités d'évaluation), in the list shapes met in real
   fiches (CDATA HTML, escaped HTML, coded lines, bullets).
2. Imports every fiche, streaming, in a child process, and reports its peak RSS
   (resource.getrusage), total time and time per fiche.
3. Times loading all shipped référentiels, cache cleared before each run
   (median of several runs).

Targets: peak RSS under 150 MB; shipped load under 50 ms.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

PEAK_TARGET_MB = 150
SHIPPED_TARGET_MS = 50

_PADDING = (
    "<p>Le titulaire de la certification exerce son activité dans des établissements "
    "de toutes tailles, en autonomie ou au sein d'une équipe, en respectant les règles "
    "d'hygiène, de sécurité et de qualité propres au secteur.</p>"
)

_LISTS = [
    # CDATA HTML with a heading and an evaluation tail
    "<![CDATA[<p>Compétences :</p><ul>{items_li}</ul><p>Modalités d'évaluation : "
    "mise en situation professionnelle</p>]]>",
    # HTML escaped as text
    "&lt;p&gt;Le candidat est capable de :&lt;/p&gt;&lt;ul&gt;{items_escaped}&lt;/ul&gt;",
    # coded plain lines
    "{items_coded}",
    # bullets and &nbsp;
    "{items_bullets}",
]

_WORDS = [
    "Réceptionner les marchandises et contrôler leur conformité",
    "Ranger les produits en réserve selon les règles de stockage",
    "Nettoyer les surfaces et les équipements avec les produits adaptés",
    "Accueillir le client, identifier son besoin et le conseiller",
    "Préparer les plats en respectant les règles d'hygiène",
    "Trier les déchets et les objets collectés selon leur filière",
    "Réparer un équipement simple et vérifier son fonctionnement",
    "Entretenir un espace vert et tailler une haie",
]


def _fiche(n: int) -> str:
    blocs = []
    for b in range(1, 5):
        words = [f"{_WORDS[(n + b + i) % len(_WORDS)]} ({n}.{b}.{i})" for i in range(1, 7)]
        shape = _LISTS[(n + b) % len(_LISTS)]
        liste = shape.format(
            items_li="".join(f"<li>{w}&nbsp;;</li>" for w in words),
            items_escaped="".join(f"&lt;li&gt;{w}&lt;/li&gt;" for w in words),
            items_coded="\n".join(f"C{b}.{i} - {w}" for i, w in enumerate(words, 1)),
            items_bullets="\n".join(f"• {w}" for w in words),
        )
        blocs.append(
            f"<BLOC_COMPETENCES><CODE>RNCP{n}BC{b:02d}</CODE>"
            f"<LIBELLE>Bloc {b} de la fiche {n}</LIBELLE>"
            f"<LISTE_COMPETENCES>{liste}</LISTE_COMPETENCES>"
            f"<MODALITES_EVALUATION><![CDATA[{_PADDING * 4}]]></MODALITES_EVALUATION>"
            f"</BLOC_COMPETENCES>"
        )
    return (
        f"<FICHE><ID_FICHE>{n}</ID_FICHE><NUMERO_FICHE>RNCP{n}</NUMERO_FICHE>"
        f"<INTITULE>Certification d'essai numéro {n}</INTITULE>"
        f"<ETAT_FICHE>Publiée</ETAT_FICHE><ACTIF>{'ACTIVE' if n % 3 else 'INACTIVE'}</ACTIF>"
        f"<DATE_EFFET>{1 + n % 28:02d}/{1 + n % 12:02d}/20{10 + n % 15}</DATE_EFFET>"
        f"<DATE_FIN_ENREGISTREMENT>31/12/2030</DATE_FIN_ENREGISTREMENT>"
        f"<NOMENCLATURE_EUROPE><NIVEAU>NIV{3 + n % 5}</NIVEAU>"
        f"<INTITULE>Niveau {3 + n % 5}</INTITULE></NOMENCLATURE_EUROPE>"
        f"<CERTIFICATEURS><CERTIFICATEUR><SIRET_CERTIFICATEUR>1100000720001{n % 10}"
        f"</SIRET_CERTIFICATEUR><NOM_CERTIFICATEUR>MINISTERE DU TRAVAIL</NOM_CERTIFICATEUR>"
        f"</CERTIFICATEUR></CERTIFICATEURS>"
        f"<ACTIVITES_VISEES><![CDATA[{_PADDING * 12}]]></ACTIVITES_VISEES>"
        f"<CAPACITES_ATTESTEES><![CDATA[{_PADDING * 12}]]></CAPACITES_ATTESTEES>"
        f"<BLOCS_COMPETENCES>{''.join(blocs)}</BLOCS_COMPETENCES></FICHE>\n"
    )


def write_export(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<FICHES>\n')
        out.write("<VERSION_FLUX>4.1</VERSION_FLUX>\n")
        for n in range(1, count + 1):
            out.write(_fiche(n))
        out.write("</FICHES>\n")


_CHILD = """
import sys, time
from referentiels.importers.rncp_xml import iter_fiches
start = time.perf_counter()
count = competences = 0
for fiche in iter_fiches(sys.argv[1]):
    count += 1
    competences += sum(1 for _ in fiche.competences())
print(count, competences, time.perf_counter() - start)
"""


def bench_import(count: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "export_fiches_RNCP_V4_1_synthetique.xml"
        start = time.perf_counter()
        write_export(path, count)
        size_mb = path.stat().st_size / 1e6
        print(f"export synthétique : {count} fiches, {size_mb:.0f} Mo, écrit en "
              f"{time.perf_counter() - start:.1f} s")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)],
            capture_output=True, text=True, check=True, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if peak_kb < before:
            peak_kb = before
    fiches, competences, seconds = result.stdout.split()
    elapsed = float(seconds)
    peak_mb = peak_kb / 1024
    print(f"import RNCP : {fiches} fiches, {competences} compétences")
    print(f"import RNCP temps total : {elapsed:.1f} s")
    print(f"import RNCP temps par fiche : {elapsed / int(fiches) * 1000:.2f} ms")
    print(f"import RNCP pic mémoire (RSS) : {peak_mb:.0f} Mo (cible < {PEAK_TARGET_MB} Mo)")
    return peak_mb


def bench_shipped(runs: int) -> float:
    from referentiels import clear_cache, load_shipped

    timings = []
    for _ in range(runs):
        clear_cache()
        start = time.perf_counter()
        refs = load_shipped()
        timings.append((time.perf_counter() - start) * 1000)
    median = statistics.median(timings)
    print(f"référentiels livrés : {len(refs)} fichiers, "
          f"{sum(1 for r in refs for _ in r.competences())} compétences")
    print(f"chargement à froid des référentiels livrés (médiane de {runs}) : {median:.1f} ms "
          f"(cible < {SHIPPED_TARGET_MS} ms)")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fiches", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    peak = bench_import(args.fiches)
    median = bench_shipped(args.runs)
    ok = peak < PEAK_TARGET_MB and median < SHIPPED_TARGET_MS
    print("cibles tenues" if ok else "CIBLE MANQUÉE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
