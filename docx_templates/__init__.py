"""Word templates for the dossier de preuves, and the one function that fills them.

    from docx_templates import render, check_template, DEFAULT_TEMPLATE, sample_context

    docx_bytes = render(DEFAULT_TEMPLATE, context)   # context: context.DossierContext
    problems = check_template(uploaded_bytes)        # [] when the template is usable

Imports nothing of Repères: the service builds the context, this package only
knows Word.
"""

from pathlib import Path

from docx_templates.check import check_template
from docx_templates.context import DossierContext
from docx_templates.errors import TemplateError
from docx_templates.photos import reduce_photo
from docx_templates.render import render
from docx_templates.samples import sample_context

DEFAULT_TEMPLATE: Path = Path(__file__).with_name("dossier-de-preuves.docx")

__all__ = [
    "DEFAULT_TEMPLATE",
    "DossierContext",
    "TemplateError",
    "check_template",
    "reduce_photo",
    "render",
    "sample_context",
]
