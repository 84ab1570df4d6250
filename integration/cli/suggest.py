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


@click.command("suggest")
@click.option("--referentiel", "referentiels", multiple=True, required=True,
              metavar="ID[@VERSION]", help="Référentiel to search (repeat for several).")
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 20))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.argument("text", nargs=-1, required=True)
@click.pass_obj
def command(cli: object, referentiels: tuple[str, ...], limit: int, as_json: bool,
            text: tuple[str, ...]) -> None:
    """Propose the compétences TEXT (a task in the person's words) points to."""
    catalog = _catalog(cli)
    try:
        refs = [resolve(catalog, r) for r in referentiels]
    except ReferentielError as error:
        raise click.ClickException(str(error)) from None
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
