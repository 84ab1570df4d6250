"""Suggestions: from a task in the person's words, the most likely compétences.

A small BM25 index over every taggable item of the chosen référentiel(s): the official
wording and the plain (FALC) one, the bloc's words with less weight. Words are folded
(lowercase, no accents), stop words dropped, stemmed (Snowball, French), and each stem
also indexed by its first five letters, which catches what the stemmer splits
(« nettoie » / « nettoyage »). A table of workers' words (« serpillière », « plonge »,
« fringues ») adds the words référentiels use. Building an index takes a millisecond;
indexes are kept per set of référentiels.
"""

from __future__ import annotations

import math
import re
import threading
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import snowballstemmer

from referentiels import Referentiel

from .items import Item, items_of
from .synonyms import PHRASES, SYNONYMS

K1 = 1.2
B = 0.5
PREFIX = 5
PREFIX_WEIGHT = 0.4
SYNONYM_WEIGHT = 0.8
FIELD_WEIGHTS = (("intitule", 1.0), ("falc", 1.0), ("bloc_intitule", 0.35), ("bloc_falc", 0.35))

_stemmer = snowballstemmer.stemmer("french")
_stem_lock = threading.Lock()
_WORD = re.compile(r"[a-z0-9]+")

_STOP_TEXT = """
    a ai aie aient aies ait al alors as au aucun aussi autre aux avaient avais avait avant
    avec avez avoir avons ayant bien c ca car ce cela celle celles celui ces cet cette ceux
    chaque chez ci comme comment d dans de des deja depuis donc dont du elle elles en encore
    entre es est et etaient etais etait ete etre eu eux fait faire fais faisons font fois
    il ils j je jusqu l la le les leur leurs lui m ma mais me meme mes moi mon n ne ni nos
    notre nous on ont ou par pas pendant peu peut plus pour pourquoi puis qu quand que quel
    quelle quelles quels qui quoi s sa sans se ses si sien soi soit son sont sous suis sur t
    ta te tes toi ton tous tout toute toutes tres tu un une unes uns va vais vas vers via
    voila vos votre vous y
    mets met mettre mis mise mettons
    aussi ensuite apres bien beaucoup souvent toujours parfois jour jours matin matins soir
    semaine midi fin chose choses truc trucs ca
    realiser realise effectuer effectue assurer assure participer participe operations
    operation cadre selon relatives relatif vue ensemble lors bon bonne bons bonnes
"""
STOP_WORDS = frozenset(_STOP_TEXT.split())


def fold(text: str) -> str:
    """Lowercase, without accents; œ and æ spelled out; apostrophes become spaces."""
    text = text.lower().replace("œ", "oe").replace("æ", "ae")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=50_000)
def _stem(word: str) -> str:
    with _stem_lock:  # the Snowball stemmer object is not thread-safe
        return str(_stemmer.stemWord(word))


def words(text: str) -> list[str]:
    """The meaningful words of a text, folded, stop words left out."""
    return [w for w in _WORD.findall(fold(text)) if w not in STOP_WORDS and len(w) > 1]


Features = defaultdict[str, float]


def _features(word_list: Iterable[str], weight: float, into: Features) -> None:
    for word in word_list:
        stem = _stem(word)
        into["s:" + stem] += weight
        if len(stem) >= 4:
            into["p:" + stem[:PREFIX]] += weight * PREFIX_WEIGHT


def query_features(text: str) -> Features:
    """Features of a task's words, with the référentiel words its workers' words stand for."""
    folded = " " + " ".join(_WORD.findall(fold(text))) + " "
    found: Features = defaultdict(float)
    plain = words(text)
    _features(plain, 1.0, found)
    extra: list[str] = []
    for phrase, meaning in PHRASES.items():
        if f" {phrase} " in folded:
            extra.extend(words(meaning))
    for word in plain:
        said = SYNONYMS.get(word)
        if said:
            extra.extend(words(said))
    _features(extra, SYNONYM_WEIGHT, found)
    return found


def _item_features(item: Item) -> tuple[Features, set[str]]:
    """(weighted features of every field, features of the item's own wording)."""
    found: Features = defaultdict(float)
    own: set[str] = set()
    for name, weight in FIELD_WEIGHTS:
        value = getattr(item, name) or ""
        field: Features = defaultdict(float)
        _features(words(value), weight, field)
        for key, amount in field.items():
            found[key] += amount
        if not name.startswith("bloc_"):
            own.update(field)
    return found, own


@dataclass(frozen=True)
class Suggestion:
    item: Item
    score: float


class Index:
    """BM25 over the taggable items of some référentiels."""

    def __init__(self, referentiels: Sequence[Referentiel]) -> None:
        self.items: list[Item] = [i for ref in referentiels for i in items_of(ref)]
        built = [_item_features(i) for i in self.items]
        self.docs = [doc for doc, _ in built]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg = (sum(self.lengths) / len(self.lengths)) if self.docs else 1.0
        # Rarity counts the items' own wordings: a bloc's words, shared by all its items,
        # would otherwise make every word of the bloc look common.
        df_own: Counter[str] = Counter()
        df_all: Counter[str] = Counter()
        for doc, own in built:
            df_own.update(own)
            df_all.update(doc.keys())
        n = len(self.docs)
        self.idf = {
            t: math.log(1 + (n - f + 0.5) / (f + 0.5))
            for t, f in ((t, df_own.get(t) or df_all[t]) for t in df_all)
        }

    def search(self, text: str, limit: int = 5) -> list[Suggestion]:
        query = query_features(text)
        scored: list[Suggestion] = []
        for item, doc, length in zip(self.items, self.docs, self.lengths, strict=True):
            score = 0.0
            norm = K1 * (1 - B + B * length / self.avg)
            for term, q_weight in query.items():
                tf = doc.get(term)
                if tf:
                    score += q_weight * self.idf[term] * tf * (K1 + 1) / (tf + norm)
            if score > 0:
                scored.append(Suggestion(item, round(score, 3)))
        scored.sort(key=lambda s: -s.score)
        return scored[:limit]


_cache_lock = threading.Lock()
_indexes: dict[tuple[tuple[str, str], ...], tuple[tuple[Referentiel, ...], Index]] = {}


def index_for(referentiels: Sequence[Referentiel]) -> Index:
    """The index of these référentiels, built once per process."""
    key = tuple(ref.key for ref in referentiels)
    with _cache_lock:
        held = _indexes.get(key)
    if held is not None and all(a is b for a, b in zip(held[0], referentiels, strict=True)):
        return held[1]
    index = Index(referentiels)
    with _cache_lock:
        if len(_indexes) > 64:
            _indexes.clear()
        _indexes[key] = (tuple(referentiels), index)
    return index


def suggest(referentiels: Sequence[Referentiel], text: str, limit: int = 5) -> list[Suggestion]:
    """The `limit` most likely compétences for `text`, best first (empty if nothing matches)."""
    if not referentiels or not text.strip():
        return []
    return index_for(referentiels).search(text, limit)
