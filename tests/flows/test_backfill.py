"""The backfill flow on a real local Dask cluster (2 worker processes) and a real Prefect
server: sample talks imported, embedded, tagged and covered in chunks (models loaded once per
worker process), tag counts and recommendations rebuilt; the vocabulary checked before work.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from distributed import Client

from flows.backfill import LOCAL_CLUSTER, STAGES, BackfillCluster, backfill_on, split, watch
from podium.demo import SAMPLE_DIR
from podium.lake import Lake
from podium.vocabulary import VocabularyError, read_vocabulary_file, save_vocabulary


def _source(tmp_path: Path, n: int) -> Path:
    talks = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:n]
    source = tmp_path / "talks.json"
    source.write_text(json.dumps(talks), encoding="utf-8")
    return source


def test_backfill_runs_every_stage_on_dask(prefect_server: str, settings, tmp_path: Path):
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    source = _source(tmp_path, 16)
    seen: dict[str, tuple[int, int]] = {}

    with watch(lambda stage, done, total: seen.__setitem__(stage, (done, total))):
        summary = backfill_on(None, workers=2)(source=str(source), chunk_size=4, torch_threads=1)

    assert summary["talks"] == 16 and summary["chunks"] == 4
    assert summary["tagged"] == 16 and summary["covers"] == 16 and not summary["failed"]
    assert 2 <= summary["model_loads"] <= 4, "once per model and worker process, not per chunk"
    assert set(summary["stages"]) == set(STAGES)
    assert seen == {s: (16, 16) for s in ("embed", "tags", "covers")} | {
        s: (1, 1) for s in ("import", "counts", "recommendations")
    }, "every stage reported to the end"
    state = lake.read("enrichment_state")
    assert (state.status == "done").sum() == 32
    talk_ids = {t["talk_id"] for t in json.loads(source.read_text(encoding="utf-8"))}
    images = lake.read("talk_images")
    assert set(images.talk_id) == talk_ids
    assert not lake.read("tag_counts").empty, "tag counts follow the new tags"
    # A card's colours are its tags: it is drawn only after its talk's model tags were written.
    tags = lake.read("talk_tags")
    tagged_at = tags[tags.source == "model"].groupby("talk_id").tagged_at.max()
    assert len(tagged_at) >= 4, "sample talks get model tags"
    drawn_at = images.set_index("talk_id").created_at
    assert (drawn_at[tagged_at.index] >= tagged_at).all()
    assert set(summary["chunk_cpu_seconds"]) == {"embed", "tags", "covers"}
    assert all(v > 0 for v in summary["chunk_cpu_seconds"].values()), "CPU of real work"


def test_no_vocabulary_fails_before_any_work(prefect_server: str, settings, tmp_path: Path):
    lake = Lake.from_settings(settings)
    with pytest.raises(VocabularyError, match="no tag vocabulary"):
        backfill_on(None, workers=1)(source=str(_source(tmp_path, 4)), chunk_size=4)
    assert lake.read("talks").empty, "nothing was imported"


def test_chunks_are_equal_and_come_in_multiples_of_the_workers():
    ids = [f"t{i:03d}" for i in range(10)]
    assert split(ids, chunk_size=4, parallel=2) == [ids[0:3], ids[3:6], ids[6:8], ids[8:10]]
    assert split(ids, chunk_size=100, parallel=2) == [ids[:5], ids[5:]]
    assert split(ids, chunk_size=4, parallel=1) == [ids[0:4], ids[4:7], ids[7:10]]
    assert split(ids[:1], chunk_size=4, parallel=2) == [ids[:1]]
    assert split([], chunk_size=4, parallel=2) == []


def test_backfill_workers_keep_glibc_malloc_tuning(monkeypatch: pytest.MonkeyPatch):
    # Dask's nanny spawns workers with MALLOC_TRIM_THRESHOLD_=65536, which costs the encoder
    # 1.6-1.7x the CPU per text (bench/backfill_layout.py); the backfill's cluster leaves it
    # out, also when an earlier cluster copied Dask's value into this process's environment.
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with (
        BackfillCluster(n_workers=1, **LOCAL_CLUSTER) as cluster,
        Client(cluster) as client,
    ):
        seen = client.submit(lambda: {k: os.environ.get(k) for k in _ENV}, pure=False).result()
    assert seen == {"MALLOC_TRIM_THRESHOLD_": None, "OMP_NUM_THREADS": "1"}, "the rest stays"
    assert "MALLOC_TRIM_THRESHOLD_" not in os.environ


_ENV = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS")
