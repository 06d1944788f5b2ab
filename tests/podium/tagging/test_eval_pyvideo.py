"""The quality target on real data: event-disjoint 5-fold on ../shared/data/pyvideo's
tagging-eval.json with the real packaged MiniLM and default settings. Nothing is faked.
Slow (embeds 850 talks, calibrates five folds); skipped where the data set is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.tagging import TaggingSettings, build_tagger
from podium.tagging.evaluate import evaluate_folds, load_labelled

DATA = Path(__file__).resolve().parents[4] / "shared" / "data" / "pyvideo" / "tagging-eval.json"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.exists(), reason="pyvideo data set not present"),
]


def test_default_tagger_meets_the_quality_target() -> None:
    tagger = build_tagger(TaggingSettings(), device="cpu")
    report = evaluate_folds(tagger, load_labelled(DATA), folds=5)
    assert report.talks == 850
    assert report.micro_f1 >= 0.65
    assert report.precision_at_1 >= 0.72
