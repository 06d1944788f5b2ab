"""Benchmark of tag counts, recommendation precompute, lookup, and the original algorithm.

    python bench/recommend.py --talks 14075 --events 300      # real pyvideo talks
    python bench/recommend.py --talks 1000000 --events 10000  # synthetic talks

Up to the size of the pyvideo data set (../shared/data/pyvideo) the talks are real, embedded
with the packaged MiniLM, and events are pyvideo conferences whose tags are the most common
gold tags of their talks; quality (nDCG@10) is measured there. Above it talks, tags and
embeddings are synthetic (topic clusters), written to the lake and the embedding cache first,
so the precompute runs the production code path end to end without a model.

Every phase runs in a fresh child process, so its peak memory (ru_maxrss) is its own.
Figures are printed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import json
import math
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from deltalake import write_deltalake

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from podium.lake import SCHEMAS, Lake  # noqa: E402
from podium.models import normalise_tag  # noqa: E402

# The shared data next to the checkout (/work/main -> /work/shared) or above a worktree.
PYVIDEO = next(
    (
        p / "shared" / "data" / "pyvideo"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared" / "data" / "pyvideo").exists()
    ),
    ROOT.parent / "shared" / "data" / "pyvideo",
)
NOW = datetime(2026, 11, 1, tzinfo=UTC)


# ---- phases run in child processes -------------------------------------------------------


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _in_child(fn: Any, *args: Any) -> dict[str, Any]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def phase_aggregate(lake_url: str) -> dict[str, Any]:
    from podium.tag_counts import recompute_tag_counts

    start = time.perf_counter()
    run = recompute_tag_counts(lake=Lake(lake_url))
    return {"wall_s": time.perf_counter() - start, "peak_mb": _peak_mb(), "rows": run.rows_written}


def phase_build(lake_url: str, overrides: dict[str, Any]) -> dict[str, Any]:
    from podium.recommend.build import build_tables
    from podium.recommend.config import RecommendSettings
    from podium.recommend.encoder import make_encoder

    settings = RecommendSettings(**overrides)
    encoder = make_encoder(settings)
    start = time.perf_counter()
    result = build_tables(lake=Lake(lake_url), settings=settings, encoder=encoder)
    return {
        "wall_s": time.perf_counter() - start,
        "peak_mb": _peak_mb(),
        "rows": result.recommendation_rows,
        "related_rows": result.related_rows,
        "embedded_now": result.embedded_now,
        "model_loaded": encoder.loaded,
    }


def phase_related_sample(lake_url: str, queries: int) -> dict[str, Any]:
    """Related talks for `queries` talks against all talks (what an incremental build does)."""
    from podium.recommend.build import compute_related, load_talks, talk_matrix
    from podium.recommend.config import RecommendSettings
    from podium.recommend.encoder import make_encoder

    settings = RecommendSettings()
    lake = Lake(lake_url)
    talks = load_talks(lake=lake)
    matrix, _, _ = talk_matrix(
        lake=lake, talks=talks, encoder=make_encoder(settings), settings=settings
    )
    picks = np.random.default_rng(0).choice(
        len(talks), size=min(queries, len(talks)), replace=False
    )
    start = time.perf_counter()
    rows = compute_related(talks=matrix, settings=settings, computed_at=NOW, queries=np.sort(picks))
    return {"wall_s": time.perf_counter() - start, "peak_mb": _peak_mb(), "rows": len(rows)}


def phase_lookups(lake_url: str, event_ids: list[str], original_lake_events: int) -> dict[str, Any]:
    """Lookup latency of the precomputed table vs the original request-time algorithm."""
    from podium.recommend.serving import lookup_recommendations

    lake = Lake(lake_url)
    lookup_recommendations(lake=lake, event_id=event_ids[0])  # warm imports
    latencies = []
    for event_id in event_ids:
        start = time.perf_counter()
        lookup_recommendations(lake=lake, event_id=event_id)
        latencies.append(time.perf_counter() - start)
    out: dict[str, Any] = {"lookup": _percentiles(latencies)}

    # The original, over an in-process key-value store (zero network latency: its best case).
    events = lake.read("events", columns=["event_id", "tags"]).set_index("event_id")["tags"]
    tags = lake.read("talk_tags", columns=["talk_id", "tag"])
    store = KeyValueStore(tags)
    memory = []
    for event_id in event_ids:
        start = time.perf_counter()
        original_recommend(store, list(events[event_id]))
        memory.append(time.perf_counter() - start)
    out["original_in_memory"] = _percentiles(memory)

    # The original over the lake: one filtered read per event tag, then one per talk. At
    # scale a request makes thousands of reads; past `sample_gets` talk reads the rest is
    # extrapolated from the mean time per read (printed as such).
    lake_times, reads, extrapolated = [], [], 0
    sample_gets = 40
    for event_id in event_ids[:original_lake_events]:
        tags_of_event = list(events[event_id])
        store_lake = LakeStore(lake)
        start = time.perf_counter()
        candidates: list[str] = []
        for tag in tags_of_event:
            candidates += store_lake.query_tag(tag)
        unique = list(dict.fromkeys(candidates))
        get_start = time.perf_counter()
        for talk_id in unique[:sample_gets]:
            store_lake.get_talk(talk_id)
        per_get = (time.perf_counter() - get_start) / max(1, min(len(unique), sample_gets))
        elapsed = time.perf_counter() - start
        if len(unique) > sample_gets:
            extrapolated += 1
            elapsed += per_get * (len(unique) - sample_gets)
        lake_times.append(elapsed)
        reads.append(len(tags_of_event) + len(unique))
    if lake_times:
        out["original_on_lake"] = _percentiles(lake_times) | {
            "reads_mean": statistics.mean(reads),
            "extrapolated": extrapolated,
        }
        print(
            f"  (original over the lake: {extrapolated} of {len(lake_times)} requests "
            f"extrapolated past {sample_gets} talk reads)",
            flush=True,
        )
    out["peak_mb"] = _peak_mb()
    return out


def _percentiles(values: list[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1000
    return {
        "n": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "mean_ms": float(ms.mean()),
    }


# ---- the original request-time algorithm ------------------------------------------------


class KeyValueStore:
    """The original's DynamoDB tables as in-process dicts: a tag index and talk items."""

    def __init__(self, talk_tags: pd.DataFrame) -> None:
        self.by_tag: dict[str, list[str]] = defaultdict(list)
        self.items: dict[str, dict[str, Any]] = defaultdict(lambda: {"tags": []})
        for talk_id, tag in zip(talk_tags["talk_id"], talk_tags["tag"], strict=True):
            self.by_tag[tag].append(talk_id)
            self.items[talk_id]["tags"].append(tag)
        self.reads = 0

    def query_tag(self, tag: str) -> list[str]:
        self.reads += 1
        return list(self.by_tag.get(tag, []))

    def get_talk(self, talk_id: str) -> dict[str, Any]:
        self.reads += 1
        return {"talk_id": talk_id, "tags": list(self.items[talk_id]["tags"])}


