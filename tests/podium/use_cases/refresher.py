"""A refresher process for tests: `podium.use_cases.derived.refresh` in a loop (its lake from
PODIUM_LAKE__URL, the fake bag-of-words encoder) until the file named by argv[1] exists.

Prints `refreshes N` (those that changed something) as its last line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from podium.settings import Settings
from podium.use_cases.derived import refresh
from podium.use_cases.recommend import BuildResources
from tests.podium.recommend.lake_data import BagOfWordsEncoder


def main() -> None:
    stop = Path(sys.argv[1])
    resources = BuildResources.from_settings(Settings())
    encoder = BagOfWordsEncoder()
    changed = 0
    print("ready", flush=True)
    while not stop.exists():
        outcome = refresh(resources, encoder=encoder)
        changed += int(outcome.changed)
        time.sleep(0.02)
    print(f"refreshes {changed}", flush=True)


if __name__ == "__main__":
    main()
