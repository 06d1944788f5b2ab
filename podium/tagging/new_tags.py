"""Candidate new tags: talks no tag fits, clustered, each cluster named from its key phrases.

A talk with no confident tag (no score above its threshold, no speaker or organiser tag) is a
hint that the vocabulary lacks a word. Podium groups such talks by their embeddings and
proposes a name for each group; the organiser's queue (the `review-tags` form) offers it, and
the vocabulary changes only when an organiser accepts it (`podium.use_cases.tag_suggestions`).

How a group is named (BERTopic's c-TF-IDF for candidates, KeyBERT's ranking to choose):

1. candidate phrases are the words and two-word phrases of the group's talks (no stop words,
   no numbers), scored by class-based TF-IDF: the share of the group's talks using the phrase
   times `log(1 + N / df)` over a background of N talks (the event, or every talk given), so
   a phrase every talk uses (`python`, `talk`) scores low, and a phrase used by more than
   `max_background_share` (25 %) of the background talks outside the group is no candidate
   at all (it names no subset); URLs, numbers and the boilerplate of abstracts are skipped;
2. the best `rerank` of them are embedded with the tagger's encoder and ranked by cosine to
   the group's centroid, with maximal marginal relevance for the runners-up;
3. phrases that already name a vocabulary tag (a name or a synonym) are left out: the point
   is a word the vocabulary lacks.

Clustering is average-linkage agglomerative on cosine distance (`scipy`), cut at
`max_distance`, groups of at least `min_size` talks. Measured on a held-out-vocabulary split
of pyvideo (`bench/tag_suggestions.py`, docs/tagging.md).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from podium.models import Vocabulary, normalise_tag

#: Average-linkage cosine distance at which clusters are cut, and their smallest size.
DEFAULT_MAX_DISTANCE = 0.55
DEFAULT_MIN_SIZE = 3
#: A phrase in more than this share of the background talks names no subset of them.
DEFAULT_MAX_BACKGROUND_SHARE = 0.25

_URL = re.compile(r"(?:https?://|www\.)\S+|\S+\.(?:com|org|io|net)\b\S*", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W\d_][\w+#]*(?:[.-][\w+#]+)*", re.UNICODE)

# English function words and the boilerplate of talk abstracts, plus the commonest function
# words of the other languages in pyvideo (Italian, Spanish, Portuguese); none can name a tag.
STOP_WORDS = frozenset(
    """
