"""The conference-series rule and series-disjoint folds. Pure functions; nothing faked."""

from __future__ import annotations

import numpy as np
import pytest

from podium.tagging.series import group_folds, series_folds, series_of


@pytest.mark.parametrize(
    ("event", "series"),
    [
        ("pycon-us-2016", "pycon-us"),
        ("pycon-us-2017", "pycon-us"),
        ("PyCon-US-2019 ", "pycon-us"),
        ("pyconau_2020", "pyconau"),
        ("pycon2010", "pycon"),
        ("djangocon-eu-2013", "djangocon-eu"),
        ("scipy-jp-2019", "scipy-jp"),
        ("pydata-new-york-city-2014", "pydata-new-york-city"),
        ("pydata-warsaw-group", "pydata-warsaw"),
        ("pydata-warsaw-2017", "pydata-warsaw"),
        ("pycon-ireland-2018", "pycon-ie"),
        ("pycon-ie-2016", "pycon-ie"),
        ("flask-conf-2018", "flaskcon"),
        ("flaskcon-2025", "flaskcon"),
        ("bostonpy", "bostonpy"),
        ("2019", "2019"),  # nothing but a year: kept, it names no series
        ("py3k-2020", "py3k"),  # a digit inside a word is not a year
    ],
)
def test_series_of_follows_the_written_rule(event: str, series: str) -> None:
    assert series_of(event) == series


def test_editions_of_one_series_share_a_fold() -> None:
    events = (
        "pycon-us-2016 pycon-us-2017 pycon-us-2019 europython-2013 europython-2016 "
        "pydata-berlin-2016 pydata-berlin-2023 scipy-2016 kiwi-pycon-2009 flaskcon-2020"
    ).split()
    fold = series_folds(events, 3)
    by_series: dict[str, set[int]] = {}
    for event, f in zip(events, fold, strict=True):
        by_series.setdefault(series_of(event), set()).add(int(f))
    assert all(len(f) == 1 for f in by_series.values())
    assert set(fold.tolist()) == {0, 1, 2}


def test_group_folds_balance_and_refuse_too_few_groups() -> None:
    groups = ["a"] * 5 + ["b"] * 3 + ["c"] * 2 + ["d"] * 2
    fold = group_folds(groups, 2)
    sizes = np.bincount(fold)
    assert sizes.sum() == 12 and abs(int(sizes[0]) - int(sizes[1])) <= 2  # greedy, balanced
    assert len({int(f) for f, g in zip(fold, groups, strict=True) if g == "a"}) == 1
    assert np.array_equal(group_folds(list(reversed(groups)), 2)[::-1], fold)  # order-free
    with pytest.raises(ValueError, match="cannot make"):
        group_folds(["a", "b"], 3)
