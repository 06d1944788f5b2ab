"""The backfill flow on a real local Dask cluster (2 worker processes) and a real Prefect
server: sample talks imported, enriched in chunks, models loaded once per worker process."""

from __future__ import annotations

import json
from pathlib import Path

from flows.backfill import backfill_on
from podium.demo import SAMPLE_DIR
from podium.lake import Lake
from podium.vocabulary import read_vocabulary_file, save_vocabulary


def test_backfill_enriches_every_chunk_on_dask(prefect_server: str, settings, tmp_path: Path):
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    talks = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:16]
    source = tmp_path / "talks.json"
    source.write_text(json.dumps(talks), encoding="utf-8")

    summary = backfill_on(None, workers=2)(source=str(source), chunk_size=4)

    assert summary["talks"] == 16 and summary["chunks"] == 4
    assert summary["tagged"] == 16 and summary["covers"] == 16 and not summary["failed"]
    assert 2 <= summary["model_loads"] <= 4, "once per worker process, not once per chunk"
    state = lake.read("enrichment_state")
    assert (state.status == "done").sum() == 32
    assert set(lake.read("talk_images").talk_id) == {t["talk_id"] for t in talks}
