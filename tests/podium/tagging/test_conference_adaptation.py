"""Conference adaptation from an organiser's corrections, on the real packaged MiniLM: the
per-tag threshold moves (`conference_tag_prior`) and the conference's own neighbours
(`conference_knn_prior`). Small hand-written talks; nothing faked."""

from __future__ import annotations

import numpy as np
import pytest

from podium.tagging import TaggingSettings, build_history, build_tagger
from tests.podium.tagging.conftest import HISTORY, talk

# A conference ("zconf") whose organisers file pytest talks under "web development": they
# rejected "testing" on each and added "web development".
ZCONF = [
    ("z1", "Fixtures for Flask apps in pytest", "Testing request handlers with fixtures."),
    ("z2", "Mocking HTTP calls in your tests", "pytest and responses for API clients."),
    ("z3", "Parametrized tests for a Django site", "One test, many URLs, pytest marks."),
    ("z4", "Snapshot testing HTML templates", "pytest plugins that compare rendered pages."),
    ("z5", "Coverage for a web service", "Measuring which views the tests reach."),
    ("z6", "Browser tests with Playwright and pytest", "End-to-end tests of a web front end."),
]
NEW = talk("zn", "Testing a FastAPI service with pytest", "Fixtures, clients and tests.")


def _history(encoder, *, with_zconf: bool = True):
    talks = [talk(i, title, text, event_ids=[ev]) for i, ev, title, text, _ in HISTORY]
    labels = [tags for *_, tags in HISTORY]
    if with_zconf:
        talks += [talk(i, t, d, event_ids=["zconf-2024"]) for i, t, d in ZCONF]
        labels += [["web development"]] * len(ZCONF)
    return build_history(talks, encoder=encoder, labels=labels)


def _tagger(encoder, **overrides):
    # Each mechanism alone.
    options = {"max_tags": 2, "min_history_talks": 0, "conference_prior": 0}
    options["conference_knn_prior"] = 0
    settings = TaggingSettings(**{"conference_min_talks": 5, **options, **overrides})
    return build_tagger(settings, device="cpu", encoder=encoder)


def _at(talk_, event: str):
    return talk_.model_copy(update={"event_ids": [event]})


def test_a_rejected_tag_rises_and_an_added_one_falls_in_that_conference_only(
    encoder, vocabulary
) -> None:
    history = _history(encoder)
    names = vocabulary.names
    testing, web = names.index("testing"), names.index("web development")
    tagger = _tagger(encoder, conference_tag_prior=5)
    cut = np.full(len(names), 0.6, dtype=np.float32)
    moves = tagger.conference_tag_shifts(
        vocabulary=vocabulary, history=history, series="zconf", cut=cut
    )
    assert moves[testing] > 0.02  # given above 0.6 on a zconf talk, rejected there
    assert moves[web] < -0.1  # carried by all six, given on few at 0.6
    assert moves[names.index("databases")] == 0  # no evidence either way there
    none = tagger.conference_tag_shifts(
        vocabulary=vocabulary, history=history, series="other", cut=cut
    )
    assert not none.any()  # a conference with no labelled talks keeps its cut
    # Through `score`: only the zconf talk's thresholds move, by exactly those moves
    # (computed at the calibrated cut); the scores themselves do not change.
    plain = _tagger(encoder).score(
        [_at(NEW, "zconf-2025"), _at(NEW, "other-2025")], vocabulary=vocabulary, history=history
    )
    adapted = tagger.score(
        [_at(NEW, "zconf-2025"), _at(NEW, "other-2025")], vocabulary=vocabulary, history=history
    )
    assert plain.thresholds.ndim == 1  # nothing adapts without the setting
    np.testing.assert_allclose(adapted.scores, plain.scores, atol=1e-6)
    at_calibrated = tagger.conference_tag_shifts(
        vocabulary=vocabulary, history=history, series="zconf", cut=plain.thresholds
    )
    assert at_calibrated[testing] > 0.1
    np.testing.assert_allclose(adapted.thresholds[0], plain.thresholds + at_calibrated, atol=1e-6)
    np.testing.assert_allclose(adapted.thresholds[1], plain.thresholds, atol=1e-6)


def test_conference_neighbours_are_on_by_default_within_the_neighbour_share() -> None:
    s = TaggingSettings()  # chosen leaving each conference out (docs/tagging.md)
    assert (s.conference_knn_prior, s.conference_knn_scope) == (5, "neighbours")


