"""podium.sources: every parser on good and bad records.

Real: the parsers, the bundled samples under data/sample/ (a DynamoDB stream and a pyvideo
folder), and files written to a temp folder (JSON, JSONL, gzip, a broken pyvideo folder).
Nothing is faked. The shared pyvideo corpus is not used: a tiny gz in its shape stands in.
"""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from podium.models import TalkState
from podium.sources import (
    RecordError,
    SourceError,
    from_dynamodb_attribute,
    load_source,
    parse_directory_body,
    parse_dynamodb_stream,
    parse_events,
    parse_jsonl,
    parse_pyvideo_folder,
)

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"


def good(talk_id: str = "t-1", **extra) -> dict:
    return {"talk_id": talk_id, "title": f"Talk {talk_id}", **extra}


# ---- (1) directory body -----------------------------------------------------------------------


def test_directory_body_one_object() -> None:
    result = parse_directory_body(good(tags=["Python"]))
    assert [t.talk_id for t in result.talks] == ["t-1"] and result.errors == []
    assert result.talks[0].tags == ["python"]


@pytest.mark.parametrize("wrap", [lambda items: items, lambda items: {"talks": items}])
def test_directory_body_list_and_talks_envelope(wrap) -> None:
    result = parse_directory_body(wrap([good("a"), good("b")]))
    assert [t.talk_id for t in result.talks] == ["a", "b"] and result.errors == []


def test_bad_records_beside_good_ones_get_precise_errors() -> None:
    body = [
        good("a"),
        {"talk_id": "b", "title": ""},
        "not a talk",
        {"title": "no id", "abstract": "x"},
        good("c", tags="python"),
        good("d", description="x" * 20_001),
        good("e"),
    ]
    result = parse_directory_body(body)
    assert [t.talk_id for t in result.talks] == ["a", "e"]
    assert result.errors == [
        RecordError("talks[1] (b)", "title", "Value error, title must not be empty"),
        RecordError("talks[2]", "", "expected an object, got a string"),
        RecordError("talks[3]", "talk_id", "required field is missing"),
        RecordError("talks[3]", "abstract", "unknown field"),
        RecordError("talks[4] (c)", "tags", "Input should be a valid list"),
        RecordError("talks[5] (d)", "description", "String should have at most 20000 characters"),
    ]
    assert str(result.errors[0]) == "talks[1] (b): title: Value error, title must not be empty"
    assert str(result.errors[1]) == "talks[2]: expected an object, got a string"


def test_an_envelope_with_other_keys_is_one_talk_not_a_list() -> None:
    result = parse_directory_body({"talks": [good()], "page": 1})
    assert result.talks == [] and {e.field for e in result.errors} >= {"talks", "page"}


# ---- (2) DynamoDB Streams -----------------------------------------------------------------------


def S(value: str) -> dict:  # noqa: N802 - DynamoDB's own type letters
    return {"S": value}


def record(event_name: str, sk: str = "talk#t-1", image: dict | None = None, **stream) -> dict:
    body: dict = {"Keys": {"pk": S("USER#1"), "sk": S(sk)}, **stream}
    if image is not None:
        body["NewImage"] = {"pk": S("USER#1"), "sk": S(sk), **image}
    return {"eventName": event_name, "dynamodb": body}


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ({"S": "x"}, "x"),
        ({"N": "3"}, 3),
        ({"N": "2.5"}, 2.5),
        ({"N": "4.0"}, 4.0),
        ({"BOOL": True}, True),
        ({"NULL": True}, None),
        ({"L": [{"S": "a"}, {"N": "1"}]}, ["a", 1]),
        ({"M": {"k": {"L": [{"BOOL": False}]}}}, {"k": [False]}),
        ({"SS": ["a", "b"]}, ["a", "b"]),
        ({"NS": ["1", "1.5"]}, [1, 1.5]),
    ],
)
def test_typed_attributes(attribute: dict, value) -> None:
    converted = from_dynamodb_attribute(attribute)
    assert converted == value and type(converted) is type(value)


@pytest.mark.parametrize("attribute", ["x", {}, {"S": "a", "N": "1"}, {"B": "AAAA"}])
def test_untyped_or_unsupported_attributes_raise(attribute) -> None:
    with pytest.raises(ValueError):
        from_dynamodb_attribute(attribute)


