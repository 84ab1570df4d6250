"""`reperes referentiels …`: list, show, validate, import and export compétence frameworks."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from referentiels import Catalog, Referentiel, ReferentielError, load, load_shipped
from referentiels.importers import FORMATS, export_file, guess_format, import_file
from referentiels.importers.rncp_xml import iter_fiches
from referentiels.validate import to_data

from ..db import transaction
from . import CliContext, pass_ctx
from .progress import Progress, progress_option

group = click.Group("referentiels", help="The compétence frameworks (shipped and imported).")


def _catalog(cli: CliContext) -> Catalog:
    """Shipped and imported référentiels; shipped only (with a warning) before `db upgrade`."""
    from ..db import DatabaseNotReady, check_ready
    from ..parcours.catalog import EVERY_PLATFORM, load_catalog

    try:
        check_ready(cli.runtime.engine)
    except DatabaseNotReady as error:
        click.echo(f"warning: {error}; showing the shipped référentiels only", err=True)
        return Catalog(load_shipped())
    with transaction(cli.runtime.sessions) as session:
        return load_catalog(session, platform_id=EVERY_PLATFORM)


def _fail(error: ReferentielError) -> None:
    click.echo(str(error), err=True)
    sys.exit(2)


@group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the canonical documents.")
@pass_ctx
def list_(cli: CliContext, as_json: bool) -> None:
    """Every référentiel with its version, status, échéance, successors, completeness, source.

    `--json`: each canonical document plus `lifecycle` (status « en_vigueur »,
    « historique » or « expire », échéance, active, successors, expired) and
    `completeness` (complete, missing, complete_blocs).
    """
    from ..pages.referentiel_status import states_of

    refs = sorted(_catalog(cli).all(), key=lambda r: (r.id, r.version))
    states = states_of(refs)
    if as_json:
        listed = []
        for ref in refs:
            state = states[f"{ref.id}@{ref.version}"]
            life, whole = state.lifecycle, state.completeness
            listed.append({
                **to_data(ref),
                "lifecycle": {
                    "status": life.status, "echeance": life.echeance, "active": life.active,
                    "successors": list(life.successors), "expired": life.expired,
                },
                "completeness": {
                    "complete": whole.complete, "missing": list(whole.missing),
                    "complete_blocs": list(whole.complete_blocs),
                },
            })
        click.echo(json.dumps(listed, ensure_ascii=False, indent=1))
        return
    for ref in refs:
        state = states[f"{ref.id}@{ref.version}"]
        status = "en vigueur" if ref.status == "en_vigueur" else "historique"
        source = ref.provenance.sources[0] if ref.provenance.sources else "source inconnue"
        rncp = ref.rncp or "-"
        click.echo(f"{ref.id}@{ref.version}\t{status}\t{rncp}\t{ref.intitule}")
        click.echo(f"\t{state.completeness.label}")
        for line in state.completeness.missing:
            click.echo(f"\t  manque : {line}")
        if state.expiry:
            click.echo(f"\t{state.expiry}")
        if state.lifecycle.echeance and not state.expiry:
            click.echo(f"\téchéance : {state.lifecycle.echeance}")
        if state.lifecycle.successors:
            click.echo(f"\tsuccesseur(s) : {', '.join(state.lifecycle.successors)}")
        click.echo(f"\tsource : {source}")


@group.command()
@click.argument("ref_id")
@click.option("--version", default=None, help="A version; the latest in force otherwise.")
@click.option("--json", "as_json", is_flag=True, help="Print the canonical document.")
@pass_ctx
def show(cli: CliContext, ref_id: str, version: str | None, as_json: bool) -> None:
    """Blocs and compétences, official wording and plain words."""
    from ..parcours.catalog import resolve

    try:
        ref = resolve(_catalog(cli), ref_id, version)
    except ReferentielError as error:
        _fail(error)
        return
    if as_json:
        click.echo(json.dumps(to_data(ref), ensure_ascii=False, indent=1))
        return
    _print_referentiel(ref)


def _print_referentiel(ref: Referentiel) -> None:
    status = "en vigueur" if ref.status == "en_vigueur" else "HISTORIQUE"
    click.echo(f"{ref.intitule}")
    click.echo(f"  id {ref.id}  version {ref.version}  ({status})")
    if ref.rncp:
        click.echo(f"  {ref.rncp}  {ref.niveau}")
    click.echo(f"  certificateur : {ref.certificateur}")
    for source in ref.provenance.sources:
        click.echo(f"  source : {source}")
    if not ref.provenance.complete:
        click.echo("  attention : texte incomplet dans les sources consultées")
    for bloc in ref.blocs:
        click.echo("")
        click.echo(f"{bloc.code}  {bloc.intitule}")
        if bloc.falc:
            click.echo(f"    en mots simples : {bloc.falc}")
        if not bloc.competences:
            click.echo("    (compétences non connues dans les sources)")
        for comp in bloc.competences:
            click.echo(f"  {comp.code}  {comp.intitule}")
            if comp.falc:
                click.echo(f"      en mots simples : {comp.falc}")


@group.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
def validate(paths: tuple[str, ...]) -> None:
    """Check canonical référentiel files; every problem is listed with its place."""
    failed = False
    for path in paths:
        try:
            ref = load(path)
        except ReferentielError as error:
            failed = True
            click.echo(str(error), err=True)
            continue
        click.echo(f"{path}: ok ({ref.id}@{ref.version}, {len(ref.competences())} compétences)")
    if failed:
        sys.exit(2)


@group.command("import")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
              help="Guessed from the extension when omitted.")
@click.option("--fiche", multiple=True, help="RNCP number(s) to import (rncp-xml only).")
@click.option("--encoding", default=None, help="Force the file's encoding (rncp-xml only).")
@click.option("--dry-run", is_flag=True, help="Read and check, store nothing.")
@progress_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def import_(
    cli: CliContext,
    fmt: str | None,
    fiche: tuple[str, ...],
    encoding: str | None,
    dry_run: bool,
    progress: bool | None,
    file: str,
) -> None:
    """Import référentiels into the database, all or nothing; every instance then sees them."""
    from contextlib import ExitStack

    from referentiels.importers.rncp_export import open_export

    from ..db import DatabaseNotReady, check_ready
    from ..parcours.catalog import import_referentiels

    try:
        check_ready(cli.runtime.engine)
    except DatabaseNotReady as error:
        raise click.ClickException(str(error)) from None
    shown = Progress(progress)
    try:
        with ExitStack() as opened:
            fmt = fmt or guess_format(file)
            if fmt == "rncp-xml" and not fiche:
                # A whole national export: stream it, never hold it in memory; the bytes
                # read give the share done.
                stream, _ = opened.enter_context(open_export(file, shown.bytes_read))
                refs: Iterator[Referentiel] = iter_fiches(stream, None, encoding=encoding)
            else:
                refs = iter(import_file(file, fmt, list(fiche) or None, encoding=encoding))
            if fiche:
                listed = list(refs)
                missing = sorted(
                    set(_norm(f) for f in fiche) - {_norm(r.rncp or "") for r in listed})
                if missing:
                    raise ReferentielError(
                        f"fiche(s) absente(s) du fichier : {', '.join(missing)}")
                refs = iter(listed)
            with transaction(cli.runtime.sessions) as session:
                added, unchanged = import_referentiels(session, refs, fmt)
                if dry_run:
                    session.rollback()
    except ReferentielError as error:
        shown.end()
        _fail(error)
        return
    shown.end()
    verb = "would add" if dry_run else "added"
    click.echo(f"{verb} {added} référentiel(s); {unchanged} already present "
               f"({shown.elapsed:.1f} s)")


def _norm(numero: str) -> str:
    digits = "".join(ch for ch in numero if ch.isdigit())
    return f"RNCP{digits}" if digits else numero


@group.command()
@click.option("--format", "fmt", type=click.Choice(["moodle-csv", "reperes-json"]),
              default="moodle-csv", show_default=True)
@click.option("--version", default=None)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="A file; standard output otherwise.")
@click.argument("ref_id")
@pass_ctx
def export(cli: CliContext, fmt: str, version: str | None, out: str | None, ref_id: str) -> None:
    """Export a référentiel, e.g. as a Moodle competency framework CSV."""
    from ..parcours.catalog import resolve

    try:
        ref = resolve(_catalog(cli), ref_id, version)
    except ReferentielError as error:
        _fail(error)
        return
    text = export_file(ref, fmt)
    if out:
        Path(out).write_text(text, encoding="utf-8", newline="")
        click.echo(f"written {out}")
    else:
        click.echo(text, nl=False)


@group.command()
@click.option("--fiche", multiple=True, help="RNCP number(s) to update besides those in use.")
@progress_option
@click.option("--dry-run", is_flag=True, help="Read and compare, store nothing.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@pass_ctx
def update(cli: CliContext, fiche: tuple[str, ...], progress: bool | None, dry_run: bool,
           file: str) -> None:
    """Refresh from the national RNCP export (the .zip as published, or its .xml).

    Reads it as it streams by and updates the fiches in use (shipped référentiels, the
    operator's imports, those of any parcours, tag or course) and those named with
    --fiche, with the fiches named as their successors; records what changed (new version,
    wordings changed, no longer delivered, successors) and prints a summary.
    """
    from referentiels.importers.rncp_export import open_export
    from referentiels.importers.rncp_xml import scan_fiches

    from ..db import DatabaseNotReady, check_ready
    from ..parcours.catalog import EVERY_PLATFORM, load_catalog
    from ..parcours.rncp_update import fiches_in_use, update_from_export

    try:
        check_ready(cli.runtime.engine)
    except DatabaseNotReady as error:
        raise click.ClickException(str(error)) from None
    shown = Progress(progress)
    try:
        with transaction(cli.runtime.sessions) as session:
            catalog = load_catalog(session, platform_id=EVERY_PLATFORM, fresh=True)
            wanted = fiches_in_use(session, catalog) | {_norm(f) for f in fiche}
            with open_export(file, shown.bytes_read) as (stream, opened):
                report = update_from_export(
                    session, scan_fiches(stream, sorted(wanted)), wanted, opened.name)
                read = stream.read_bytes
            if dry_run:
                session.rollback()
    except ReferentielError as error:
        shown.end()
        _fail(error)
        return
    shown.end()
    member = f" ({opened.member})" if opened.member else ""
    click.echo(f"export {opened.name}{member} : {read / 1024 / 1024:.1f} Mo lus, "
               f"{len(wanted)} fiche(s) cherchée(s)")
    for change in report.changes:
        click.echo(f"  {change.words()}")
    if report.absent:
        click.echo(f"  absente(s) de l'export : {', '.join(report.absent)}")
    verb = "à ajouter (essai)" if dry_run else "ajoutée(s)"
    click.echo(f"{report.count('ajoute') + report.count('nouvelle_version')} fiche(s) {verb}, "
               f"{report.count('inchange')} inchangée(s), {report.count('refuse')} refusée(s)")
    if report.count("refuse"):
        sys.exit(1)
