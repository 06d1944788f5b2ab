"""Evaluation you can trust: series-disjoint k-fold, or a history file against a new file.

Splits are by conference series (`podium.tagging.series`), never by talk or single edition,
so no conference is on both sides (talks of one conference share speakers, wording and tags
from year to year, and would flatter a neighbour-based tagger). The nested evaluation that
also chooses the settings lives in `podium.tagging.nested`.
"""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from podium.errors import UserError
from podium.models import MAX_DESCRIPTION, MAX_TITLE, Talk, Vocabulary, normalise_tag
from podium.tagging.history import TagHistory, build_history, embed_talks
from podium.tagging.scoring import select_matrix
from podium.tagging.series import group_folds, series_folds, series_of
from podium.tagging.tagger import Tagger, lexical_texts
from podium.tagging.vocab import map_tags, synonym_map, vocabulary_from_mapping


class EvalInputError(UserError, ValueError):
    """A labelled file that cannot be evaluated; the message is one line for the user."""


@dataclass(frozen=True)
class LabelledSet:
    """Talks with gold tags, their events, and the vocabulary.

    The talks carry no tags of their own (the gold tags must not leak into the input).
    """

    vocabulary: Vocabulary
    talks: list[Talk]
    gold: list[list[str]]
    events: list[str]
    own_tags: list[list[str]] = field(default_factory=list)  # free-form tags, for history
    languages: list[str] = field(default_factory=list)  # ISO 639-3 code, "" when unknown
    # "id: reason" of talks left out because a field fails validation (one bad id in a file of
    # 14,000 talks costs that talk, not the evaluation)
    rejected: list[str] = field(default_factory=list)

    def first(self, n: int | None) -> LabelledSet:
        """The first `n` talks (every talk for None or 0): a bench's tiny run."""
        if not n:
            return self
        return replace(
            self,
            talks=self.talks[:n],
            gold=self.gold[:n],
            events=self.events[:n],
            own_tags=self.own_tags[:n],
            languages=self.languages[:n],
        )