def test_stream_insert_modify_remove_and_other_items() -> None:
    image = {
        "title": S("Streaming joins"),
        "tags": {"SS": ["Python", "generators"]},
        "speaker": S("Ayo"),
        "eventId": S("pycon-2027"),
        "status": S("accepted"),
        "createdAt": {"N": "1799312400"},
        "gsi1pk": S("housekeeping attribute"),
        "views": {"N": "12"},
    }
    payload = {
        "Records": [
            record("INSERT", image=image),
            record(
                "MODIFY", sk="TALK#t-2", image={"title": S("Second"), "description": {"N": "7"}}
            ),
            record("REMOVE", sk="talk#t-3"),
            record("INSERT", sk="profile#u-1", image={"name": S("Ayo")}),
        ]
    }
    result = parse_dynamodb_stream(payload)
    assert result.errors == [
        RecordError("Records[1] (t-2)", "description", "Input should be a valid string")
    ]
    (talk,) = result.talks
    assert talk.talk_id == "t-1" and talk.title == "Streaming joins"
    assert talk.tags == ["python", "generators"] and talk.speakers == ["Ayo"]
    assert talk.event_ids == ["pycon-2027"] and talk.state is TalkState.accepted
    assert talk.submitted_at == datetime.fromtimestamp(1799312400, UTC)
    assert result.removed == ["t-3"]


def test_bad_stream_records_never_sink_the_others() -> None:
    payload = [
        "junk",
        {"eventName": "UPSERT", "dynamodb": {"Keys": {"sk": S("talk#x")}}},
        {"eventName": "INSERT"},
        {"eventName": "INSERT", "dynamodb": {"Keys": {"sk": "talk#raw"}}},
        record("INSERT", sk="talk#no-image"),
        record("MODIFY", sk="talk#bad-type", image={"title": {"B": "AAAA"}}),
        record("INSERT", sk="talk#bad-title", image={"title": {"N": "5"}}),
        record("INSERT", sk="talk#ok", image={"title": S("Fine")}),
    ]
    result = parse_dynamodb_stream(payload)
    assert [t.talk_id for t in result.talks] == ["ok"]
    assert [(e.record, e.field) for e in result.errors] == [
        ("Records[0]", ""),
        ("Records[1]", "eventName"),
        ("Records[2]", "dynamodb.Keys"),
        ("Records[3]", "dynamodb.Keys.sk"),
        ("Records[4] (no-image)", "dynamodb.NewImage"),
        ("Records[5] (bad-type)", "dynamodb.NewImage.title"),
        ("Records[6] (bad-title)", "title"),
    ]
    assert result.errors[1].message == "must be INSERT, MODIFY or REMOVE, got 'UPSERT'"
    assert result.errors[4].message == "required for INSERT and MODIFY"


@pytest.mark.parametrize("payload", [{"records": []}, "Records", {"Records": {"a": 1}}])
def test_stream_without_a_records_list_is_a_source_error(payload) -> None:
    with pytest.raises(SourceError, match="Records"):
        parse_dynamodb_stream(payload)


def test_the_bundled_sample_stream() -> None:
    result = load_source(SAMPLE / "dynamodb-stream.json")
    assert result.errors == [] and result.removed == ["t-d03"]
    # t-d01's INSERT and MODIFY collapse into the MODIFY, the later by sequence number.
    assert [t.talk_id for t in result.talks] == ["t-d02", "t-d01"]
    modified = result.talks[1]
    assert modified.speakers == ["Ayodele Martins", "Klara Novák"]
    assert modified.tags == ["performance", "generators"]
    assert modified.event_ids == ["pycon-lakeshore-2027"]
    assert modified._sequence == 111500000000021457881042
    assert modified.updated_at == datetime.fromtimestamp(1799398215, UTC)
    assert result.removed[0].sequence == 111600000000021457881390


def _talk_records(*changes: tuple[str, int]) -> list[dict]:
    out = []
    for event_name, sequence in changes:
        image = None if event_name == "REMOVE" else {"title": S(f"v{sequence}")}
        out.append(record(event_name, image=image, SequenceNumber=str(sequence)))
    return out


@pytest.mark.parametrize(
    ("changes", "expect"),
    [
        ([("INSERT", 1), ("MODIFY", 2), ("REMOVE", 3)], None),
        ([("REMOVE", 3), ("INSERT", 1), ("MODIFY", 2)], None),  # listed out of order
        ([("MODIFY", 2), ("REMOVE", 1)], "v2"),
        ([("INSERT", 1), ("REMOVE", 2), ("INSERT", 3)], "v3"),
        ([("MODIFY", 30), ("MODIFY", 200), ("MODIFY", 100)], "v200"),  # numeric, not text
    ],
)
def test_one_key_in_one_batch_follows_the_sequence_numbers(changes, expect) -> None:
    result = parse_dynamodb_stream(_talk_records(*changes))
    assert result.errors == []
    if expect is None:
        assert result.talks == [] and result.removed == ["t-1"]
    else:
        assert result.removed == [] and [t.title for t in result.talks] == [expect]


