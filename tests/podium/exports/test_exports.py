"""Schedule exports: frab XML checked with xmlschema against the voc XSD as published, frab
JSON with jsonschema against the voc JSON Schema as published, iCalendar parsed by
`icalendar`, Podium's JSON against the schema it publishes (docs/schemas/); the command and the
gateway route on a real lake with real title-card covers.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import icalendar
import jsonschema
import pandas as pd
import pytest
import xmlschema
from typer.testing import CliRunner

from podium.exports.config import ExportSettings
from podium.exports.export import export_event
from podium.exports.schedule import NothingScheduledError, talk_guid
from podium.images.card import CardBackend
from podium.images.storage import store_covers
from podium.ingest import record_events
from podium.lake import Lake
from podium.lake.recommendations import write_related
from podium.models import Event, TagAssignment, Talk
from podium.recording import record_talks
from podium.talk_tags import write_tags

ROOT = Path(__file__).resolve().parents[3]
FRAB = ROOT.parent / "shared" / "fixtures" / "frab"
if not FRAB.exists():  # a worktree: /work/wt/<name> -> /work/shared
    FRAB = ROOT.parent.parent / "shared" / "fixtures" / "frab"
XSD = FRAB / "voc-schedule__validator_xsd_schedule.xml.xsd"
FRAB_SCHEMA = FRAB / "voc-schedule__validator_json_schema.json"
PODIUM_SCHEMA = ROOT / "docs" / "schemas" / "podium-export.schema.json"
NOW = datetime(2027, 4, 1, 12, 0, tzinfo=UTC)


def _talk(talk_id: str, title: str, speakers: list[str], slot: tuple[str, str, str] | None, **kw):
    data = {
        "talk_id": talk_id,
        "title": title,
        "description": f"First paragraph of {title}; with, commas.\n\nMore detail.",
        "speakers": speakers,
        "tags": kw.pop("tags", ["python"]),
        "event_ids": kw.pop("event_ids", ["democon-2027"]),
        "state": kw.pop("state", "published"),
    }
    if slot:
        data["slot"] = {"start": slot[0], "end": slot[1], "room": slot[2]}
    return Talk.model_validate(data)


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    lake = Lake(str(tmp_path / "lake"))
    record_events(
        lake=lake,
        events=[
            Event(event_id="democon-2027", name="DemoCon 2027", tags=["security", "data"]),
            Event(event_id="empty", name="Nothing scheduled"),
        ],
    )
    talks = [
        _talk(
            "t-1",
            "Securing Python services",
            ["Ada"],
            ("2027-05-01T09:00:00+02:00", "2027-05-01T09:45:00+02:00", "Hall A"),
            tags=["security", "python"],
        ),
        _talk(
            "t-2",
            "Pandas at scale",
            ["Grace"],
            ("2027-05-01T09:00:00+02:00", "2027-05-01T10:00:00+02:00", "Hall B"),
        ),
        _talk(
            "t-3",
            "Data pipelines — ünïcödé, long title " + "x" * 80,
            ["Ada", "Linus"],
            ("2027-05-02T14:00:00+02:00", "2027-05-02T14:30:00+02:00", "Hall A"),
        ),
        _talk("t-4", "Unscheduled workshop", ["Barbara"], None),
        _talk("t-5", "Rejected talk", ["Zed"], None, state="rejected"),
        _talk("other-1", "A talk at another event", ["Ken"], None, event_ids=["elsewhere"]),
    ]
    record_talks(lake=lake, talks=talks)
    write_tags(
        lake=lake,
        talk_ids=["t-1", "t-2"],
        assignments=[
            TagAssignment(
                talk_id="t-2", tag="data", score=0.9, source="model", model="m", tagged_at=NOW
            ),
            TagAssignment(
                talk_id="t-1", tag="web", score=0.7, source="model", model="m", tagged_at=NOW
            ),
        ],
    )
    related = pd.DataFrame(
        {
            "talk_id": ["t-1", "t-1", "t-2"],
            "rank": [1, 2, 1],
            "other_id": ["t-3", "other-1", "t-3"],
            "score": [0.8, 0.7, 0.6],
            "computed_at": NOW,
        }
    )
    write_related(lake=lake, rows=related)
    covers = CardBackend().render(talks[:3], tags={})
    store_covers(lake=lake, covers=covers)
    return lake


def _export(lake: Lake, fmt: str, event_id: str = "democon-2027", **settings) -> bytes:
    return export_event(
        lake=lake, event_id=event_id, fmt=fmt, settings=ExportSettings(**settings), now=NOW
    )


def test_frab_xml_validates_against_the_voc_xsd(lake: Lake) -> None:
    data = _export(lake, "frab-xml", time_zone="Europe/Berlin")
    schema = xmlschema.XMLSchema(str(XSD))
    schema.validate(data.decode())  # raises with the reason when invalid
    tree = schema.to_dict(data.decode())
    days = tree["day"]
    assert [d["@date"] for d in days] == ["2027-05-01", "2027-05-02"]
    assert days[0]["@start"] == "2027-05-01T09:00:00+02:00"
    rooms = {r["@name"]: r for r in days[0]["room"]}
    first = rooms["Hall A"]["event"][0]
    assert first["@guid"] == talk_guid("t-1") and first["start"] == "09:00"
    assert first["duration"] == "00:45" and first["track"] == "security"
    assert "Tags: security, python, web" in first["description"]
    links = first["links"]["link"]
    assert [(link["@type"], link["$"]) for link in links] == [
        ("related", "Data pipelines — ünïcödé, long title " + "x" * 80),
        ("related", "A talk at another event"),
    ]
    assert links[0]["@href"] == f"urn:uuid:{talk_guid('t-3')}"
    titles = {e["title"] for d in days for r in d["room"] for e in r["event"]}
    assert "Unscheduled workshop" not in titles and "Rejected talk" not in titles


def test_frab_json_validates_against_the_voc_json_schema(lake: Lake) -> None:
    data = json.loads(
        _export(lake, "frab-json", talk_url="https://dir.example.org/talks/{talk_id}")
    )
    schema = json.loads(FRAB_SCHEMA.read_text())
    jsonschema.Draft6Validator(schema, format_checker=jsonschema.FormatChecker()).validate(data)
    conference = data["schedule"]["conference"]
    assert conference["acronym"] == "democon_2027" and conference["daysCount"] == 2
    hall_a = conference["days"][0]["rooms"]["Hall A"][0]
    assert hall_a["url"] == "https://dir.example.org/talks/t-1"
    assert hall_a["links"][0] == {
        "type": "related",
        "url": "https://dir.example.org/talks/t-3",
        "title": "Data pipelines — ünïcödé, long title " + "x" * 80,
    }
    assert [p["name"] for p in conference["days"][1]["rooms"]["Hall A"][0]["persons"]] == [
        "Ada",
        "Linus",
    ]


def test_a_broken_export_fails_the_schemas(lake: Lake) -> None:
    # The checks can fail: the same export with a required element removed is refused.
    xml = _export(lake, "frab-xml").decode().replace("<duration>00:45</duration>", "")
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        xmlschema.XMLSchema(str(XSD)).validate(xml)
    data = json.loads(_export(lake, "frab-json"))
    del data["schedule"]["conference"]["days"][0]["rooms"]["Hall A"][0]["guid"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, json.loads(FRAB_SCHEMA.read_text()))


def test_ics_parses_in_icalendar(lake: Lake) -> None:
    data = _export(lake, "ics")
    assert all(len(line) <= 75 for line in data.split(b"\r\n"))  # folded
    calendar = icalendar.Calendar.from_ical(data)
    events = {str(e["SUMMARY"]): e for e in calendar.walk("VEVENT")}
    assert len(events) == 3
    first = events["Securing Python services"]
    assert first.decoded("DTSTART") == datetime(2027, 5, 1, 7, 0, tzinfo=UTC)
    assert first.decoded("DTEND") == datetime(2027, 5, 1, 7, 45, tzinfo=UTC)
    assert str(first["LOCATION"]) == "Hall A"
    assert list(first["CATEGORIES"].cats) == ["security", "python", "web"]
    assert str(first["UID"]) == f"{talk_guid('t-1')}@podium"
    related = first["RELATED-TO"]
    assert [str(r) for r in (related if isinstance(related, list) else [related])] == [
        f"{talk_guid('t-3')}@podium",
        f"{talk_guid('other-1')}@podium",
    ]
    description = str(first["DESCRIPTION"])
    assert "First paragraph of Securing Python services; with, commas." in description
    assert "Related talks: Data pipelines" in description
    long = events["Data pipelines — ünïcödé, long title " + "x" * 80]
    assert str(long["X-PODIUM-COVER-ALT"]).startswith("Title card for the talk")


def test_json_validates_against_the_published_schema_with_alt_text(lake: Lake) -> None:
    data = json.loads(_export(lake, "json"))
    schema = json.loads(PODIUM_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        data
    )
    by_id = {t["talk_id"]: t for t in data["talks"]}
    assert list(by_id) == ["t-1", "t-2", "t-3", "t-4"]  # scheduled by time, then the rest
    assert by_id["t-4"]["slot"] is None and by_id["t-4"]["cover"] is None
    assert by_id["t-1"]["slot"] == {
        "start": "2027-05-01T07:00:00+00:00",
        "end": "2027-05-01T07:45:00+00:00",
        "room": "Hall A",
    }
    assert by_id["t-2"]["tags"] == ["python", "data"]
    assert [r["talk_id"] for r in by_id["t-1"]["related"]] == ["t-3", "other-1"]
    for talk_id in ("t-1", "t-2", "t-3"):
        alt = by_id[talk_id]["cover"]["alt_text"]
        assert alt.startswith("Title card for the talk “") and "tags" in alt
    broken = json.loads(json.dumps(data))
    broken["talks"][0]["cover"]["alt_text"] = ""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_unknown_event_unknown_format_and_nothing_scheduled(lake: Lake) -> None:
    from podium.exports.export import UnknownFormatError
    from podium.exports.schedule import UnknownEventError

    with pytest.raises(UnknownEventError):
        _export(lake, "json", event_id="nope")
    with pytest.raises(UnknownFormatError):
        _export(lake, "pdf")
    with pytest.raises(NothingScheduledError):
        _export(lake, "frab-xml", event_id="empty")
    assert json.loads(_export(lake, "json", event_id="empty"))["talks"] == []


def test_the_command_and_the_gateway_serve_the_same_export(
    lake: Lake, settings, monkeypatch
) -> None:
    from podium.cli import app
    from podium.gateway import running_gateway
    from podium.settings import Settings, get_settings

    monkeypatch.setenv("PODIUM_LAKE__URL", lake.url)
    get_settings.cache_clear()
    settings = Settings()
    out = Path(lake.url).parent / "democon.xml"
    result = CliRunner().invoke(
        app, ["export", "democon-2027", "--format", "frab-xml", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    xmlschema.XMLSchema(str(XSD)).validate(out.read_text())
    bad = CliRunner().invoke(app, ["export", "democon-2027", "--format", "pdf"])
    assert bad.exit_code != 0
    with running_gateway(settings, port=0) as url:
        answer = httpx.get(url + "/events/democon-2027/export.frab-xml")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(
            "application/xml"
        )
        assert answer.content == out.read_bytes()
        ics = httpx.get(url + "/events/democon-2027/export.ics")
        assert ics.headers["content-type"].startswith("text/calendar")
        assert len(icalendar.Calendar.from_ical(ics.content).walk("VEVENT")) == 3
        assert httpx.get(url + "/events/nope/export.json").status_code == 404
        assert httpx.get(url + "/events/democon-2027/export.pdf").status_code == 404
        assert httpx.get(url + "/events/empty/export.ics").status_code == 409
        assert httpx.post(url + "/events/democon-2027/export.json").status_code == 405
    get_settings.cache_clear()


def test_the_gateway_renders_an_export_once_per_index_then_sends_it_as_kept(
    lake: Lake, settings
) -> None:
    """With the read cache the first request in an index renders the export, later ones are
    sent as kept (the read fast path), with the route's headers, an ETag and 304."""
    from contextlib import ExitStack

    from podium.gateway import running_gateway

    def gateway(poll_s: float) -> Any:
        gateway = settings.gateway.model_copy(update={"read_cache_s": poll_s})
        return running_gateway(settings.model_copy(update={"gateway": gateway}), port=0)

    with ExitStack() as stack:
        today, url = stack.enter_context(gateway(0)), stack.enter_context(gateway(0.05))
        path = "/events/democon-2027/export.ics"
        deadline = time.monotonic() + 20
        while "etag" not in httpx.get(url + path).headers:
            assert time.monotonic() < deadline, "the read cache built no index"
            time.sleep(0.05)
        kept = httpx.get(url + path)
        reference = httpx.get(today + path)
        assert kept.status_code == 200 and "etag" not in reference.headers
        for header in ("content-type", "content-disposition"):
            assert kept.headers[header] == reference.headers[header]
        assert len(icalendar.Calendar.from_ical(kept.content).walk("VEVENT")) == 3
        again = httpx.get(url + path, headers={"If-None-Match": kept.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert httpx.get(url + "/events/nope/export.ics").status_code == 404
        assert httpx.get(url + "/events/empty/export.ics").status_code == 409
