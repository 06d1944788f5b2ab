"""The tagger's neighbour history kept warm in a long-lived process, refreshed incrementally.

`load_history` reads every talk and every history tag, re-derives every text and looks every
vector up again: seconds per run on a few hundred talks, linear in the directory. And each
new history (another fingerprint) makes the tagger fit its head and calibrate again (tens of
seconds). A warm executor keeps one `WarmHistory` instead:

- `refresh()` reads only what changed: nothing when the `talks`, `talk_tags` and
  `enrichment_state` Delta versions are those of the last refresh; otherwise the `talks` keys
  (id, record hash, content, state: no text), the full rows of talks whose record changed,
  the speaker/organiser tags, and the open tagging claims. Vectors of texts already seen come
  from memory, the others from the lake's embedding cache (or the encoder, which fills it).
- The snapshot holds the talks `load_history` would hold (not deleted, with speaker or
  organiser tags), **except talks whose tagging is still open**: they join once tagged. So the
  talks a run tags are not in their own history, and the snapshot (hence its fingerprint and
  the tagger's fitted head and thresholds) stays the same from run to run until it is
  refreshed; a refresh is published only after `warm` (the tagger's calibration on it) ran,
  off the hot path.
- An edited talk: its record hash changes, it is re-read, left out while its new version is
  being tagged, then back with its new text and tags. A removed talk (tombstone or gone): out.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from podium import enrichment, ingest, tag_feedback, talk_tags
from podium.embedding_cache import EmbeddingCache, text_key
from podium.enrichment import state_rows
from podium.ingest import frame_to_talks, talk_rows
from podium.lake import Lake
from podium.models import Talk, normalise_tag
from podium.tagging.history import (
    HISTORY_SOURCES,
    PREMISE_SAMPLE,
    PREMISE_TOKENS,
    TagHistory,
    talk_texts,
)
from podium.talk_tags import tag_rows
from podium.text import talk_text

log = logging.getLogger(__name__)

# Their versions say what changed (an organiser's rejection is a negative: tag_feedback).
TABLES = (ingest.TALKS, talk_tags.TABLE, enrichment.TABLE, tag_feedback.TABLE)
_OPEN = ["pending", "running"]  # ledger statuses still to do (podium.enrichment.OPEN)
_READ_CHUNK = 2_000  # talk ids per IN-filtered read


@dataclass
class _Talk:
    """What the history needs of one talk row."""

    record: str  # record hash and state: any change to the row changes it
    content_hash: str
    talk: Talk
    key: str  # text key of what the encoder reads
    order: str  # sha1 of the id: the premise sample's deterministic order


@dataclass
class RefreshStats:
    """What one refresh did, for the run log and the benchmark."""

    changed: bool = False
    reread: int = 0  # talk rows read in full
    removed: int = 0
    embedded: int = 0  # vectors not in memory (from the lake cache or the encoder)
    rows: int = 0  # rows of the snapshot
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)


class WarmHistory:
    """One lake's tagging history for one encoder, kept in memory and refreshed by changes.

    Args:
        lake: the lake.
        encoder: the tagger's sentence encoder (`model_version`, `max_length`, `encode`).
        cache: the embedding cache; the lake's own when None.
    """

    def __init__(self, lake: Lake, encoder: Any, cache: EmbeddingCache | None = None) -> None:
        self.lake, self.encoder = lake, encoder
        self.cache = cache if cache is not None else EmbeddingCache(lake)
        self.snapshot: TagHistory | None = None
        self._talks: dict[str, _Talk] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._premises: dict[str, str] = {}
        self._versions: tuple[int | None, ...] | None = None
        self._lock = threading.Lock()  # one refresh at a time; readers never wait on it

    def versions(self) -> tuple[int | None, ...]:
        return tuple(self.lake.version(name) for name in TABLES)

    def current(self, exclude: Iterable[str] = ()) -> TagHistory:
        """The published snapshot (refreshed now if there is none yet) without `exclude`.

        The talks of a run are open in the ledger, so normally none is in the snapshot and the
        very same object comes back (the tagger's calibration is cached by its fingerprint).
        """
        if self.snapshot is None:
            self.refresh()
        snapshot = self.snapshot
        assert snapshot is not None
        drop = set(exclude).intersection(snapshot.talk_ids)
        return snapshot.without(drop) if drop else snapshot

    def refresh(self, warm: Callable[[TagHistory], Any] | None = None) -> RefreshStats:
        """Bring the snapshot up to the lake's current tables, reading only what changed.

        Args:
            warm: called with the new snapshot before it is published (the executor warms
                the tagger's calibration on it, so a run never pays for it).
        """
        with self._lock:
            started = time.perf_counter()
            stats = RefreshStats()
            versions = self.versions()
            if versions == self._versions and self.snapshot is not None:
                stats.rows = len(self.snapshot)
                stats.seconds = time.perf_counter() - started
                return stats
            stats.changed = True
            history = self._build(stats)
            if warm is not None:
                mark = time.perf_counter()
                warm(history)
                stats.steps["warm"] = time.perf_counter() - mark
            self.snapshot, self._versions = history, versions
            stats.rows = len(history)
            stats.seconds = time.perf_counter() - started
            return stats

    def _build(self, stats: RefreshStats) -> TagHistory:
        lake = self.lake
        mark = time.perf_counter()

        def step(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            stats.steps[name] = now - mark
            mark = now

        keys = talk_rows(lake=lake, columns=["talk_id", "record_hash", "content_hash", "state"])
        live = keys[keys.state != "deleted"]
        record = {
            str(t): f"{r}\x1f{s}"
            for t, r, s in zip(live.talk_id, live.record_hash, live.state, strict=True)
        }
        gone = [t for t in self._talks if t not in record]
        for talk_id in gone:
            del self._talks[talk_id]
            self._premises.pop(talk_id, None)
        stats.removed = len(gone)
        changed = [
            t for t, r in record.items() if t not in self._talks or self._talks[t].record != r
        ]
        step("keys")
        fresh: list[Talk] = []
        for start in range(0, len(changed), _READ_CHUNK):
            frame = talk_rows(lake=lake, talk_ids=changed[start : start + _READ_CHUNK])
            fresh += frame_to_talks(frame[frame.state != "deleted"])
        stats.reread = len(fresh)
        step("rows")
        texts = talk_texts(fresh, encoder=self.encoder)
        for talk, text in zip(fresh, texts, strict=True):
            self._premises.pop(talk.talk_id, None)
            self._talks[talk.talk_id] = _Talk(
                record=record[talk.talk_id],
                content_hash=talk.content_hash,
                talk=talk,
                key=text_key(text),
                order=hashlib.sha1(talk.talk_id.encode()).hexdigest(),
            )
        texts_of = {
            entry.key: text
            for entry, text in zip((self._talks[t.talk_id] for t in fresh), texts, strict=True)
        }
        history_tags = tag_rows(
            lake=lake, columns=["talk_id", "tag", "source"], sources=HISTORY_SOURCES
        )
        by_talk: dict[str, list[str]] = {}
        for talk_id, tag in zip(history_tags.talk_id, history_tags.tag, strict=True):
            by_talk.setdefault(str(talk_id), []).append(str(tag))
        open_rows = state_rows(
            lake=lake, columns=["talk_id", "content_hash"], stage="tags", statuses=_OPEN
        )
        rejected = tag_feedback.negatives(
            lake=lake, versions={t: e.content_hash for t, e in self._talks.items()}
        )
        being_tagged = {
            str(t)
            for t, h in zip(open_rows.talk_id, open_rows.content_hash, strict=True)
            if t in self._talks and self._talks[t].content_hash == h
        }
        step("tags")

        ids, labels, groups, rows = [], [], [], []
        for talk_id in sorted(self._talks):
            if talk_id in being_tagged:
                continue
            entry = self._talks[talk_id]
            tags = list(dict.fromkeys([*entry.talk.tags, *by_talk.get(talk_id, [])]))
            if not tags and talk_id not in rejected:
                continue
            ids.append(talk_id)
            labels.append(tuple(dict.fromkeys(normalise_tag(x) for x in tags)))
            groups.append(entry.talk.event_ids[0] if entry.talk.event_ids else "")
            rows.append(entry.key)
        # Only talks that are in the history are embedded (most of a directory may be untagged).
        missing = [k for k in dict.fromkeys(rows) if k not in self._vectors]
        if missing:
            texts_of.update(self._texts(missing, texts_of))
            vectors = self.cache.embed([texts_of[k] for k in missing], encoder=self.encoder)
            self._vectors.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        stats.embedded = len(missing)
        step("embed")
        ordered = [self._vectors[k] for k in rows]
        dim = int(getattr(self.encoder, "dimension", 0) or (ordered[0].shape[0] if ordered else 0))
        matrix = np.stack(ordered) if ordered else np.zeros((0, dim), dtype=np.float32)
        history = TagHistory(
            talk_ids=tuple(ids),
            tags=tuple(labels),
            groups=tuple(groups),
            embeddings=matrix,
            model_version=self.encoder.model_version,
            # Only tagged talks are calibrated on (as `build_history` keeps them).
            premises=self._premise_sample([t for t, row in zip(ids, labels, strict=True) if row]),
            negatives={t: rejected[t] for t in ids if t in rejected},
        )
        # Vectors of texts no talk reads any more (edited away) are dropped.
        live_keys = {entry.key for entry in self._talks.values()}
        for key in [k for k in self._vectors if k not in live_keys]:
            del self._vectors[key]
        step("assemble")
        return history

    def _texts(self, keys: list[str], known: dict[str, str]) -> dict[str, str]:
        # Texts of talks read earlier that were not in the history then (no tags yet).
        wanted = set(keys) - set(known)
        talks = [e.talk for e in self._talks.values() if e.key in wanted]
        return {text_key(t): t for t in talk_texts(talks, encoder=self.encoder)}

    def _premise_sample(self, ids: list[str]) -> dict[str, str]:
        # The same deterministic sample `premise_sample` draws, computing text only for it.
        chosen = sorted(ids, key=lambda t: self._talks[t].order)[:PREMISE_SAMPLE]
        for talk_id in chosen:
            if talk_id not in self._premises:
                talk = self._talks[talk_id].talk
                self._premises[talk_id] = talk_text(
                    talk.title, talk.description, max_tokens=PREMISE_TOKENS
                )
        return {t: self._premises[t] for t in chosen}