class LakeStore:
    """The same two access patterns as filtered reads of the lake's Delta tables."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.reads = 0

    def query_tag(self, tag: str) -> list[str]:
        self.reads += 1
        rows = self.lake.read("talk_tags", columns=["talk_id"], where=[("tag", "=", tag)])
        return rows["talk_id"].tolist()

    def get_talk(self, talk_id: str) -> dict[str, Any]:
        self.reads += 1
        rows = self.lake.read("talk_tags", columns=["tag"], where=[("talk_id", "=", talk_id)])
        return {"talk_id": talk_id, "tags": rows["tag"].tolist()}


def original_recommend(store: Any, event_tags: list[str], k: int = 10) -> int:
    """The original resolver: one query per event tag, one get per talk found, rank by the
    number of matching tags, top k. Returns the number of store reads it made."""
    candidates: list[str] = []
    for tag in event_tags:
        candidates += store.query_tag(tag)
    scored = []
    for talk_id in dict.fromkeys(candidates):
        item = store.get_talk(talk_id)
        matches = len(set(item["tags"]) & set(event_tags))
        scored.append((matches, talk_id))
    scored.sort(key=lambda s: (-s[0], s[1]))
    _ = scored[:k]
    return int(store.reads)


# ---- data --------------------------------------------------------------------------------


def _talk_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    frame["submitted_at"] = NOW
    frame["updated_at"] = NOW
    frame["ingested_at"] = NOW
    frame["record_hash"] = frame["content_hash"]
    return frame


def _tag_frame(pairs: pd.DataFrame, source: str) -> pd.DataFrame:
    return pairs.assign(score=1.0, source=source, model="", content_hash="", tagged_at=NOW)


def real_data(lake: Lake, n_talks: int, n_events: int) -> dict[str, Any]:
    """pyvideo talks; events = conferences, tags = their talks' most common gold tags."""
    from podium.models import Talk

    evaluation = json.loads((PYVIDEO / "tagging-eval.json").read_text())
    to_gold = {
        normalise_tag(form): gold
        for gold, forms in evaluation["synonyms"].items()
        for form in forms
    }
    with gzip.open(PYVIDEO / "talks.jsonl.gz", "rt") as handle:
        raw = [json.loads(line) for line in handle][:n_talks]
    rows, gold, pairs = [], {}, []
    skipped = 0
    for item in raw:
        try:
            talk = Talk(
                talk_id=item["id"],
                title=(item["title"] or item["id"])[:300],
                description=(item.get("description") or "")[:20_000],
                speakers=[s for s in item.get("speakers") or [] if s and len(s) <= 200],
                tags=[t for t in item.get("tags") or [] if t and len(t) <= 80],
                event_ids=[item["event"]],
                language=(item.get("language") or "en")[:20],
            )
        except ValueError:
            skipped += 1
            continue
        gold[talk.talk_id] = sorted({to_gold[t] for t in talk.tags if t in to_gold})
        pairs += [(talk.talk_id, t) for t in talk.tags]
        rows.append(
            talk.model_dump(exclude={"state", "content_hash"})
            | {"state": "submitted", "content_hash": talk.content_hash}
        )
    talks = _talk_frame(rows)
    by_event: dict[str, Counter[str]] = defaultdict(Counter)
    for talk_id, event in zip(talks["talk_id"], talks["event_ids"], strict=True):
        by_event[event[0]].update(gold[talk_id])
    # Events with the most gold tags first; an event's tags = its 3 most common gold tags.
    # Beyond those, conferences whose talks have no gold tags fill up to n_events, tagged
    # with their talks' most common speaker tags (they time the precompute, not quality).
    top3 = lambda c: [t for t, _ in sorted(c.items(), key=lambda x: (-x[1], x[0]))[:3]]  # noqa: E731
    ranked = sorted(by_event, key=lambda e: (-sum(by_event[e].values()), e))
    gold_events = [e for e in ranked if by_event[e]][:n_events]
    speaker_tags: dict[str, Counter[str]] = defaultdict(Counter)
    sizes: Counter[str] = Counter()
    for tags, event in zip(talks["tags"], talks["event_ids"], strict=True):
        speaker_tags[event[0]].update(tags)
        sizes[event[0]] += 1
    others = sorted((e for e in sizes if e not in set(gold_events)), key=lambda e: (-sizes[e], e))
    chosen = gold_events + others[: max(0, n_events - len(gold_events))]
    event_tags = {e: top3(by_event[e]) if by_event[e] else top3(speaker_tags[e]) for e in chosen}
    events = pd.DataFrame(
        {
            "event_id": chosen,
            "name": [e.replace("-", " ").title() for e in chosen],
            "description": "",
            "tags": [event_tags[e] for e in chosen],
            "starts_on": None,
            "ends_on": None,
            "record_hash": chosen,
            "updated_at": NOW,
        }
    )
    lake.append("talks", talks)
    lake.append("events", events)
    speaker = pd.DataFrame(pairs, columns=["talk_id", "tag"]).drop_duplicates()
    lake.append("talk_tags", _tag_frame(speaker, "speaker"))
    return {
        "gold": gold,
        "talk_events": dict(zip(talks["talk_id"], talks["event_ids"], strict=True)),
        "event_tags": {e: event_tags[e] for e in gold_events},  # quality: gold-tagged only
        "talks_with_gold": sum(1 for g in gold.values() if g),
        "skipped": skipped,
        "events_with_gold": len(gold_events),
    }