def test_a_bad_sequence_number_rejects_only_its_record() -> None:
    records = [
        record("INSERT", sk="talk#a", image={"title": S("A")}, SequenceNumber="12x"),
        record("INSERT", sk="talk#b", image={"title": S("B")}, SequenceNumber="13"),
    ]
    result = parse_dynamodb_stream(records)
    assert [t.talk_id for t in result.talks] == ["b"]
    assert [(e.record, e.field) for e in result.errors] == [
        ("Records[0] (a)", "dynamodb.SequenceNumber")
    ]


# ---- (3) JSONL ----------------------------------------------------------------------------------

PYVIDEO_LINES = [
    {
        "id": "bostonpy/testing-the-hard-stuff",
        "event": "bostonpy",
        "title": "How to test the hard stuff",
        "description": "Stubbing networks.\n\nBoston Python Meetup",
        "speakers": ["Stephan Richter"],
        "tags": ["Testing", "", "unittest"],
        "recorded": "2010-05-19",
        "language": "eng",
    },
    {
        "id": "pycon/unknown-speaker",
        "event": "pycon",
        "title": "Lightning talks",
        "description": None,
        "speakers": ["", "Ann Lee"],
        "tags": None,
        "language": None,
    },
    {"id": "pycon/untitled", "event": "pycon", "title": None},
]


def write_gz(path: Path, lines: list[str]) -> Path:
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def test_jsonl_with_blank_lines_and_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "talks.jsonl"
    path.write_text(
        "\n".join([json.dumps(good("a")), "", "   ", "{not json", json.dumps(good("b")), "[1]"])
        + "\n",
        encoding="utf-8",
    )
    result = parse_jsonl(path)
    assert [t.talk_id for t in result.talks] == ["a", "b"]
    assert [(e.record, e.message) for e in result.errors] == [
        ("talks.jsonl:4", "not JSON (Expecting property name enclosed in double quotes)"),
        ("talks.jsonl:6", "expected an object, got a list"),
    ]


def test_pyvideo_shaped_gzipped_jsonl(tmp_path: Path) -> None:
    path = write_gz(tmp_path / "talks.jsonl.gz", [json.dumps(line) for line in PYVIDEO_LINES])
    result = load_source(path)
    first, second = result.talks
    assert first.talk_id == "bostonpy/testing-the-hard-stuff"
    assert first.event_ids == ["bostonpy"] and first.language == "eng"
    assert first.tags == ["testing", "unittest"] and first.state is TalkState.published
    assert second.speakers == ["Ann Lee"] and second.description == "" and second.language == "en"
    assert result.errors == [
        RecordError("talks.jsonl.gz:3", "title", "Input should be a valid string")
    ]


def test_jsonl_line_of_bad_bytes_is_one_rejected_record(tmp_path: Path) -> None:
    path = tmp_path / "talks.jsonl"
    path.write_bytes(
        json.dumps(good("a")).encode() + b"\n\xff\xfe\n" + json.dumps(good("b")).encode()
    )
    result = parse_jsonl(path)
    assert [t.talk_id for t in result.talks] == ["a", "b"]
    assert result.errors == [RecordError("talks.jsonl:2", "", "not UTF-8 text")]


def test_unreadable_gzip_is_a_source_error(tmp_path: Path) -> None:
    not_gzip = tmp_path / "plain.jsonl.gz"
    not_gzip.write_text(json.dumps(good()), encoding="utf-8")
    with pytest.raises(SourceError, match="plain.jsonl.gz: unreadable"):
        parse_jsonl(not_gzip)
    whole = write_gz(tmp_path / "whole.jsonl.gz", [json.dumps(good(str(i))) for i in range(50)])
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(whole.read_bytes()[:-12])
    with pytest.raises(SourceError, match="truncated.jsonl.gz: unreadable"):
        parse_jsonl(truncated)


def test_missing_jsonl_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        parse_jsonl(tmp_path / "nope.jsonl")


# ---- (4) pyvideo folder -------------------------------------------------------------------------