a about above after again against all also am an and any are aren as at be because been before
being below between both but by can cannot could did do does doing don down during each few for
from further get gets getting go going had has have having he her here hers him his how i if in
into is it its itself just let like ll me more most much my need no nor not now of off often on
once only or other our ours out over own re really s same she should so some such t than that
the their theirs them then there these they this those through to too under until up us ve very
was we were what when where which while who whom why will with within without would you your
yours one two three first second new many way ways make makes made use used uses using well
talk talks presentation session sessions speaker speakers tutorial workshop keynote lightning
audience attendees show shows will going look looking see discuss
discussed cover covers covered give gives introduction introduce introduces intro overview part
example examples thing things people time lot even still around based different help helps
want know better best good great just able year years day days start started world including
things different via etc e g i.e e.g presented schedule available slides video
january february march april june july august september october november december
di il la le lo gli e ed per con un una uno del della dei delle che non come più su da al alla
nel nella sono questo questa talk de el los las que en y para por con del se una unos como más
al lo es su sus o da do dos das em um uma os as no na com pelo pela ao
""".split()
)


@dataclass(frozen=True)
class TagSuggestion:
    """A candidate tag: a name, its runner-up phrases and the talks it would go on."""

    name: str
    phrases: tuple[str, ...]
    talk_ids: tuple[str, ...]
    cohesion: float  # mean cosine of the talks to their centroid

    def label(self) -> str:
        others = ", ".join(self.phrases[1:4])
        return f"new tag {self.name!r} for {len(self.talk_ids)} talks" + (
            f" (also: {others})" if others else ""
        )


def tokens(text: str) -> list[str]:
    """Words of a text, NFKC and case-folded (a word may hold + # . - inside: c++, scikit-learn)."""
    return _TOKEN.findall(_URL.sub(" ", unicodedata.normalize("NFKC", text).casefold()))


def phrases(text: str) -> set[str]:
    """The candidate phrases of a text: its content words and two-word phrases of them."""
    words = tokens(text)
    out: set[str] = set()
    for i, w in enumerate(words):
        if w in STOP_WORDS or len(w) < 2:
            continue
        out.add(w)
        if i + 1 < len(words):
            nxt = words[i + 1]
            if nxt not in STOP_WORDS and len(nxt) >= 2:
                out.add(f"{w} {nxt}")
    return out


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def term_key(phrase: str) -> str:
    """A phrase compared plural-blind: `data pipelines` and `data pipeline` are one term."""
    return " ".join(_singular(w) for w in normalise_tag(phrase).split())


def clusters(
    vectors: np.ndarray,
    *,
    max_distance: float = DEFAULT_MAX_DISTANCE,
    min_size: int = DEFAULT_MIN_SIZE,
) -> list[np.ndarray]:
    """Row indices of each cluster of at least `min_size`, largest first."""
    n = len(vectors)
    if n < max(2, min_size):
        return []
    from scipy.cluster.hierarchy import fcluster, linkage

    vecs = np.asarray(vectors, dtype=np.float64)
    vecs = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    tree = linkage(vecs, method="average", metric="cosine")
    labels = fcluster(tree, t=max_distance, criterion="distance")
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    groups = [g for g in groups if len(g) >= min_size]
    groups.sort(key=lambda g: (-len(g), int(g[0])))
    return groups


def class_tfidf(
    member_phrases: Sequence[set[str]],
    document_frequency: Mapping[str, int],
    documents: int,
    *,
    min_share: float = 0.25,
    max_background_share: float = 1.0,
) -> list[tuple[str, float]]:
    """c-TF-IDF of a cluster's phrases, best first.

    Args:
        member_phrases: each member talk's phrases.
        document_frequency: background talks using each phrase.
        documents: number of background talks.
        min_share: a phrase must be used by at least this share of the members (and by 2).
        max_background_share: a phrase used by more than this share of the background talks
            outside the cluster (the background holds the members) is too common to name a
            subset of them (`python` in a Python directory).
    """
    share = max_background_share
    counts = Counter(p for ps in member_phrases for p in ps)
    n = len(member_phrases)
    need = max(2, math.ceil(min_share * n))
    scored = [
        (p, (c / n) * math.log(1 + documents / max(document_frequency.get(p, 0), c)))
        for p, c in counts.items()
        if c >= need and _specific(document_frequency.get(p, c) - c, documents - n, share)
    ]
    scored.sort(key=lambda x: (-x[1], x[0]))
    return scored


def _specific(outside_uses: int, outside: int, share: float) -> bool:
    # With no talk outside the cluster there is nothing to compare with: every phrase is.
    return outside <= 0 or max(outside_uses, 0) <= share * outside


def _mmr(
    candidates: Sequence[str], vecs: np.ndarray, centroid: np.ndarray, *, top: int, diversity: float
) -> list[str]:
    relevance = vecs @ centroid
    chosen: list[int] = []
    left = list(range(len(candidates)))
    while left and len(chosen) < top:
        if not chosen:
            best = max(left, key=lambda i: (relevance[i], -i))
        else:
            redundancy = (vecs[left] @ vecs[chosen].T).max(axis=1)
            value = (1 - diversity) * relevance[left] - diversity * redundancy
            best = left[int(np.argmax(value))]
        chosen.append(best)
        left.remove(best)
    return [candidates[i] for i in chosen]


def suggest_tags(
    talk_ids: Sequence[str],
    vectors: np.ndarray,
    texts: Sequence[str],
    *,
    embed: Callable[[list[str]], np.ndarray],
    known: Iterable[str] = (),
    background: Sequence[str] | None = None,
    max_distance: float = DEFAULT_MAX_DISTANCE,
    min_size: int = DEFAULT_MIN_SIZE,
    rerank: int = 15,
    top: int = 5,
    diversity: float = 0.3,
    max_background_share: float = DEFAULT_MAX_BACKGROUND_SHARE,
) -> list[TagSuggestion]:
    """Clusters of talks, each with a candidate tag name, largest cluster first.

    Args:
        talk_ids: the talks no tag fits.
        vectors: (n, d) their unit embeddings.
        texts: their plain texts (title and description).
        embed: the encoder (texts -> unit vectors), to rank candidate phrases.
        known: names and synonyms of the vocabulary's tags: never suggested.
        background: texts the phrases' rarity is measured on (default: `texts`).
        max_distance: average-linkage cosine distance where clusters are cut.
        min_size: smallest cluster offered.
        rerank: candidates (best c-TF-IDF) ranked by the encoder.
        top: phrases kept per suggestion (the first is its name).
        diversity: maximal marginal relevance weight for the runners-up.
        max_background_share: phrases used by more of the background than this share are
            never names (1.0: no limit).
    """
    if not (len(talk_ids) == len(vectors) == len(texts)):
        raise ValueError("talk_ids, vectors and texts differ in length")
    taken = {term_key(k) for k in known if k.strip()}
    member_phrases = [phrases(t) for t in texts]
    back = member_phrases if background is None else [phrases(t) for t in background]
    frequency = Counter(p for ps in back for p in ps)
    vecs = np.asarray(vectors, dtype=np.float32)
    out: list[TagSuggestion] = []
    for rows in clusters(vecs, max_distance=max_distance, min_size=min_size):
        ranked = class_tfidf(
            [member_phrases[i] for i in rows],
            frequency,
            max(len(back), 1),
            max_background_share=max_background_share,
        )
        seen: set[str] = set()
        candidates: list[str] = []
        for phrase, _ in ranked:
            key = term_key(phrase)
            if key in taken or key in seen:
                continue
            seen.add(key)
            candidates.append(phrase)
            if len(candidates) >= rerank:
                break
        if not candidates:
            continue
        centroid = vecs[rows].mean(axis=0)
        cohesion = float((vecs[rows] @ (centroid / max(np.linalg.norm(centroid), 1e-12))).mean())
        centroid = centroid / max(float(np.linalg.norm(centroid)), 1e-12)
        phrase_vecs = np.asarray(embed(candidates), dtype=np.float32)
        best = _mmr(candidates, phrase_vecs, centroid, top=top, diversity=diversity)
        out.append(
            TagSuggestion(
                name=normalise_tag(best[0]),
                phrases=tuple(normalise_tag(p) for p in best),
                talk_ids=tuple(sorted(str(talk_ids[i]) for i in rows)),
                cohesion=round(cohesion, 4),
            )
        )
    return out


def suggest_for_pool(
    pool: Sequence[int] | np.ndarray,
    talk_ids: Sequence[str],
    vectors: np.ndarray,
    texts: Sequence[str],
    *,
    embed: Callable[[list[str]], np.ndarray],
    vocabulary: Vocabulary,
    max_distance: float = DEFAULT_MAX_DISTANCE,
    min_size: int = DEFAULT_MIN_SIZE,
    max_background_share: float = DEFAULT_MAX_BACKGROUND_SHARE,
) -> list[TagSuggestion]:
    """`suggest_tags` for the talks at positions `pool` of `talk_ids`, `vectors` and `texts`
    (those no tag fits), with every talk of `texts` as background and no name or synonym of
    `vocabulary` suggested (the event's queue and the held-out bench both ask this)."""
    rows = np.asarray(pool, dtype=np.int64)
    return suggest_tags(
        [talk_ids[i] for i in rows],
        vectors[rows],
        [texts[i] for i in rows],
        embed=embed,
        known=[term for d in vocabulary.tags for term in (d.name, *d.synonyms)],
        background=texts,
        max_distance=max_distance,
        min_size=min_size,
        max_background_share=max_background_share,
    )


def unconfident(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Rows (talks) where no tag's score clears its threshold: (n,) bool."""
    cut = thresholds if thresholds.ndim == 2 else thresholds[None, :]
    return np.asarray(~(scores > cut).any(axis=1), dtype=bool)


def name_matches(name: str, terms: Iterable[str], *, lenient: bool = False) -> bool:
    """Whether a suggested name is one of a tag's terms (its name or a synonym), plural-blind.

    `lenient` also accepts a name that contains a term as whole words (`pytest fixtures` for
    a tag whose synonym is `pytest`).
    """
    key = term_key(name)
    keys = {term_key(t) for t in terms}
    if key in keys:
        return True
    if not lenient:
        return False
    padded = f" {key} "
    return any(f" {k} " in padded for k in keys if k)


@dataclass(frozen=True)
class HiddenTagResult:
    """How well one tag hidden from the vocabulary came back as a suggestion."""

    tag: str
    talks: int  # talks carrying the tag among those clustered
    cluster_precision: float  # of the best cluster for the tag (by F1 of membership)
    cluster_recall: float
    cluster_size: int
    name: str  # that cluster's suggested name
    named: bool  # its name is the tag's name or a synonym
    named_top3: bool  # ... or one of its first three phrases is
    named_lenient: bool  # ... or its name contains one of them
    named_anywhere: bool  # some suggestion's name is the tag's name or a synonym


def score_hidden(
    suggestions: Sequence[TagSuggestion],
    gold: Mapping[str, set[str]],
    hidden: Mapping[str, Sequence[str]],
) -> list[HiddenTagResult]:
    """Per hidden tag: its best cluster and whether the suggested names recover it.

    Args:
        suggestions: what `suggest_tags` offered.
        gold: talk id -> its gold tags, for every talk that was clustered.
        hidden: hidden tag -> its terms (name and synonyms).
    """
    out = []
    for tag, terms in hidden.items():
        carrying = {t for t, tags in gold.items() if tag in tags}
        best: tuple[float, float, float, TagSuggestion | None] = (0.0, 0.0, 0.0, None)
        for s in suggestions:
            hit = len(carrying & set(s.talk_ids))
            if not hit:
                continue
            p, r = hit / len(s.talk_ids), hit / max(len(carrying), 1)
            f1 = 2 * p * r / (p + r)
            if f1 > best[0]:
                best = (f1, p, r, s)
        top = best[3]
        out.append(
            HiddenTagResult(
                tag=tag,
                talks=len(carrying),
                cluster_precision=round(best[1], 4),
                cluster_recall=round(best[2], 4),
                cluster_size=len(top.talk_ids) if top else 0,
                name=top.name if top else "",
                named=top is not None and name_matches(top.name, terms),
                named_top3=top is not None and any(name_matches(p, terms) for p in top.phrases[:3]),
                named_lenient=top is not None and name_matches(top.name, terms, lenient=True),
                named_anywhere=any(name_matches(x.name, terms) for x in suggestions),
            )
        )
    return out
