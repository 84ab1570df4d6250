"""Alembic environment: the engine comes from Repères, never from an ini file."""

from __future__ import annotations

from alembic import context

from integration import models  # noqa: F401  (registers every table)
from integration.db import Base
from integration.lti import models as lti_models  # noqa: F401  (LTI-internal tables)

config = context.config


def _render_item(type_: str, obj: object, autogen_context: object) -> str | bool:
    # Migrations must not import our model code: TZDateTime is a timezone DateTime.
    if type_ == "type" and isinstance(obj, models.TZDateTime):
        return "sa.DateTime(timezone=True)"
    return False


engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
