"""The demo directory's model tags: what the sample's non-English talks get, and how often.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/tagging_demo.py [--ids t-024,t-032,t-006]

Tags each talk of `data/sample/talks.json` against the sample vocabulary with the other 47
talks (their speaker tags) as history, as the demo's lake holds them once every talk is in,
and prints the model tags the named talks get (speaker tags in brackets) and how many talks
each model tag went to. The demo's known misses were a Japanese talk on Jupyter in class
(`databases`), a German talk on Pulumi (`flask, jupyter`) and a Spanish talk on sensor anomaly
detection (`security`).
"""

from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", default="t-024,t-032,t-006", help="talks to show")
    parser.add_argument("--set", action="append", default=[], help="setting=value override")
    parser.add_argument(
        "--sequential", action="store_true", help="history: only the talks posted before"
    )
    args = parser.parse_args()

    from podium.models import Talk
    from podium.tagging import TaggingSettings, build_history, build_tagger
    from podium.vocabulary import read_vocabulary_file

    vocabulary = read_vocabulary_file(SAMPLE / "vocabulary.json")
    raw = json.loads((SAMPLE / "talks.json").read_text(encoding="utf-8"))
    talks = [Talk.model_validate({k: v for k, v in t.items() if k != "language"}) for t in raw]
    overrides = dict(item.split("=", 1) for item in args.set)
    tagger = build_tagger(TaggingSettings(**overrides), device="cpu")
    history = build_history(talks, encoder=tagger.encoder)
    wanted = args.ids.split(",")
    counts: Counter[str] = Counter()
    for i, talk in enumerate(talks):
        # Every other talk is history (the tagger never lets a talk vote for itself), or with
        # --sequential only those posted before it, as the demo posts them one by one.
        seen = history.take(range(i)) if args.sequential else history
        assignments = tagger.tag([talk], vocabulary=vocabulary, history=seen)
        model = [a for a in assignments if a.source == "model"]
        counts.update(a.tag for a in model)
        if talk.talk_id in wanted:
            print(
                f"{talk.talk_id} {talk.title[:60]!r} [{', '.join(talk.tags)}] -> "
                + ", ".join(f"{a.tag} {a.score:.2f}" for a in model)
            )
    print("model tags over all 48 talks:", dict(counts.most_common()))


if __name__ == "__main__":
    main()
