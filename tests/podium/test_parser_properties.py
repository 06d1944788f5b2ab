"""Property-based tests (hypothesis) of every parser of untrusted input: each is total — it
returns a result or raises its one documented error, never anything else — and the safety
rules hold for every generated input.

Real: the parsers, models and signature checks themselves; inputs are generated.
"""

from __future__ import annotations

import json
import math
import string
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.errors import Problem
from podium.gateway.problems import http_status
from podium.gateway.signatures import (
    SignatureError,
    Verified,
    sign,
    standard_headers,
    verify_request,
)
from podium.jsonbody import JsonRefused, loads_strict, nesting_depth
from podium.models import check_identifier, storage_segment
from podium.review.config import ReviewSettings
from podium.review.models import PushEvent
from podium.review.payloads import (
    Ignored,
    WebhookError,
    parse_forge,
    parse_generic,
)
from podium.sources import (
    ParseResult,
    SourceError,
    from_dynamodb_attribute,
    parse_directory_body,
    parse_dynamodb_stream,
)

# Modest counts keep `make test` quick on 2 cores; bench/fuzz.py runs the long campaign.
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)

# DynamoDB typed attributes, well- and ill-formed, to reach past the first checks.
type_letters = st.sampled_from(["S", "N", "BOOL", "NULL", "L", "M", "SS", "NS", "B", "BS", "X"])
attributes = st.recursive(
    st.builds(
        lambda k, v: {k: v},
        type_letters,
        scalars | st.just("1685577600000") | st.just("NaN") | st.just("1e20"),
    ),
    lambda inner: (
        st.builds(lambda v: {"L": v}, st.lists(inner, max_size=3))
        | st.builds(lambda v: {"M": v}, st.dictionaries(st.text(max_size=5), inner, max_size=3))
    ),
    max_leaves=10,
)
talk_fields = st.sampled_from(
    [
        "title",
        "description",
        "tags",
        "speaker",
        "speakers",
        "eventId",
        "status",
        "createdAt",
        "updatedAt",
        "language",
        "other",
        "blob",
    ]
)
sort_keys = st.one_of(
    st.builds(lambda s: "talk#" + s, st.text(max_size=30)),
    st.sampled_from(["talkTag#ai", "TALK_COUNT", "TALK#t-1", "talk#../x", "talk#"]),
    st.text(max_size=12),
)
stream_records = (
    st.fixed_dictionaries(
        {
            "eventName": st.sampled_from(["INSERT", "MODIFY", "REMOVE", "UPSERT"]) | scalars,
            "dynamodb": st.fixed_dictionaries(
                {
                    "Keys": st.fixed_dictionaries({"sk": st.builds(lambda s: {"S": s}, sort_keys)})
                    | st.dictionaries(st.text(max_size=4), attributes, max_size=2),
                    "NewImage": st.dictionaries(talk_fields, attributes, max_size=6) | scalars,
                }
            )
            | json_values,
        }
    )
    | json_values
)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


# ---- strict JSON ---------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_loads_strict_is_total_on_any_bytes(body: bytes) -> None:
    try:
        loads_strict(body)
    except JsonRefused as refused:
        assert refused.problem in (Problem.MALFORMED, Problem.UNPROCESSABLE)
        assert http_status(refused) in (400, 422)


@FAST
@given(json_values)
def test_loads_strict_round_trips_and_measures_depth(value: Any) -> None:
    text = json.dumps(value)
    assert nesting_depth(text) == _depth(value)
    assert loads_strict(text.encode()) == value


