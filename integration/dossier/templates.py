"""Which Word template a dossier uses, and checking a structure's own template in a child process
with a time and memory limit (a hostile template can loop)."""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from docx_templates import DEFAULT_TEMPLATE, TemplateError, render
from docx_templates.context import (
    DossierContext,
)

from ..models import (
    DossierTemplate,
    Platform,
    utcnow,
)

log = logging.getLogger(__name__)



CHECK_TIMEOUT = 60.0  # seconds for checking an uploaded template
CHECK_MEMORY = 1024 * 1024 * 1024  # bytes of address space for that check
# --- templates ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChosenTemplate:
    name: str  # what Dossier.template records
    data: bytes
    custom: bool


def _template_label(kind: str, name: str, data: bytes) -> str:
    return f"{kind} : {name} · {hashlib.sha256(data).hexdigest()[:12]}"[:300]


def default_template() -> ChosenTemplate:
    data = DEFAULT_TEMPLATE.read_bytes()
    return ChosenTemplate(_template_label("modèle Repères", DEFAULT_TEMPLATE.name, data), data,
                          custom=False)


def choose_template(session: Session, platform_id: int, configured: Path | None) -> ChosenTemplate:
    """The platform's own template, else the server's (REPERES_DOSSIER_TEMPLATE), else ours."""
    own = session.scalar(select(DossierTemplate).where(DossierTemplate.platform_id == platform_id))
    if own is not None:
        return ChosenTemplate(_template_label("modèle de la structure", own.name, own.content),
                              own.content, custom=True)
    if configured is not None:
        try:
            data = Path(configured).read_bytes()
        except OSError as error:
            log.error("REPERES_DOSSIER_TEMPLATE %s unreadable (%s): default template used",
                      configured, error.strerror)
        else:
            return ChosenTemplate(_template_label("modèle du serveur", Path(configured).name, data),
                                  data, custom=True)
    return default_template()


def render_with(template: ChosenTemplate, context: DossierContext) -> tuple[bytes, str]:
    """(docx bytes, template name). A structure's template that fails falls back to ours,
    so that a candidat always gets a dossier; the failure is logged for the coordinateur."""
    try:
        return render(template.data, context), template.name
    except TemplateError as error:
        if not template.custom:
            raise
        log.error("dossier template %r failed (%s): default template used", template.name, error)
        fallback = default_template()
        return render(fallback.data, context), f"{fallback.name} (le modèle de la structure " \
            f"n’a pas marché)"[:300]


_CHECK_SCRIPT = """
import json, resource, sys
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from docx_templates import check_template
print(json.dumps(check_template(sys.stdin.buffer.read())))
"""


def check_template_isolated(
    data: bytes, *, timeout: float = CHECK_TIMEOUT, memory: int = CHECK_MEMORY
) -> list[str]:
    """`docx_templates.check_template` in a child process with a time and memory limit.

    A hostile template (a loop without end, a bomb of pictures) is refused with a message
    instead of holding a worker.
    """
    root = Path(__file__).resolve().parents[1]
    try:
        result = subprocess.run(
            [sys.executable, "-c", _CHECK_SCRIPT, str(memory)],
            input=bytes(data),
            capture_output=True,
            timeout=timeout,
            cwd=root,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [
            f"Le modèle met plus de {timeout:g} secondes à se remplir avec un dossier "
            "d’exemple : une boucle sans fin ? Vérifiez les balises {% for %} et {%p for %}."
        ]
    if result.returncode != 0:
        tail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-1:]
        log.warning("template check failed in its process: %s", tail)
        if "MemoryError" in " ".join(tail):
            return ["Le modèle demande trop de mémoire pour être rempli. "
                    "Vérifiez les boucles et la taille des images."]
        return ["Le modèle n’a pas pu être vérifié : le fichier est peut-être abîmé."]
    try:
        problems = json.loads(result.stdout.decode("utf-8").strip().splitlines()[-1])
    except (ValueError, IndexError):
        return ["Le modèle n’a pas pu être vérifié : le fichier est peut-être abîmé."]
    return [str(p) for p in problems]


def set_platform_template(
    session: Session, platform_id: int, data: bytes, name: str, *,
    timeout: float = CHECK_TIMEOUT,
) -> list[str]:
    """Check a structure's template and keep it for its platform; the problems otherwise."""
    if session.get(Platform, platform_id) is None:
        return [f"La plateforme {platform_id} n’existe pas."]
    problems = check_template_isolated(data, timeout=timeout)
    if problems:
        return problems
    row = session.scalar(select(DossierTemplate).where(DossierTemplate.platform_id == platform_id))
    if row is None:
        row = DossierTemplate(platform_id=platform_id)
        session.add(row)
    row.name = (Path(name).name or "modele.docx")[:255]
    row.content = bytes(data)
    row.checksum = hashlib.sha256(data).hexdigest()
    row.size = len(data)
    row.uploaded_at = utcnow()
    session.flush()
    return []


def clear_platform_template(session: Session, platform_id: int) -> bool:
    """Go back to the default template for this platform. False when it had none."""
    row = session.scalar(select(DossierTemplate).where(DossierTemplate.platform_id == platform_id))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


