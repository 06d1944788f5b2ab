"""The model-based check in the suite: a short run of `bench/model_check.py` (the bench runs
5,000+ steps). Real: the gateway app over ASGI, the stream reader's page step, a Delta lake in
a temp folder per sequence; the reference model is the documented ordering rule."""

from __future__ import annotations

from bench.model_check import run


def test_a_short_model_based_run_finds_no_difference() -> None:
    figures = run(steps=30, per_example=15)
    assert figures["failures"] == 0, figures["shortest_failing"]
    assert figures["steps"] >= 30
    assert not [s for s in figures["statuses"] if s >= 500], figures["statuses"]
