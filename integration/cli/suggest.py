"""`reperes suggest`: the compétences a text points to, with their scores."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import click

from referentiels import Catalog, ReferentielError

from ..parcours.catalog import resolve
from ..parcours.suggest import suggest

log = logging.getLogger(__name__)


def _catalog(cli: object) -> Catalog:
    """The database's catalog (shipped and imported), else the shipped référentiels only."""
    from sqlalchemy.exc import SQLAlchemyError

    from ..db import transaction
    from ..parcours.catalog import EVERY_PLATFORM, load_catalog

    settings = cli.settings  # type: ignore[attr-defined]
    url: str = settings.database_url
    if url.startswith("sqlite") and not Path(url.split("///", 1)[-1]).is_file():
        return Catalog.shipped()  # no database here: do not create one for a question
    try:
        with transaction(cli.runtime.sessions) as session:  # type: ignore[attr-defined]
            return load_catalog(session, platform_id=EVERY_PLATFORM)
    except SQLAlchemyError as error:
        log.debug("database not usable (%s): shipped référentiels only", type(error).__name__)
        return Catalog.shipped()


def _parcours_versions(cli: object, parcours_id: int) -> list[str]:
    """"id@version" of each référentiel the parcours uses (the version it was tagged
    against, never a newer one)."""
    from sqlalchemy import select

    from ..db import transaction
    from ..models import ParcoursReferentiel

    with transaction(cli.runtime.sessions) as session:  # type: ignore[attr-defined]
        rows = session.execute(
            select(ParcoursReferentiel.referentiel_id, ParcoursReferentiel.referentiel_version)
            .where(ParcoursReferentiel.parcours_id == parcours_id)
            .order_by(ParcoursReferentiel.id)).all()
    if not rows:
        raise click.ClickException(f"parcours {parcours_id}: not found or no référentiel chosen")
    return [f"{ref_id}@{version}" for ref_id, version in rows]


@click.command("suggest")
@click.option("--referentiel", "referentiels", multiple=True,
              metavar="ID[@VERSION]", help="Référentiel to search (repeat for several); "
              "without @VERSION, the latest in force.")
@click.option("--parcours", "parcours_id", type=int, default=None,
              help="Search the référentiels of this parcours, in the versions it uses.")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 20))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("text", nargs=-1, required=True)
@click.pass_obj
def command(cli: object, referentiels: tuple[str, ...], parcours_id: int | None, limit: int,
            as_json: bool, text: tuple[str, ...]) -> None:
    """Propose the compétences TEXT (a task in the person's words) points to.

    Only the version searched is looked at: a parcours' (--parcours), or the one named.
    """
    if not referentiels and parcours_id is None:
        raise click.UsageError("give --referentiel ID[@VERSION] or --parcours N")
    catalog = _catalog(cli)
    wanted = list(referentiels)
    if parcours_id is not None:
        wanted += _parcours_versions(cli, parcours_id)
    try:
        refs = [resolve(catalog, r) for r in wanted]
    except ReferentielError as error:
        raise click.ClickException(str(error)) from None
    from referentiels.completeness import completeness

    for ref in refs:
        whole = completeness(ref)
        if not whole.complete:
            click.echo(f"warning: {ref.id}@{ref.version} is incomplete ({whole.label}: "
                       f"{'; '.join(whole.missing)})", err=True)
    words = " ".join(text)
    found = suggest(refs, words, limit)
    if as_json:
        click.echo(json.dumps(
            {"text": words,
             "referentiels": [f"{r.id}@{r.version}" for r in refs],
             "suggestions": [
                 {"address": s.item.address, "code": s.item.code, "score": s.score,
                  "intitule": s.item.intitule, "falc": s.item.falc}
                 for s in found
             ]},
            ensure_ascii=False, indent=2,
        ))
        return
    if not found:
        click.echo("Aucune compétence proposée pour ce texte.")
        return
    for s in found:
        click.echo(f"{s.score:7.3f}  {s.item.address}  {s.item.intitule}")
