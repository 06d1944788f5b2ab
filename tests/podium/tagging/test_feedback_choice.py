"""`choose_by_other_conferences`: the feedback curve's leave-one-conference-out choice of a
setting. Plain data; nothing faked."""

from __future__ import annotations

from podium.tagging.feedback_curve import CurvePoint, CurveReport, choose_by_other_conferences


def test_each_conference_gets_the_setting_that_taught_most_on_the_others() -> None:
    def report(gains: dict[str, float]) -> CurveReport:
        points = [
            CurvePoint(c, s, k, 20, 0.5 + g, 0.8, 0.5, 0.8)
            for c, g in gains.items()
            for s in ("uncertainty", "random")
            for k in (0, 10, 25)
        ]
        for p in points:
            if p.k == 0:
                p.micro_f1 = p.base_f1
        return CurveReport(points=points, conferences={c: 40 for c in gains})

    # "local" teaches much on a and b, hurts c; "plain" teaches a little everywhere.
    reports = {
        "plain": report({"a": 0.02, "b": 0.02, "c": 0.02}),
        "local": report({"a": 0.10, "b": 0.10, "c": -0.20}),
    }
    picks, nested = choose_by_other_conferences(reports)
    # c's own curve never decides c's pick: on a and b "local" wins, so c gets it (and loses).
    assert picks == {"a": "plain", "b": "plain", "c": "local"}
    assert {(p.series, p.micro_f1) for p in nested.points if p.k == 25} == {
        ("a", 0.52),
        ("b", 0.52),
        ("c", 0.3),
    }
    assert nested.summary()["uncertainty"][25]["conferences"] == 3


def test_a_report_survives_its_json() -> None:
    import json

    points = [
        CurvePoint("a", "random", 0, 30, 0.55, 0.6, 0.55, 0.6),
        CurvePoint("a", "random", 10, 20, 0.61, 0.7, 0.55, 0.65),
    ]
    report = CurveReport(points=points, conferences={"a": 40}, model_version="v")
    again = CurveReport.from_dict(json.loads(json.dumps(report.as_dict())))
    assert again.points == points and again.conferences == {"a": 40}
    assert again.model_version == "v"
