"""The sample directory (podium/demo's SAMPLE_DIR) as the flow tests use it: its talks, a file of
them to ingest, and a lake holding its vocabulary."""

from __future__ import annotations

import json
from pathlib import Path

from podium.demo import SAMPLE_DIR
from podium.lake import Lake
from podium.settings import Settings
from podium.vocabulary import read_vocabulary_file, save_vocabulary


def sample_talks(n: int) -> list[dict]:
    """The first `n` sample talks, as the directory posts them."""
    return json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))[:n]


def talks_file(folder: Path, talks: list[dict]) -> Path:
    """`talks` written to `folder`/talks.json, a source to ingest."""
    source = folder / "talks.json"
    source.write_text(json.dumps(talks), encoding="utf-8")
    return source


def vocabulary_lake(settings: Settings) -> Lake:
    """The lake of `settings`, holding the sample vocabulary."""
    lake = Lake.from_settings(settings)
    save_vocabulary(lake=lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json"))
    return lake


def sample_source(settings: Settings, folder: Path, n: int) -> tuple[Lake, list[dict], Path]:
    """What an ingest test starts from: the lake of `settings` with the sample vocabulary, the
    first `n` sample talks, and the file of them in `folder`."""
    talks = sample_talks(n)
    return vocabulary_lake(settings), talks, talks_file(folder, talks)
