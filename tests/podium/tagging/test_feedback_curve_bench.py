"""bench/feedback_curve.py at a tiny size: the real tagger and pyvideo's labelled file (first
80 talks, embedded now), two steps. Skipped where the shared data is absent."""

from __future__ import annotations

import pytest

from bench.feedback_curve import DATA, main


@pytest.mark.skipif(not (DATA / "tagging-eval.json").exists(), reason="no shared pyvideo data")
def test_the_curve_bench_runs_and_reports_both_strategies(capsys) -> None:
    out = main(
        ["--limit", "80", "--encode", "--min-talks", "8", "--steps", "0,5",
         "--min-remaining", "3"]
    )  # fmt: skip
    points = out["points"]
    assert {p["strategy"] for p in points} == {"uncertainty", "random"}
    assert {p["k"] for p in points} == {0, 5}
    for p in points:
        assert 0 <= p["micro_f1"] <= 1 and p["remaining"] >= 3
        if p["k"] == 0:  # no correction yet: the same talks, the same tagger
            assert p["micro_f1"] == p["base_f1"]
    assert "| strategy | k |" in capsys.readouterr().out


@pytest.mark.skipif(not (DATA / "tagging-eval.json").exists(), reason="no shared pyvideo data")
def test_the_bench_chooses_a_setting_per_conference_on_the_others(tmp_path, capsys) -> None:
    args = ["--limit", "80", "--encode", "--min-talks", "8", "--steps", "0,5", "--min-remaining",
            "3", "--strategies", "random"]  # fmt: skip
    main([*args, "--json", str(tmp_path / "off.json")])
    main([*args, "--conference-knn-prior", "5", "--json", str(tmp_path / "local.json")])
    out = main(["--choose", str(tmp_path / "off.json"), str(tmp_path / "local.json")])
    conferences = out["nested"]["conferences"]
    assert conferences and set(out["picks"]) == set(conferences)
    assert set(out["picks"].values()) <= {"off", "local"}
    assert "picked on the other conferences" in capsys.readouterr().out
