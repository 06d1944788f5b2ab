"""The shared pyvideo talks for benchmarks: the records Podium accepts, rejections named.

`talks.jsonl.gz` holds records a directory would refuse (e.g. an id with a space). A benchmark
reads what ingest would keep, prints each rejected record with its reason, and goes on.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError


def _find_pyvideo() -> Path:
    here = Path(__file__).resolve()
    for parent in here.parents[1:]:
        if (parent / "shared" / "data" / "pyvideo").is_dir():
            return parent / "shared" / "data" / "pyvideo"
    return here.parents[2] / "shared" / "data" / "pyvideo"


# ../shared/data/pyvideo beside the checkout, or beside a folder of worktrees holding it.
DATA = _find_pyvideo()


def bench_parser(description: str) -> argparse.ArgumentParser:
    """The command line of a bench over the pyvideo talks: `--data`, their folder. Such a bench
    runs offline (no model hub, no telemetry) unless its environment says otherwise."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data", type=Path, default=DATA)
    return parser


def load_talks(path: Path, *, vocabulary: Any) -> Any:
    """`load_labelled` of the valid records of a JSONL(.gz) file; rejections printed."""
    from podium.models import Talk
    from podium.tagging.evaluate import load_labelled

    opener = gzip.open if path.suffix == ".gz" else open
    kept: list[str] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            try:
                Talk(talk_id=str(record.get("id")), title=str(record.get("title") or "-"))
            except ValidationError as error:
                reason = error.errors()[0]["msg"]
                print(f"rejected {record.get('id')!r}: {reason}")
                continue
            kept.append(line if line.endswith("\n") else line + "\n")
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8") as valid:
        valid.writelines(kept)
        valid.flush()
        return load_labelled(valid.name, vocabulary=vocabulary)
