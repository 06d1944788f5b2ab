"""How much an organiser's corrections help on a conference the tagger has never seen.

A simulated organiser, per test conference series (series-disjoint: no talk of the series is
in the history), corrects k of its talks: each corrected talk gets its gold tags (the model's
wrong tags rejected, the missing ones added), and joins the history with them, as an
organiser's corrections do in the lake. The *remaining* talks of the conference are then scored
with that history. Which talks are corrected:

- `uncertainty`: the ones the tagger is least sure about, chosen step by step with the
  tagger as it is after the previous corrections (smallest distance of any tag's score to its
  threshold);
- `random`: a fixed random order of the conference's talks (one seed per series).

The curves are micro F1 and precision@1 of the remaining talks at each k, per conference,
and their mean and spread over conferences at each k (a k is only reported for a conference
that keeps at least `min_remaining` talks to score).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from podium.tagging.evaluate import LabelledSet, metrics, truth_matrix
from podium.tagging.history import TagHistory
from podium.tagging.scoring import select_matrix
from podium.tagging.series import series_of
from podium.tagging.tagger import Tagger, lexical_texts

STEPS = (0, 10, 25, 50, 100)
STRATEGIES = ("uncertainty", "random")
#: Every strategy `feedback_curve` knows: `clustered` is uncertainty with diversity (below).
ALL_STRATEGIES = ("uncertainty", "random", "clustered")


@dataclass
class CurvePoint:
    series: str
    strategy: str
    k: int
    remaining: int
    micro_f1: float
    precision_at_1: float
    # The uncorrected tagger (k=0) on the very same remaining talks: the gain over it is
    # what the corrections taught, not which talks were left to score.
    base_f1: float = 0.0
    base_p1: float = 0.0


@dataclass
class CurveReport:
    """Every point, and the summary per strategy and k."""

    points: list[CurvePoint] = field(default_factory=list)
    conferences: dict[str, int] = field(default_factory=dict)  # series -> labelled talks
    model_version: str = ""

    def summary(self, *, min_talks: int = 0) -> dict[str, dict[int, dict[str, float]]]:
        """strategy -> k -> mean/std of F1 and P@1 over conferences with >= min_talks talks,
        and the mean gain over k=0 on the same conferences."""
        out: dict[str, dict[int, dict[str, float]]] = {}
        base = {
            p.series: p for p in self.points if p.k == 0 and p.strategy == self.points[0].strategy
        }
        for strategy in dict.fromkeys(p.strategy for p in self.points):
            for k in sorted({p.k for p in self.points}):
                rows = [
                    p
                    for p in self.points
                    if p.strategy == strategy
                    and p.k == k
                    and self.conferences[p.series] >= min_talks
                ]
                if not rows:
                    continue
                f1 = np.asarray([p.micro_f1 for p in rows])
                p1 = np.asarray([p.precision_at_1 for p in rows])
                gain = np.asarray([p.micro_f1 - base[p.series].micro_f1 for p in rows])
                same = np.asarray([p.micro_f1 - p.base_f1 for p in rows])
                same_p1 = np.asarray([p.precision_at_1 - p.base_p1 for p in rows])
                out.setdefault(strategy, {})[k] = {
                    "conferences": len(rows),
                    "f1_mean": float(f1.mean()),
                    "f1_std": float(f1.std()),
                    "p1_mean": float(p1.mean()),
                    "p1_std": float(p1.std()),
                    "f1_gain_mean": float(gain.mean()),
                    "f1_gain_min": float(gain.min()),
                    "f1_gain_same_talks": float(same.mean()),
                    "f1_gain_same_talks_min": float(same.min()),
                    "p1_gain_same_talks": float(same_p1.mean()),
                }
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_version": self.model_version,
            "conferences": self.conferences,
            "points": [vars(p) for p in self.points],
            "summary": {s: {str(k): v for k, v in d.items()} for s, d in self.summary().items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CurveReport:
        """The report `as_dict` wrote (a bench's --json file)."""
        return cls(
            points=[CurvePoint(**p) for p in data["points"]],
            conferences={s: int(n) for s, n in data["conferences"].items()},
            model_version=str(data.get("model_version", "")),
        )

    def markdown(self) -> str:
        """The learning-curve table: mean ± std over conferences, per strategy and k."""
        lines = [
            "| strategy | k | conferences | F1 mean ± std | F1 gain over k=0 (same talks; min) "
            "| P@1 mean ± std | P@1 gain (same talks) |",
            "|---|---|---|---|---|---|---|",
        ]
        for strategy, by_k in self.summary().items():
            for k, row in by_k.items():
                lines.append(
                    f"| {strategy} | {k} | {row['conferences']} | {row['f1_mean']:.3f} ± "
                    f"{row['f1_std']:.3f} | {row['f1_gain_same_talks']:+.3f}; "
                    f"{row['f1_gain_same_talks_min']:+.3f} | {row['p1_mean']:.3f} ± "
                    f"{row['p1_std']:.3f} | {row['p1_gain_same_talks']:+.3f} |"
                )
        lines += [
            "",
            "| conference | talks | strategy | "
            + " | ".join(f"F1 / P@1 at k={k}" for k in sorted({p.k for p in self.points}))
            + " |",
        ]
        ks = sorted({p.k for p in self.points})
        lines.append("|---|---|---|" + "---|" * len(ks))
        for series, n in self.conferences.items():
            for strategy in dict.fromkeys(p.strategy for p in self.points):
                cells = []
                for k in ks:
                    hit = [
                        p
                        for p in self.points
                        if p.series == series and p.strategy == strategy and p.k == k
                    ]
                    cells.append(
                        f"{hit[0].micro_f1:.3f} / {hit[0].precision_at_1:.3f}" if hit else "—"
                    )
                lines.append(f"| {series} | {n} | {strategy} | " + " | ".join(cells) + " |")
        return "\n".join(lines)


def margins(scores: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per talk, the smallest distance of any tag's score to its threshold (small: unsure)."""
    cut = thresholds if thresholds.ndim == 2 else thresholds[None, :]
    return np.abs(scores - cut).min(axis=1)


def clustered_pick(
    left: Sequence[int],
    vectors: np.ndarray,
    margin: dict[int, float],
    *,
    need: int,
    seed: int = 0,
) -> list[int]:
    """Uncertainty with diversity: `need` k-means clusters of the uncorrected talks' vectors,
    and from each the talk the tagger is least sure about (smallest margin).

    Plain uncertainty sampling picks the talks nothing resembles, whose labels teach the
    others little (docs/tagging.md); one pick per cluster spreads the corrections over the
    conference's topics while still asking about the least certain talk of each. No parameter
    to tune: the number of clusters is the number of talks to pick.
    """
    from scipy.cluster.vq import kmeans2

    rows = list(left)
    if need >= len(rows):
        return rows
    data = np.asarray(vectors[rows], dtype=np.float64)
    _, labels = kmeans2(data, need, minit="++", seed=seed)
    chosen: list[int] = []
    for c in range(need):
        members = [rows[r] for r in np.flatnonzero(labels == c)]
        if members:
            chosen.append(min(members, key=lambda i: (margin[i], i)))
    # An empty cluster (k-means may leave one) is filled by the next least certain talks.
    rest = sorted((i for i in rows if i not in set(chosen)), key=lambda i: (margin[i], i))
    return chosen + rest[: need - len(chosen)]


def feedback_curve(
    tagger: Tagger,
    data: LabelledSet,
    vectors: np.ndarray,
    *,
    steps: Sequence[int] = STEPS,
    strategies: Sequence[str] = STRATEGIES,
    min_talks: int = 35,
    min_remaining: int = 10,
    only: Sequence[str] = (),
    extra: TagHistory | None = None,
    seed: int = 0,
    on_progress: Callable[[str], None] | None = None,
) -> CurveReport:
    """Learning curves of a simulated organiser's corrections on unseen conferences.

    Args:
        tagger: the tagger (its settings as they are).
        data: labelled talks (only talks with a gold tag count).
        vectors: (len(data.talks), d) their embeddings.
        steps: numbers of corrected talks, ascending.
        strategies: `uncertainty` and/or `random`.
        min_talks: a series is a test conference when it has at least this many talks.
        min_remaining: a k is scored only while at least this many talks remain.
        only: test only these series (default: every series large enough).
        extra: more history (free-form tags); talks of the test series are left out of it.
        seed: the random order's seed.
    """
    keep = np.asarray([i for i, g in enumerate(data.gold) if g], dtype=np.int64)
    talks = [data.talks[i] for i in keep]
    gold = [data.gold[i] for i in keep]
    events = [data.events[i] for i in keep]
    series = [series_of(e) for e in events]
    truth = truth_matrix(data)[keep]
    vecs = vectors[keep].astype(np.float32)
    texts = lexical_texts(talks)
    vocabulary = data.vocabulary
    sizes: dict[str, int] = {}
    for s in series:
        sizes[s] = sizes.get(s, 0) + 1
    tests = [s for s, n in sorted(sizes.items(), key=lambda x: -x[1]) if n >= min_talks]
    if only:
        tests = [s for s in tests if s in set(only)]
    report = CurveReport(conferences={s: sizes[s] for s in tests})
    report.model_version = tagger.model_version

    def history_of(rows: Sequence[int], test_series: str) -> TagHistory:
        index = np.asarray(rows, dtype=np.int64)
        base = TagHistory(
            talk_ids=tuple(talks[i].talk_id for i in index),
            tags=tuple(tuple(gold[i]) for i in index),
            groups=tuple(events[i] for i in index),
            embeddings=vecs[index],
            model_version=tagger.encoder.model_version,
            premises={talks[i].talk_id: texts[i] for i in index},
        )
        if extra is None or not len(extra):
            return base
        drop = {g for g in set(extra.groups) if series_of(g) == test_series}
        return TagHistory.concat([base, extra.without(groups=drop)])

    for test in tests:
        pool = [i for i, s in enumerate(series) if s == test]
        others = [i for i, s in enumerate(series) if s != test]
        order = [pool[i] for i in np.random.default_rng(seed).permutation(len(pool))]
        for strategy in strategies:
            corrected: list[int] = []
            last_margin: dict[int, float] = {}
            first: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # k=0: talk -> scores, picks
            for k in steps:
                if len(pool) - k < min_remaining:
                    break
                need = k - len(corrected)
                left = [i for i in pool if i not in set(corrected)]
                if need > 0:
                    if strategy == "random":
                        chosen = [i for i in order if i not in set(corrected)][:need]
                    elif strategy == "clustered":
                        chosen = clustered_pick(
                            left, vecs, last_margin, need=need, seed=seed + len(corrected)
                        )
                    else:
                        chosen = sorted(left, key=lambda i: (last_margin[i], i))[:need]
                    corrected += chosen
                    left = [i for i in left if i not in set(chosen)]
                history = history_of(others + corrected, test)
                result = tagger.score(
                    [talks[i] for i in left],
                    vocabulary=vocabulary,
                    history=history,
                    vectors=vecs[left],
                )
                predicted = select_matrix(
                    result.scores, result.thresholds, max_tags=tagger.settings.max_tags
                )
                m = metrics(result.scores, predicted, truth[left], vocabulary.names)
                if k == 0 or not first:
                    first = {i: (result.scores[r], predicted[r]) for r, i in enumerate(left)}
                b = metrics(
                    np.stack([first[i][0] for i in left]),
                    np.stack([first[i][1] for i in left]),
                    truth[left],
                    vocabulary.names,
                )
                last_margin = dict(
                    zip(left, margins(result.scores, result.thresholds).tolist(), strict=True)
                )
                report.points.append(
                    CurvePoint(
                        test,
                        strategy,
                        k,
                        len(left),
                        round(m["micro_f1"], 4),
                        round(m["precision_at_1"], 4),
                        round(b["micro_f1"], 4),
                        round(b["precision_at_1"], 4),
                    )
                )
                if on_progress is not None:
                    on_progress(
                        f"{test} ({len(pool)}) {strategy:11s} k={k:3d}: F1 {m['micro_f1']:.3f} "
                        f"P@1 {m['precision_at_1']:.3f} on {len(left)} talks (uncorrected on "
                        f"them: F1 {b['micro_f1']:.3f} P@1 {b['precision_at_1']:.3f})"
                    )
    return report


def choose_by_other_conferences(
    reports: dict[str, CurveReport], *, ks: Sequence[int] = (10, 25)
) -> tuple[dict[str, str], CurveReport]:
    """Leave one conference out: for each conference, the setting whose corrections taught
    most on the *other* conferences, and the curve of each conference under its own pick.

    `reports` maps a setting's name to its curves (same conferences, strategies and steps).
    A setting's score on a set of conferences is the mean, over those conferences, the
    strategies and `ks`, of the F1 gain over the uncorrected tagger on the same remaining
    talks (what the corrections taught, not which talks were left). No conference's own
    curve decides its pick, so the returned curves are honest (nested) figures.

    Returns:
        (conference -> picked setting, one report of every conference's points under its pick).
    """
    if not reports:
        raise ValueError("no settings to choose from")
    first = next(iter(reports.values()))

    def taught(report: CurveReport, conferences: set[str]) -> float:
        gains = [
            p.micro_f1 - p.base_f1
            for p in report.points
            if p.series in conferences and p.k in set(ks)
        ]
        return float(np.mean(gains)) if gains else float("-inf")

    picks: dict[str, str] = {}
    nested = CurveReport(conferences=dict(first.conferences), model_version="nested")
    for conference in first.conferences:
        others = set(first.conferences) - {conference}
        # max keeps the first of equal scores: list the settings in a fixed order.
        name = max(reports, key=lambda n: taught(reports[n], others))
        picks[conference] = name
        nested.points += [p for p in reports[name].points if p.series == conference]
    return picks, nested