def test_the_bundled_pyvideo_folder() -> None:
    result = parse_pyvideo_folder(SAMPLE / "pyvideo")
    assert result.errors == []
    assert [(e.event_id, e.name) for e in result.events] == [
        ("euroscipy-2027", "EuroSciPy 2027"),
        ("pybay-2027", "PyBay 2027"),
    ]
    assert len(result.talks) == 6
    sparse = next(
        t for t in result.talks if t.talk_id.endswith("sparse-arrays-for-single-cell-data")
    )
    assert sparse.talk_id == "euroscipy-2027/sparse-arrays-for-single-cell-data"
    assert sparse.event_ids == ["euroscipy-2027"] and sparse.tags == ["scipy", "bioinformatics"]
    assert sparse.speakers == ["Astrid Holmberg"] and sparse.state is TalkState.published


def test_pyvideo_folder_with_broken_files(tmp_path: Path) -> None:
    root = tmp_path / "pyvideo"
    shutil.copytree(SAMPLE / "pyvideo" / "pybay-2027", root / "pybay-2027")
    videos = root / "pybay-2027" / "videos"
    (videos / "broken.json").write_text('{"title": "half', encoding="utf-8")
    (videos / "list.json").write_text("[]", encoding="utf-8")
    (videos / "binary.json").write_bytes(b"\xff\xfe\x00")
    (videos / "no-title.json").write_text('{"speakers": ["A"]}', encoding="utf-8")
    (videos / "no-slug.json").write_text('{"title": "Named by its file"}', encoding="utf-8")
    bad_event = root / "bad-event"
    (bad_event / "videos").mkdir(parents=True)
    (bad_event / "category.json").write_text("[]", encoding="utf-8")
    (bad_event / "videos" / "ok.json").write_text('{"title": "Still read"}', encoding="utf-8")

    result = parse_pyvideo_folder(root)
    ids = {t.talk_id for t in result.talks}
    assert len(ids) == 5
    assert {
        "pybay-2027/no-slug",
        "bad-event/ok",
        "pybay-2027/retry-budgets-for-http-clients",
    } <= ids
    assert [e.event_id for e in result.events] == ["pybay-2027"]
    assert sorted((e.record, e.field, e.message) for e in result.errors) == [
        ("bad-event/category.json", "", "'list' object has no attribute 'get'"),
        ("pybay-2027/videos/binary.json", "", "not UTF-8 text"),
        ("pybay-2027/videos/broken.json", "", "not JSON (Unterminated string starting at)"),
        ("pybay-2027/videos/list.json", "", "expected an object"),
        ("pybay-2027/videos/no-title.json", "title", "Input should be a valid string"),
    ]


def test_pyvideo_folder_must_exist(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such folder"):
        parse_pyvideo_folder(tmp_path / "nope")


# ---- events and load_source dispatch ------------------------------------------------------------


def test_parse_events() -> None:
    result = parse_events(
        [
            {"event_id": "e1", "name": "PyCon"},
            {"event_id": "e2"},
            {"event_id": "e3", "name": "x", "starts_on": "2027-05-02", "ends_on": "2027-05-01"},
        ]
    )
    assert [e.event_id for e in result.events] == ["e1"]
    assert [(e.record, e.field) for e in result.errors] == [
        ("events[1]", "name"),
        ("events[2]", "(record)"),
    ]


def test_bundled_events_parse() -> None:
    items = json.loads((SAMPLE / "events.json").read_text(encoding="utf-8"))
    result = parse_events(items)
    assert result.errors == [] and len(result.events) >= 4


def test_load_source_dispatch(tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text(json.dumps([good("a"), good("b")]), encoding="utf-8")
    assert [t.talk_id for t in load_source(body).talks] == ["a", "b"]
    stream = tmp_path / "stream.json"
    stream.write_text(json.dumps({"Records": [record("REMOVE")]}), encoding="utf-8")
    assert load_source(stream).removed == ["t-1"]
    lines = tmp_path / "talks.ndjson"
    lines.write_text(json.dumps(good("c")) + "\n", encoding="utf-8")
    assert [t.talk_id for t in load_source(lines).talks] == ["c"]
    assert len(load_source(SAMPLE / "pyvideo").events) == 2
    assert len(load_source(SAMPLE / "talks.json").talks) >= 40


def test_load_source_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"missing\.json: no such file or folder"):
        load_source(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"talk_id": ', encoding="utf-8")
    with pytest.raises(SourceError, match=r"broken\.json: not JSON \(Expecting value at line 1\)"):
        load_source(broken)
    binary = tmp_path / "cover.json"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    with pytest.raises(SourceError, match=r"cover\.json: not JSON"):
        load_source(binary)