def _list_array(values: np.ndarray, keep: np.ndarray) -> pa.Array:
    """A list<string> array from an (n, w) matrix of strings, keeping the `keep` cells."""
    offsets = np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values[keep].tolist(), pa.string()))


def _write(lake: Lake, name: str, table: pa.Table) -> None:
    # Set-up only: arrow straight into Delta, with the lake's schema (pandas would be slow).
    # Columns the synthetic data does not model (ordering bookmarks, slots, ...) are null, so
    # a table that grows a column does not break the bench.
    schema = SCHEMAS[name]
    extra = set(table.column_names) - set(schema.names)
    if extra:
        raise ValueError(f"synthetic {name} has columns the lake does not: {sorted(extra)}")
    columns = [
        table.column(field.name).cast(field.type)
        if field.name in table.column_names
        else pa.nulls(table.num_rows, field.type)
        for field in schema
    ]
    write_deltalake(
        lake.table_uri(name), pa.Table.from_arrays(columns, schema=schema), mode="append"
    )


def synthetic_data(lake: Lake, n_talks: int, n_events: int, dim: int = 384) -> None:
    """Topic clusters: each topic has a centroid and 8 tags drawn by Zipf popularity.

    A talk: a topic, 1-3 of its tags, an embedding near its centroid, 30% listed at one event,
    10% rejected, 5% in Spanish. An event: a topic, 1-3 of its tags, an embedding near it.
    """
    from podium.embedding_cache import encoder_identity, text_key, write_embeddings
    from podium.recommend.build import event_text, talk_text
    from podium.recommend.config import RecommendSettings
    from podium.recommend.encoder import make_encoder

    # The identity `make_encoder` gives (the shared tagging encoder), so the build finds
    # every vector.
    encoder = make_encoder(RecommendSettings())
    model = encoder_identity(encoder)

    rng = np.random.default_rng(42)
    n_topics, n_tags = 400, 2000
    centroids = rng.standard_normal((n_topics, dim)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    popularity = 1 / np.arange(1, n_tags + 1) ** 0.8
    popularity /= popularity.sum()
    topic_tags = np.stack(
        [rng.choice(n_tags, size=8, replace=False, p=popularity) for _ in range(n_topics)]
    )
    tag_names = np.array([f"tag-{i:04d}" for i in range(n_tags)], dtype=object)
    event_ids = np.array([f"ev-{j:05d}" for j in range(n_events)], dtype=object)
    ts = pa.scalar(NOW, pa.timestamp("us", tz="UTC"))

    def pick_tags(topics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = topic_tags[topics[:, None], rng.integers(0, 8, size=(len(topics), 3))]
        count = rng.integers(1, 4, size=len(topics))
        keep = np.arange(3)[None, :] < count[:, None]
        keep[:, 1] &= cols[:, 1] != cols[:, 0]
        keep[:, 2] &= (cols[:, 2] != cols[:, 0]) & (cols[:, 2] != cols[:, 1])
        return tag_names[cols], keep

    step = 250_000
    for s0 in range(0, n_talks, step):
        s1 = min(s0 + step, n_talks)
        m = s1 - s0
        ids = np.array([f"talk-{i:07d}" for i in range(s0, s1)], dtype=object)
        hashes = [hashlib.sha256(t.encode()).hexdigest()[:32] for t in ids]
        topics = rng.integers(0, n_topics, size=m)
        noise = rng.standard_normal((m, dim)).astype(np.float32) * np.float32(3.6 / math.sqrt(dim))
        vec = centroids[topics] + noise
        vec /= np.linalg.norm(vec, axis=1, keepdims=True)
        titles = [f"Synthetic talk {i}" for i in range(s0, s1)]
        keys = [text_key(talk_text(t, "", max_length=encoder.max_length)) for t in titles]
        write_embeddings(lake=lake, model=model, keys=keys, vectors=vec)
        tags, keep = pick_tags(topics)
        at_event = (rng.random(m) < 0.3)[:, None]
        events = event_ids[rng.integers(0, n_events, size=m)][:, None]
        talks = pa.table(
            {
                "talk_id": pa.array(ids.tolist(), pa.string()),
                "title": pa.array(titles, pa.string()),
                "description": pa.array([""] * m, pa.string()),
                "speakers": pa.array([[]] * m, pa.list_(pa.string())),
                "tags": pa.array([[]] * m, pa.list_(pa.string())),
                "event_ids": _list_array(events, at_event),
                "language": pa.array(np.where(rng.random(m) < 0.95, "en", "es").tolist()),
                "state": pa.array(np.where(rng.random(m) < 0.9, "submitted", "rejected").tolist()),
                "submitted_at": pa.array([ts] * m),
                "updated_at": pa.array([ts] * m),
                "content_hash": pa.array(hashes, pa.string()),
                "record_hash": pa.array(hashes, pa.string()),
                "ingested_at": pa.array([ts] * m),
            }
        )
        _write(lake, "talks", talks)
        flat = np.repeat(ids, keep.sum(axis=1))
        n_pairs = len(flat)
        _write(
            lake,
            "talk_tags",
            pa.table(
                {
                    "talk_id": pa.array(flat.tolist(), pa.string()),
                    "tag": pa.array(tags[keep].tolist(), pa.string()),
                    "score": pa.array(np.ones(n_pairs)),
                    "source": pa.array(["model"] * n_pairs, pa.string()),
                    "model": pa.array(["synthetic"] * n_pairs, pa.string()),
                    "content_hash": pa.array([""] * n_pairs, pa.string()),
                    "tagged_at": pa.array([ts] * n_pairs),
                }
            ),
        )
    event_topic = rng.integers(0, n_topics, size=n_events)
    etags, ekeep = pick_tags(event_topic)
    event_tags = [list(row[k]) for row, k in zip(etags, ekeep, strict=True)]
    names = [f"Event {j}" for j in range(n_events)]
    events = pd.DataFrame(
        {
            "event_id": event_ids,
            "name": names,
            "description": "",
            "tags": event_tags,
            "starts_on": None,
            "ends_on": None,
            "record_hash": event_ids,
            "updated_at": NOW,
        }
    )
    lake.append("events", events)
    noise = rng.standard_normal((n_events, dim)).astype(np.float32) * np.float32(
        2.0 / math.sqrt(dim)
    )
    vec = centroids[event_topic] + noise
    vec /= np.linalg.norm(vec, axis=1, keepdims=True)
    texts = [event_text(n, "", t) for n, t in zip(names, event_tags, strict=True)]
    write_embeddings(lake=lake, model=model, keys=[text_key(t) for t in texts], vectors=vec)


# ---- quality -----------------------------------------------------------------------------


def ndcg_at_10(ranked: list[str], relevance: dict[str, int], ideal: list[int]) -> float:
    dcg = sum((2 ** relevance.get(t, 0) - 1) / math.log2(i + 2) for i, t in enumerate(ranked[:10]))
    idcg = sum((2**r - 1) / math.log2(i + 2) for i, r in enumerate(ideal[:10]))
    return dcg / idcg if idcg else float("nan")


def event_ranking(
    lake: Lake, talks: pd.DataFrame, tmatrix: Any, encoder: Any
) -> tuple[Any, Callable[..., pd.DataFrame]]:
    """The lake's event matrix, and `rank(settings=...)`: the events' recommendations among
    `tmatrix`'s talks under those settings, from the inputs `build_tables` ranks with."""
    from podium.recommend.build import compute_recommendations, document_frequency, event_matrix
    from podium.recommend.scoring import idf_weights

    events = lake.read("events", columns=["event_id", "name", "description", "tags"])
    events = events.sort_values("event_id").reset_index(drop=True)
    ematrix, _ = event_matrix(lake=lake, events=events, encoder=encoder)
    idf = idf_weights(document_frequency(lake=lake, talks=talks), len(talks))
    rank = functools.partial(
        compute_recommendations,
        events=ematrix,
        talks=tmatrix,
        idf=idf,
        model_version=encoder.model_version,
        computed_at=NOW,
    )
    return ematrix, rank


def quality(lake_url: str, data: dict[str, Any]) -> dict[str, Any]:
    """nDCG@10 against gold-tag overlap, for hybrid, tag overlap alone, and the original."""
    from podium.recommend.build import load_talks, talk_matrix
    from podium.recommend.config import RecommendSettings
    from podium.recommend.encoder import make_encoder

    lake = Lake(lake_url)
    settings = RecommendSettings()
    encoder = make_encoder(settings)
    talks = load_talks(lake=lake)
    tmatrix, _, _ = talk_matrix(lake=lake, talks=talks, encoder=encoder, settings=settings)
    _, rank = event_ranking(lake, talks, tmatrix, encoder)
    variants = {
        "hybrid": settings,
        "tag_overlap_only": settings.model_copy(update={"tag_weight": 1.0, "semantic_weight": 0.0}),
        "semantic_only": settings.model_copy(update={"tag_weight": 0.0, "semantic_weight": 1.0}),
    }
    lists: dict[str, dict[str, list[str]]] = {}
    for name, variant in variants.items():
        recs = rank(settings=variant)
        lists[name] = recs.groupby("event_id")["talk_id"].apply(list).to_dict()
    # The original: matching-tag count, same candidates (not at the event), ties by id.
    store = KeyValueStore(lake.read("talk_tags", columns=["talk_id", "tag"]))
    original = {}
    for event_id, etags in data["event_tags"].items():
        cand = {t for tag in etags for t in store.by_tag.get(tag, [])}
        scored = sorted(
            (-len(set(store.items[t]["tags"]) & set(etags)), t)
            for t in cand
            if event_id not in data["talk_events"][t]
        )
        original[event_id] = [t for _, t in scored[:10]]
    lists["original_tag_count"] = original
    out: dict[str, Any] = {}
    for name, by_event in lists.items():
        scores = []
        for event_id, etags in data["event_tags"].items():
            relevance = {
                t: len(set(g) & set(etags))
                for t, g in data["gold"].items()
                if g and event_id not in data["talk_events"][t]
            }
            ideal = sorted(relevance.values(), reverse=True)
            value = ndcg_at_10(by_event.get(event_id, []), relevance, ideal)
            if not math.isnan(value):
                scores.append(value)
        out[name] = {"ndcg@10": float(np.mean(scores)), "events": len(scores)}
    return out


# ---- main --------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--talks", type=int, default=14_075)
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--lake", type=str, default=None, help="lake folder (temp by default)")
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument(
        "--original-on-lake",
        type=int,
        default=5,
        help="events answered by the original algorithm over the lake",
    )
    parser.add_argument(
        "--related-sample",
        type=int,
        default=2_000,
        help="talks whose related talks are timed on synthetic data",
    )
    parser.add_argument("--synthetic", action="store_true", help="synthetic even when small")
    parser.add_argument(
        "--embedding-cache",
        type=str,
        default=None,
        help="folder keeping the embeddings table between runs (pyvideo only): the "
        "first run embeds every text (cold), later runs start warm",
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")

    root = Path(args.lake) if args.lake else Path(tempfile.mkdtemp(prefix="podium-bench-"))
    if root.exists():
        shutil.rmtree(root)
    lake = Lake(str(root))
    real = not args.synthetic and args.talks <= 14_075 and PYVIDEO.exists()
    print(
        f"== {args.talks:,} {'pyvideo' if real else 'synthetic'} talks x {args.events:,} "
        f"events; lake {root}",
        flush=True,
    )
    start = time.perf_counter()
    data = real_data(lake, args.talks, args.events) if real else None
    if not real:
        synthetic_data(lake, args.talks, args.events)
    print(
        f"set-up (writing the lake{'' if real else ' and embedding cache'}): "
        f"{time.perf_counter() - start:.1f} s",
        flush=True,
    )
    if data:
        print(
            f"talks with gold tags: {data['talks_with_gold']}; events: {data['events_with_gold']}; "
            f"records failing validation: {data['skipped']}"
        )

    cache = Path(args.embedding_cache) / "embeddings" if args.embedding_cache else None
    if real and cache is not None and cache.exists():
        shutil.copytree(cache, root / "tables" / "embeddings")
        print(f"embedding cache copied in from {cache}")

    agg = _in_child(phase_aggregate, str(root))
    print(
        f"aggregate-tags (full recount): {agg['wall_s']:.1f} s, peak {agg['peak_mb']:.0f} MB, "
        f"{agg['rows']:,} rows",
        flush=True,
    )

    overrides: dict[str, Any] = {} if real else {"related_top_k": 0}
    cold = _in_child(phase_build, str(root), overrides)
    print(
        f"precompute{' (first build)' if real else ''}: {cold['wall_s']:.1f} s, "
        f"peak {cold['peak_mb']:.0f} MB, {cold['rows']:,} recommendation rows, "
        f"{cold['related_rows']:,} related rows, embedded {cold['embedded_now']:,}, "
        f"model loaded: {cold['model_loaded']}",
        flush=True,
    )
    if real and cache is not None:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(root / "tables" / "embeddings", cache)
    if real:
        warm = _in_child(phase_build, str(root), overrides)
        print(
            f"precompute (warm: embeddings cached): {warm['wall_s']:.1f} s, "
            f"peak {warm['peak_mb']:.0f} MB, embedded {warm['embedded_now']}, "
            f"model loaded: {warm['model_loaded']}",
            flush=True,
        )
    else:
        rel = _in_child(phase_related_sample, str(root), args.related_sample)
        print(
            f"related talks for {args.related_sample:,} changed talks vs all: "
            f"{rel['wall_s']:.1f} s ({rel['wall_s'] / args.related_sample * 1000:.1f} ms/talk), "
            f"peak {rel['peak_mb']:.0f} MB",
            flush=True,
        )

    events = sorted(lake.read("events", columns=["event_id"])["event_id"])
    picks = list(
        np.random.default_rng(1).choice(events, size=min(args.lookups, len(events)), replace=False)
    )
    look = _in_child(phase_lookups, str(root), [str(e) for e in picks], args.original_on_lake)
    lk, mem = look["lookup"], look["original_in_memory"]
    print(
        f"lookup (precomputed): p50 {lk['p50_ms']:.2f} ms, p95 {lk['p95_ms']:.2f} ms over {lk['n']}"
    )
    print(
        f"original, in-memory store: p50 {mem['p50_ms']:.2f} ms, p95 {mem['p95_ms']:.2f} ms "
        f"-> ratio original/precomputed p50 {mem['p50_ms'] / lk['p50_ms']:.2f}x"
    )
    if "original_on_lake" in look:
        ol = look["original_on_lake"]
        print(
            f"original, over the lake ({ol['n']} events, {ol['reads_mean']:.0f} reads each, "
            f"{ol['extrapolated']} extrapolated): "
            f"p50 {ol['p50_ms']:.0f} ms, p95 {ol['p95_ms']:.0f} ms "
            f"-> ratio original/precomputed p50 {ol['p50_ms'] / lk['p50_ms']:.0f}x"
        )
    if data:
        q = _in_child(quality, str(root), data)
        for name, v in q.items():
            print(f"nDCG@10 {name}: {v['ndcg@10']:.3f} over {v['events']} events")
    if not args.lake:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
