"""What a warm executor's ledger check costs: `enrichment.claimable` against the two Delta version
reads it starts with, on a lake of N enriched talks and one pending.

    .venv/bin/python bench/ledger_check.py --talks 10000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from burst import make_talks  # noqa: E402

from podium import enrichment, ingest  # noqa: E402
from podium.demo import load_directory  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.models import Talk  # noqa: E402
from podium.recording import record_talks  # noqa: E402
from podium.settings import Settings  # noqa: E402


def _done(lake: Lake, stage: str) -> None:
    while work := enrichment.claim(
        lake=lake, stage=stage, limit=5000, max_attempts=3, lease_seconds=60
    ):
        enrichment.record(lake=lake, claim=work, done=work.talks, errors={}, max_attempts=3)


def timed(label: str, action, rounds: int = 5) -> None:  # noqa: ANN001
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    print(f"  {label:34s} " + " ".join(f"{t:6.1f}" for t in times) + " ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=1000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="podium-ledger-"))
    lake = Lake.from_settings(Settings(home=home, lake={"url": str(home / "lake")}))
    load_directory(lake=lake)
    rows = make_talks(args.talks + 1, prefix="ledger")
    for i in range(0, args.talks, 1000):
        record_talks(lake=lake, talks=[Talk.model_validate(r) for r in rows[i : i + 1000]])
    _done(lake, "tags")
    _done(lake, "image")
    record_talks(lake=lake, talks=[Talk.model_validate(rows[-1])])  # one submission pending
    print(f"{args.talks} enriched talks + 1 pending, local lake (load avg "
          f"{os.getloadavg()[0]:.1f}); 5 rounds each:")  # fmt: skip
    timed("Delta versions (ledger, talks)",
          lambda: (lake.version(enrichment.TABLE), lake.version(ingest.TALKS)))  # fmt: skip
    timed("enrichment.claimable", lambda: enrichment.claimable(lake=lake, max_attempts=3))
    timed("enrichment.outstanding", lambda: enrichment.outstanding(lake=lake, max_attempts=3))


if __name__ == "__main__":
    main()
