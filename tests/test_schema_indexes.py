"""Every foreign key has an index that starts with it: a delete or a lookup never scans."""

from __future__ import annotations

from sqlalchemy import PrimaryKeyConstraint, Table, UniqueConstraint

import integration.lti.models  # noqa: F401  (registers the LTI tables)
import integration.models  # noqa: F401  (registers the tables)
from integration.db import Base


def _leading_columns(table: Table) -> set[str]:
    firsts = {next(iter(index.columns)).name for index in table.indexes if index.columns}
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint) and constraint.columns:
            firsts.add(next(iter(constraint.columns)).name)
    return firsts


def test_every_foreign_key_has_an_index() -> None:
    missing = [
        f"{table.name}.{fk.parent.name} -> {fk.target_fullname}"
        for table in Base.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.parent.name not in _leading_columns(table)
    ]
    assert missing == []
