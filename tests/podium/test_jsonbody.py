"""Strict JSON for untrusted input (`podium.jsonbody`) and the file loaders that use it.

Real: the parser and `load_source` on files written to a temp folder.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from podium.errors import Problem
from podium.gateway.problems import http_status
from podium.jsonbody import JsonRefused, loads_strict, nesting_depth
from podium.sources import RecordError, SourceError, load_source


@pytest.mark.parametrize(
    ("body", "problem", "status", "message"),
    [
        (
            b"[" * 100_000 + b"]" * 100_000,
            Problem.UNPROCESSABLE,
            422,
            "JSON nests 100000 levels deep; at most 32 accepted",
        ),
        (b'{"a": 1, "a": 2}', Problem.UNPROCESSABLE, 422, "duplicate key 'a' in one object"),
        (
            b"[" + b"1" * 4301 + b"]",
            Problem.UNPROCESSABLE,
            422,
            "integer literal of 4301 digits; at most 100 accepted",
        ),
        (b"[1e400]", Problem.UNPROCESSABLE, 422, "number 1e400 is out of range"),
        (b"[Infinity]", Problem.MALFORMED, 400, "Infinity is not valid JSON"),
        (b"\xff", Problem.MALFORMED, 400, "body is not UTF-8"),
        (b'{"a": ', Problem.MALFORMED, 400, "body is not JSON: Expecting value at line 1 column 7"),
    ],
)
def test_refusals(body: bytes, problem: Problem, status: int, message: str) -> None:
    with pytest.raises(JsonRefused) as refused:
        loads_strict(body)
    assert (refused.value.problem, str(refused.value)) == (problem, message)
    assert http_status(refused.value) == status  # the gateway's answer, unchanged


def test_brackets_inside_strings_are_not_nesting() -> None:
    text = '{"title": "[[[[ \\" {{{{", "tags": [["a"]]}'
    assert nesting_depth(text) == 3
    assert loads_strict(text)["title"] == '[[[[ " {{{{'
    assert loads_strict("[" * 32 + "]" * 32) is not None


def test_files_are_parsed_by_the_same_rules(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(SourceError, match=r"deep\.json: JSON nests 5000 levels deep"):
        load_source(deep)
    twice = tmp_path / "twice.json"
    twice.write_text('{"talk_id": "t-1", "title": "a", "title": "b"}')
    with pytest.raises(SourceError, match="duplicate key 'title'"):
        load_source(twice)
    lines = tmp_path / "talks.jsonl.gz"
    with gzip.open(lines, "wt") as handle:
        handle.write('{"talk_id": "t-1", "title": "ok"}\n')
        handle.write('{"talk_id": "t-2", "title": "x", "n": ' + "9" * 200 + "}\n")
    result = load_source(lines)
    assert [t.talk_id for t in result.talks] == ["t-1"]
    assert result.errors == [
        RecordError("talks.jsonl.gz:2", "", "integer literal of 200 digits; at most 100 accepted")
    ]