def test_no_move_without_enough_talks_of_the_conference(encoder, vocabulary) -> None:
    history = _history(encoder)
    tagger = _tagger(encoder, conference_tag_prior=5, conference_min_talks=7)
    cut = tagger.calibration(vocabulary=vocabulary, history=history).thresholds
    moves = tagger.conference_tag_shifts(
        vocabulary=vocabulary, history=history, series="zconf", cut=cut
    )
    assert not moves.any()  # six talks, seven needed
    assert "conftag5" in tagger.model_version


@pytest.mark.parametrize(("prior", "scope"), [(5.0, "score"), (50.0, "score"), (5.0, "neighbours")])
def test_the_conference_s_own_talks_vote_and_never_for_themselves(
    encoder, vocabulary, prior, scope
) -> None:
    history = _history(encoder)
    web = vocabulary.names.index("web development")
    plain = _tagger(encoder).score([_at(NEW, "zconf-2025")], vocabulary=vocabulary, history=history)
    local = _tagger(encoder, conference_knn_prior=prior, conference_knn_scope=scope)
    s = local.settings
    # `neighbours`: at most the neighbour vote's share of the score.
    share = (
        1.0
        if scope == "score"
        else s.knn_weight
        / (s.label_weight + s.lexical_weight + s.prototype_weight + s.knn_weight + s.head_weight)
    )
    mixed = local.score([_at(NEW, "zconf-2025"), _at(NEW, "other-2025")], vocabulary=vocabulary,
                        history=history)  # fmt: skip
    # Its conference's six talks all carry web development: the score moves toward 1 by
    # about 6 / (6 + prior); another conference's talk is scored as before.
    weight = share * 6 / (6 + prior)
    expected = (1 - weight) * plain.scores[0, web] + weight * 1.0
    assert mixed.scores[0, web] == pytest.approx(expected, abs=1e-4)
    np.testing.assert_allclose(mixed.scores[1], plain.scores[0], atol=1e-6)
    # A zconf talk that is itself in the history is scored by the other five, not itself.
    own = history.take([i for i, t in enumerate(history.talk_ids) if t != "z1"])
    relabelled = build_history(
        [_at(talk("z1", ZCONF[0][1], ZCONF[0][2]), "zconf-2024")],
        encoder=encoder,
        labels=[["databases"]],
    )
    both = type(history).concat([own, relabelled])
    z1 = _at(talk("z1", ZCONF[0][1], ZCONF[0][2]), "zconf-2024")
    scored = local.score([z1], vocabulary=vocabulary, history=both).scores[0]
    base = _tagger(encoder).score([z1], vocabulary=vocabulary, history=both).scores[0]
    databases = vocabulary.names.index("databases")
    five = share * 5 / (5 + prior)
    assert scored[databases] == pytest.approx((1 - five) * base[databases], abs=1e-4)
    assert scored[web] == pytest.approx((1 - five) * base[web] + five, abs=1e-4)


def test_rejections_alone_raise_the_tag_for_that_conference(encoder, vocabulary) -> None:
    # The organisers only rejected "testing" on zconf's talks (the review queue's usual
    # decision): those talks carry no tag, so only the rejected tag is known on them.
    base = [talk(i, title, text, event_ids=[ev]) for i, ev, title, text, _ in HISTORY]
    zconf = [talk(i, t, d, event_ids=["zconf-2024"]) for i, t, d in ZCONF]
    history = build_history(
        base + zconf,
        encoder=encoder,
        labels=[tags for *_, tags in HISTORY] + [[] for _ in ZCONF],
        negatives={i: ("testing",) for i, *_ in ZCONF},
    )
    names = vocabulary.names
    tagger = _tagger(encoder, conference_tag_prior=5, conference_prior=10)
    cut = np.full(len(names), 0.4, dtype=np.float32)
    moves = tagger.conference_tag_shifts(
        vocabulary=vocabulary, history=history, series="zconf", cut=cut
    )
    assert moves[names.index("testing")] > 0.05
    assert not np.delete(moves, names.index("testing")).any()  # nothing known of the rest
    # The one shift of every threshold needs labelled talks; rejections alone do not move it.
    assert (
        tagger.conference_shift(vocabulary=vocabulary, history=history, series="zconf", base=0.4)
        == 0
    )
    # Without the per-tag setting, rejections do not move the conference's thresholds.
    off = _tagger(encoder, conference_prior=10).conference_tag_shifts(
        vocabulary=vocabulary, history=history, series="zconf", cut=cut
    )
    assert not off.any()
