"""Suggestion quality and speed: top-3 recall on the labelled task descriptions.

Run: python tests/bench/bench_suggest.py [--verbose]

`dev` is the half the synonyms table was tuned on; `heldout` was written afterwards and
never tuned on: its figure is the honest one.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from integration.parcours.suggest import suggest  # noqa: E402
from referentiels import Catalog  # noqa: E402

LABELLED = ROOT / "tests" / "fixtures" / "suggestions" / "labelled.json"
TOP = 3


@dataclass
class Result:
    split: str
    examples: int = 0
    recall_sum: float = 0.0
    hits: int = 0
    misses: list[tuple[str, str, list[str], list[str]]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.recall_sum / self.examples if self.examples else 0.0

    @property
    def hit_rate(self) -> float:
        return self.hits / self.examples if self.examples else 0.0


def load_examples() -> list[dict]:  # type: ignore[type-arg]
    return json.loads(LABELLED.read_text(encoding="utf-8"))["examples"]


def evaluate(catalog: Catalog | None = None) -> dict[str, Result]:
    """Top-3 recall per split: the share of expected compétences found in the first three."""
    catalog = catalog or Catalog.shipped()
    results: dict[str, Result] = {}
    for example in load_examples():
        refs = [catalog.get(*key.split("@", 1)) for key in example["referentiels"]]
        found = [s.item.address for s in suggest(refs, example["text"], limit=TOP)]
        expected = example["expected"]
        result = results.setdefault(example["split"], Result(example["split"]))
        got = len(set(expected) & set(found))
        result.examples += 1
        result.recall_sum += got / min(len(expected), TOP)
        result.hits += got > 0
        if got < min(len(expected), TOP):
            result.misses.append((example["id"], example["text"], expected, found))
    return results


def main() -> None:
    verbose = "--verbose" in sys.argv
    catalog = Catalog.shipped()
    started = time.perf_counter()
    results = evaluate(catalog)
    elapsed = time.perf_counter() - started
    total = sum(r.examples for r in results.values())
    for name in ("dev", "heldout"):
        r = results[name]
        print(f"{name:8s} {r.examples:3d} examples  recall@3 {r.recall:.3f}  "
              f"hit@3 {r.hit_rate:.3f}")
        if verbose:
            for ident, text, expected, found in r.misses:
                print(f"   miss {ident}: {text}")
                print(f"        expected {expected}\n        got      {found}")
    everything = sum(r.recall_sum for r in results.values()) / total
    print(f"all      {total:3d} examples  recall@3 {everything:.3f}")
    # Speed: one query against a warm index (what a page pays while the person types).
    refs = [catalog.get("TP-OP", "2003-09-11")]
    suggest(refs, "warm up")
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        suggest(refs, "je taille la haie et je ramasse les feuilles dans les allées du parc")
    per_query = (time.perf_counter() - t0) / n
    print(f"evaluation {elapsed * 1000:.0f} ms; one query {per_query * 1e6:.0f} µs (warm index)")


if __name__ == "__main__":
    main()