def _read_records(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise EvalInputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise EvalInputError(f"{path}: cannot read ({error})") from None
    stripped = text.lstrip()
    if not stripped:
        raise EvalInputError(f"{path}: file is empty")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        document = None
        if "\n" not in stripped.strip():  # one line that is not JSON: say where
            raise EvalInputError(f"{path}: not valid JSON ({error.msg})") from None
    if isinstance(document, dict) and "talks" in document:
        if not isinstance(document["talks"], list):
            raise EvalInputError(f"{path}: 'talks' must be a list")
        return document, document["talks"]
    if document is not None and not isinstance(document, dict):
        raise EvalInputError(f"{path}: expected an object with 'talks', or JSON lines")
    records = []
    for number, line in enumerate(text.split("\n"), start=1):  # not splitlines: U+2028 is data
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise EvalInputError(f"{path}:{number}: not valid JSON ({error.msg})") from None
        if not isinstance(record, dict):
            raise EvalInputError(f"{path}:{number}: each line must be a JSON object")
        records.append(record)
    return None, records


def load_labelled(path: str | Path, *, vocabulary: Vocabulary | None = None) -> LabelledSet:
    """Read a labelled file: the tagging-eval.json format, or JSONL (optionally .gz) talks.

    JSON: {"vocabulary": [...], "synonyms": {...}, "descriptions"?: {...}, "talks": [...]}.
    JSONL: one talk per line with `id`, `event`, `title`, `description`, `tags`; tags are
    mapped onto the vocabulary through its synonyms (the vocabulary is then required, or
    taken as every tag seen when none is given).

    Args:
        path: the file.
        vocabulary: overrides the file's vocabulary.

    Raises:
        EvalInputError: unreadable file, missing fields, empty vocabulary.
    """
    path = Path(path)
    document, records = _read_records(path)
    if vocabulary is None and document is not None and "vocabulary" in document:
        names = document["vocabulary"]
        if not isinstance(names, list) or not names:
            raise EvalInputError(f"{path}: 'vocabulary' must be a non-empty list of tags")
        try:
            vocabulary = vocabulary_from_mapping(
                [normalise_tag(str(n)) for n in names],
                {normalise_tag(k): v for k, v in (document.get("synonyms") or {}).items()},
                {normalise_tag(k): v for k, v in (document.get("descriptions") or {}).items()},
            )
        except ValidationError as error:
            raise EvalInputError(f"{path}: bad vocabulary ({_first_error(error)})") from None
    if vocabulary is None:
        seen = {normalise_tag(str(t)) for r in records for t in (r.get("tags") or [])}
        if not seen:
            raise EvalInputError(f"{path}: no vocabulary and no tags to take one from")
        vocabulary = vocabulary_from_mapping(sorted(seen))
    mapping = synonym_map(vocabulary)
    talks: list[Talk] = []
    gold: list[list[str]] = []
    events: list[str] = []
    own: list[list[str]] = []
    languages: list[str] = []
    rejected: list[str] = []
    for number, record in enumerate(records, start=1):
        talk_id = record.get("id") or record.get("talk_id")
        title = record.get("title")
        if not talk_id or not isinstance(title, str) or not title.strip():
            raise EvalInputError(f"{path}: talk #{number} lacks an id or a title")
        tags = record.get("tags") or []
        if not isinstance(tags, list):
            raise EvalInputError(f"{path}: talk {talk_id!r}: 'tags' must be a list")
        try:
            talk = Talk(
                talk_id=str(talk_id)[:200],
                title=title.strip()[:MAX_TITLE],
                description=str(record.get("description") or "")[:MAX_DESCRIPTION],
                event_ids=[str(record["event"])] if record.get("event") else [],
            )
        except ValidationError as error:
            rejected.append(f"{talk_id!r}: {_first_error(error)}")
            continue
        talks.append(talk)
        gold.append(map_tags([str(t) for t in tags], mapping))
        own.append([normalise_tag(str(t)) for t in tags if str(t).strip()][:50])
        events.append(str(record.get("event") or talk_id))
        languages.append(str(record.get("language") or ""))
    if not talks:
        reason = f" (first rejected: talk {rejected[0]})" if rejected else ""
        raise EvalInputError(f"{path}: no talks{reason}")
    return LabelledSet(vocabulary, talks, gold, events, own, languages, rejected)


def with_languages(data: LabelledSet, path: str | Path) -> LabelledSet:
    """`data` with each talk's language taken from a JSONL file of `id` and `language`.

    Talks the file does not name keep the language they had ("" when none).

    Raises:
        EvalInputError: unreadable file.
    """
    _, records = _read_records(Path(path))
    found = {
        str(r.get("id") or r.get("talk_id")): str(r.get("language") or "")
        for r in records
        if r.get("id") or r.get("talk_id")
    }
    current = data.languages or [""] * len(data.talks)
    languages = [found.get(t.talk_id) or old for t, old in zip(data.talks, current, strict=True)]
    return LabelledSet(
        data.vocabulary, data.talks, data.gold, data.events, data.own_tags, languages, data.rejected
    )


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))


def event_folds(events: Sequence[str], folds: int) -> np.ndarray:
    """Fold number of each row, whole events per fold, sizes balanced, deterministic.

    Events are placed largest first into the currently smallest fold (ties by name), so the
    split does not depend on row order.

    Raises:
        EvalInputError: fewer events than folds, or fewer than 2 folds.
    """
    if folds < 2:
        raise EvalInputError("--folds must be at least 2")
    distinct = len(set(events))
    if distinct < folds:
        raise EvalInputError(f"{distinct} events cannot make {folds} event-disjoint folds")
    return group_folds(events, folds)  # the same balanced placement as series folds


