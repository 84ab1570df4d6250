"""The one exception of docx_templates."""


class TemplateError(Exception):
    """A template cannot be read or filled; the message says why, in French, for a person."""