@FAST
@given(st.integers(min_value=0, max_value=400), st.sampled_from(["[", '{"a":']))
def test_depth_limit_holds_for_any_nesting(levels: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    text = opener * levels + "1" + closer * levels
    if levels > 32:
        with pytest.raises(JsonRefused, match="nests"):
            loads_strict(text)
    else:
        loads_strict(text)


# ---- identifiers ---------------------------------------------------------------------------


@FAST
@given(st.text(max_size=60) | st.text(alphabet="./\\%a\x00", max_size=12))
def test_ids_are_valid_or_refused_and_storage_segments_never_climb(value: str) -> None:
    segment = storage_segment(value)
    assert "/" not in segment and "\\" not in segment and "\x00" not in segment
    assert segment not in ("", ".", "..")
    try:
        check_identifier(value)
    except ValueError as error:
        assert "an id must be" in str(error)
        return
    assert ".." not in value.split("/") and not value.startswith("/")
    assert not any(c.isspace() or c in "\\%\x00" for c in value)


# ---- talk parsers -------------------------------------------------------------------------


@FAST
@given(
    json_values
    | st.lists(
        st.dictionaries(
            st.sampled_from(["talk_id", "title", "speakers", "tags", "event_ids", "state"]),
            json_values,
            max_size=6,
        ),
        max_size=3,
    )
)
def test_directory_body_parser_is_total(body: Any) -> None:
    result = parse_directory_body(body)
    assert isinstance(result, ParseResult)
    for talk in result.talks:
        check_identifier(talk.talk_id)


@FAST
@given(json_values)
def test_dynamodb_attribute_conversion_raises_only_value_error(value: Any) -> None:
    try:
        converted = from_dynamodb_attribute(value)
    except ValueError:
        return
    if isinstance(converted, float):
        assert math.isfinite(converted)


@FAST
@given(st.lists(stream_records, max_size=5) | json_values)
def test_dynamodb_stream_parser_is_total(records: Any) -> None:
    payload = {"Records": records} if isinstance(records, list) else records
    try:
        result = parse_dynamodb_stream(payload)
    except SourceError:
        return
    handled = len(result.talks) + len(result.removed) + len(result.skipped)
    assert handled + len({e.record for e in result.errors}) >= len(result.talks)
    for talk_id in [t.talk_id for t in result.talks] + result.removed:
        check_identifier(talk_id)
    for skipped in result.skipped:
        assert skipped.message


# ---- git push parsers ----------------------------------------------------------------------

REVIEW = ReviewSettings(
    repos=[{"name": "app", "url": "https://github.com/acme/app.git", "aliases": ["acme/app"]}]
)
shas = st.text(alphabet="0123456789abcdef", min_size=40, max_size=40) | scalars
push_bodies = st.fixed_dictionaries(
    {
        "ref": st.sampled_from(["refs/heads/main", "refs/tags/v1"]) | scalars,
        "before": shas,
        "after": shas,
        "repository": st.fixed_dictionaries({"full_name": st.just("acme/app") | scalars})
        | st.just("acme/app")
        | scalars,
        "project": st.fixed_dictionaries({"path_with_namespace": st.just("acme/app") | scalars})
        | scalars,
        "pusher": json_values,
        "object_kind": st.just("push") | scalars,
        "event_name": st.sampled_from(["push", "tag_push"]) | scalars,
    }
) | st.dictionaries(st.text(max_size=10), json_values)


@FAST
@given(push_bodies, st.sampled_from(["push", "ping", None, "Push Hook", "System Hook", "x"]))
def test_git_push_parsers_are_total(body: dict, event: str | None) -> None:
    now = datetime.now(UTC)
    parsers = [
        lambda: parse_forge(
            "github", body, event=event, delivery_id="d", review=REVIEW, received_at=now
        ),
        lambda: parse_forge(
            "gitlab", body, event=event, delivery_id="d", review=REVIEW, received_at=now
        ),
        lambda: parse_generic(body, review=REVIEW, received_at=now),
    ]
    for parse in parsers:
        try:
            parsed = parse()
        except WebhookError as error:
            assert 400 <= http_status(error) < 500
            continue
        assert isinstance(parsed, PushEvent | Ignored)


# ---- signatures ----------------------------------------------------------------------------

header_values = st.text(alphabet=string.printable, max_size=40)


@FAST
@given(
    st.binary(max_size=50),
    st.dictionaries(
        st.sampled_from(
            [
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "X-Podium-Timestamp",
                "X-Podium-Signature",
            ]
        ),
        header_values,
    ),
)
def test_signature_checks_raise_only_signature_error(body: bytes, headers: dict) -> None:
    try:
        verify_request(body=body, secret="s", headers=headers, window_s=300)
    except SignatureError:
        return
    raise AssertionError("a random header set verified")


@FAST
@given(st.text(max_size=40))
def test_both_schemes_verify_what_they_sign(text: str) -> None:
    body = json.dumps({"t": text}).encode()
    standard = {k.lower(): v for k, v in standard_headers(body, "key").items()}
    assert isinstance(
        verify_request(body=body, secret="key", headers=standard, window_s=300), Verified
    )
    now = int(datetime.now(UTC).timestamp())
    legacy = {"X-Podium-Timestamp": str(now), "X-Podium-Signature": sign(body, "key", now)}
    assert verify_request(body=body, secret="key", headers=legacy, window_s=300).timestamp == now
    with pytest.raises(SignatureError):
        verify_request(body=body + b" ", secret="key", headers=standard, window_s=300)
