"""The référentiels shipped with Repères, and a catalog that holds them with added ones."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from importlib import resources

from referentiels.errors import Problem, ReferentielError
from referentiels.model import Competence, Referentiel, parse_address, version_order
from referentiels.validate import loads


@functools.lru_cache(maxsize=1)
def _shipped() -> tuple[Referentiel, ...]:
    data = resources.files("referentiels") / "data"
    found: list[Referentiel] = []
    problems: list[Problem] = []
    for entry in sorted(data.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        try:
            found.append(loads(entry.read_bytes(), source=entry.name))
        except ReferentielError as error:
            problems.extend(error.problems)
    if problems:
        raise ReferentielError(problems=problems)
    return tuple(found)


def load_shipped() -> list[Referentiel]:
    """Every référentiel of `referentiels/data/`, read once per process."""
    return list(_shipped())


def clear_cache() -> None:
    """Forget the shipped référentiels read so far (for tests and benchmarks)."""
    _shipped.cache_clear()


class Catalog:
    """Several référentiels, each in one or more versions.

    A (id, version) pair always names the same content: adding a different
    référentiel under a key already held is refused, adding the same one again
    does nothing.
    """

    def __init__(self, referentiels: Iterable[Referentiel] = ()) -> None:
        self._by_key: dict[tuple[str, str], Referentiel] = {}
        for ref in referentiels:
            self.add(ref)

    @classmethod
    def shipped(cls) -> Catalog:
        """A catalog holding the shipped référentiels."""
        return cls(_shipped())

    def add(self, ref: Referentiel) -> None:
        """Hold `ref`; `ReferentielError` if another content already has its key."""
        held = self._by_key.get(ref.key)
        if held is not None and held != ref:
            raise ReferentielError(
                f"le référentiel {ref.id}@{ref.version} existe déjà avec un autre contenu : "
                "donnez une nouvelle version au texte modifié"
            )
        self._by_key[ref.key] = ref

    def versions(self, ref_id: str) -> list[str]:
        """The versions held for `ref_id`, oldest first."""
        found = [version for (i, version) in self._by_key if i == ref_id]
        return sorted(found, key=version_order)

    def get(self, ref_id: str, version: str | None = None) -> Referentiel:
        """One référentiel; without `version`, the latest in force, else the latest.

        `ReferentielError` when it is not held.
        """
        if version is not None:
            try:
                return self._by_key[(ref_id, version)]
            except KeyError:
                raise ReferentielError(
                    f"référentiel inconnu : {ref_id}@{version}"
                    + self._known_versions_hint(ref_id)
                ) from None
        refs = [self._by_key[(ref_id, v)] for v in self.versions(ref_id)]
        if not refs:
            raise ReferentielError(f"référentiel inconnu : {ref_id}")
        in_force = [r for r in refs if r.status == "en_vigueur"]
        return (in_force or refs)[-1]

    def _known_versions_hint(self, ref_id: str) -> str:
        versions = self.versions(ref_id)
        return f" (versions connues : {', '.join(versions)})" if versions else ""

    def find(self, ref_id: str, version: str | None = None) -> Referentiel | None:
        """Like `get`, but None when it is not held."""
        try:
            return self.get(ref_id, version)
        except ReferentielError:
            return None

    def competence(self, address: str) -> Competence:
        """The compétence at ``id@version#code``."""
        parsed = parse_address(address)
        return self.get(parsed.id, parsed.version).competence(parsed.code)

    def ids(self) -> list[str]:
        return sorted({ref_id for (ref_id, _) in self._by_key})

    def all(self) -> list[Referentiel]:
        """Every référentiel held, by id then version (oldest first)."""
        return [self._by_key[(i, v)] for i in self.ids() for v in self.versions(i)]

    def __iter__(self) -> Iterator[Referentiel]:
        return iter(self.all())

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key