@dataclass(frozen=True)
class EvalReport:
    """Figures of one evaluation."""

    micro_precision: float
    micro_recall: float
    micro_f1: float
    macro_f1: float
    precision_at_1: float
    talks: int
    talks_per_second: float
    per_tag: dict[str, dict[str, float]]
    mode: str
    folds: int
    model_version: str
    thresholds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the `--json` output)."""
        return {
            "micro_precision": round(self.micro_precision, 4),
            "micro_recall": round(self.micro_recall, 4),
            "micro_f1": round(self.micro_f1, 4),
            "macro_f1": round(self.macro_f1, 4),
            "precision_at_1": round(self.precision_at_1, 4),
            "talks": self.talks,
            "talks_per_second": round(self.talks_per_second, 2),
            "mode": self.mode,
            "folds": self.folds,
            "model_version": self.model_version,
            "per_tag": self.per_tag,
        }


def metrics(
    scores: np.ndarray,
    predicted: np.ndarray,
    truth: np.ndarray,
    tags: Sequence[str],
) -> dict[str, Any]:
    """Micro/macro precision, recall, F1, precision@1 and per-tag figures.

    Args:
        scores: (n, T) scores (for precision@1: is the top-scored tag a gold tag).
        predicted: (n, T) 0/1 assigned tags.
        truth: (n, T) 0/1 gold tags.
        tags: column names.
    """
    tp = (predicted * truth).sum(axis=0)
    fp = (predicted * (1 - truth)).sum(axis=0)
    fn = ((1 - predicted) * truth).sum(axis=0)
    micro_p = float(tp.sum() / max(tp.sum() + fp.sum(), 1))
    micro_r = float(tp.sum() / max(tp.sum() + fn.sum(), 1))
    micro_f = 2 * micro_p * micro_r / (micro_p + micro_r) if micro_p + micro_r else 0.0
    per_tag: dict[str, dict[str, float]] = {}
    f1s = []
    for j, tag in enumerate(tags):
        p = float(tp[j] / max(tp[j] + fp[j], 1))
        r = float(tp[j] / max(tp[j] + fn[j], 1))
        f = 2 * p * r / (p + r) if p + r else 0.0
        support = float(truth[:, j].sum())
        per_tag[tag] = {
            "support": support,
            "precision": round(p, 4),
            "recall": round(r, 4),
            "f1": round(f, 4),
        }
        if support > 0:
            f1s.append(f)
    top = scores.argmax(axis=1) if scores.shape[0] else np.zeros(0, dtype=np.int64)
    at1 = float(truth[np.arange(len(top)), top].mean()) if len(top) else 0.0
    return {
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": micro_f,
        "macro_f1": float(np.mean(f1s)) if f1s else 0.0,
        "precision_at_1": at1,
        "per_tag": per_tag,
    }


def truth_matrix(data: LabelledSet) -> np.ndarray:
    column = {name: j for j, name in enumerate(data.vocabulary.names)}
    truth = np.zeros((len(data.talks), len(column)), dtype=np.float32)
    for i, tags in enumerate(data.gold):
        for tag in tags:
            truth[i, column[tag]] = 1.0
    return truth


def evaluate_folds(
    tagger: Tagger,
    data: LabelledSet,
    *,
    folds: int = 5,
    extra: TagHistory | None = None,
) -> EvalReport:
    """Series-disjoint k-fold evaluation of `tagger` with its settings as they are.

    Each fold's history is the other folds' talks with their gold tags, plus `extra` (e.g.
    the whole pyvideo export with free-form tags) minus every talk of the fold's conference
    series (`podium.tagging.series`). Nothing is chosen here: for an honest figure of a
    procedure that chooses settings, use `podium.tagging.nested.evaluate_nested`.
    Throughput is talks embedded and scored per second, excluding history embedding.

    Args:
        tagger: the tagger.
        data: the labelled set (only talks with at least one gold tag are scored).
        folds: number of folds.
        extra: more history, mapped onto the vocabulary through its synonyms.
    """
    keep = [i for i, g in enumerate(data.gold) if g]
    if not keep:
        raise EvalInputError("no talk has a gold tag in the vocabulary")
    talks = [data.talks[i] for i in keep]
    events = [data.events[i] for i in keep]
    gold = [data.gold[i] for i in keep]
    truth = truth_matrix(data)[keep]
    try:
        fold_of = series_folds(events, folds)
    except ValueError as error:
        raise EvalInputError(f"{error} (conference series)") from None
    series = [series_of(e) for e in events]
    started = time.perf_counter()
    # Never through the cache: throughput must count the embedding of the talks under test.
    vectors = embed_talks(talks, encoder=tagger.encoder)
    embed_seconds = time.perf_counter() - started
    base = TagHistory(
        talk_ids=tuple(t.talk_id for t in talks),
        tags=tuple(tuple(g) for g in gold),
        groups=tuple(events),
        embeddings=vectors,
        model_version=tagger.encoder.model_version,
        premises=dict(zip((t.talk_id for t in talks), lexical_texts(talks), strict=True)),
    )
    scores = np.zeros_like(truth)
    predicted = np.zeros_like(truth)
    score_seconds = 0.0
    for fold in range(folds):
        test = np.flatnonzero(fold_of == fold)
        test_series = {series[i] for i in test}
        test_ids = {talks[i].talk_id for i in test}
        parts = [base.take(np.flatnonzero(fold_of != fold))]
        if extra is not None:
            drop = {g for g in set(extra.groups) if series_of(g) in test_series}
            parts.append(extra.without(talk_ids=test_ids, groups=drop))
        history = TagHistory.concat(parts)
        tagger.calibration(vocabulary=data.vocabulary, history=history)  # not timed: per run
        started = time.perf_counter()
        result = tagger.score(
            [talks[i] for i in test],
            vocabulary=data.vocabulary,
            history=history,
            vectors=vectors[test],
        )
        score_seconds += time.perf_counter() - started
        scores[test] = result.scores
        predicted[test] = select_matrix(
            result.scores, result.thresholds, max_tags=tagger.settings.max_tags
        )
    figures = metrics(scores, predicted, truth, data.vocabulary.names)
    seconds = embed_seconds + score_seconds
    return EvalReport(
        talks=len(talks),
        talks_per_second=len(talks) / max(seconds, 1e-9),
        mode=f"series-disjoint {folds}-fold" + (" + extra history" if extra else ""),
        folds=folds,
        model_version=tagger.model_version,
        **figures,
    )


def evaluate_against_history(
    tagger: Tagger, data: LabelledSet, *, history: TagHistory
) -> EvalReport:
    """Tag every talk of `data` using `history` (the old, tagged talks) and score it.

    Talks (by id) and events present in `data` are removed from the history first.
    """
    keep = [i for i, g in enumerate(data.gold) if g]
    if not keep:
        raise EvalInputError("no talk has a gold tag in the vocabulary")
    talks = [data.talks[i] for i in keep]
    truth = truth_matrix(data)[keep]
    history = history.without(
        talk_ids={t.talk_id for t in talks}, groups={data.events[i] for i in keep}
    )
    tagger.calibration(vocabulary=data.vocabulary, history=history)
    started = time.perf_counter()
    vectors = embed_talks(talks, encoder=tagger.encoder)  # uncached, as in evaluate_folds
    result = tagger.score(talks, vocabulary=data.vocabulary, history=history, vectors=vectors)
    seconds = time.perf_counter() - started
    predicted = select_matrix(result.scores, result.thresholds, max_tags=tagger.settings.max_tags)
    figures = metrics(result.scores, predicted, truth, data.vocabulary.names)
    return EvalReport(
        talks=len(talks),
        talks_per_second=len(talks) / max(seconds, 1e-9),
        mode=f"history ({len(history)} talks) -> file",
        folds=0,
        model_version=tagger.model_version,
        thresholds=dict(
            zip(
                data.vocabulary.names,
                map(float, np.atleast_2d(result.thresholds).mean(axis=0)),
                strict=True,
            )
        ),
        **figures,
    )


def history_from_labelled(tagger: Tagger, data: LabelledSet, *, free_form: bool) -> TagHistory:
    """A history from a labelled file: gold tags, or the talks' own free-form tags.

    Args:
        tagger: provides the encoder (and its embedding cache).
        data: the file's talks.
        free_form: use each talk's own tags (a raw export like talks.jsonl.gz, mapped onto
            the vocabulary later through synonyms) instead of the gold tags.
    """
    labels = data.own_tags if free_form else data.gold
    return build_history(
        data.talks,
        encoder=tagger.encoder,
        labels=labels,
        groups=data.events,
        cache=tagger.cache,
    )
