"""`reperes referentiels …` (filled once the référentiels library lands)."""

from __future__ import annotations

import click

group = click.Group("referentiels", help="The compétence frameworks.")
