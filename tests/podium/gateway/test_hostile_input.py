"""Hostile and careless input over real HTTP: every case of issue 12's "Found" list, correctly
signed so it reaches past authentication, answered with a precise 4xx or a per-record reason.

Real: the whole gateway app under uvicorn on a free port, the Delta lake in a temp folder,
Standard Webhooks and legacy signatures. Prefect's events endpoint is a local HTTP server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from podium.gateway.signatures import signed_headers, standard_headers
from podium.models import ID_RULE
from tests.podium.gateway.securitykit import (
    GH_SECRET,
    PUSH_SECRET,
    SECRET,
    Gateway,
    new_talk_id,
    post_github,
    post_gitlab,
    post_signed,
    push_body,
    security_gateway,
)

DEEP = b"[" * 100_000 + b"]" * 100_000
HUGE_INT = b'{"talk_id": "t-huge", "title": "x", "n": ' + b"9" * 5000 + b"}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with security_gateway(tmp_path_factory.mktemp("hostile"), max_body_bytes=1024 * 1024) as gw:
        yield gw


def _rejected(response: httpx.Response) -> list[tuple[str, str, str]]:
    return [(r["record"], r["field"], r["reason"]) for r in response.json()["rejected"]]


# ---- bodies that used to be a 500 ----------------------------------------------------------


@pytest.mark.parametrize("route", ["/hooks/talks", "/hooks/dynamodb", "/hooks/push"])
def test_deep_nesting_is_422_on_every_signed_hook(route: str, gateway: Gateway) -> None:
    secret = PUSH_SECRET if route == "/hooks/push" else SECRET
    response = post_signed(gateway.url, route, DEEP, secret=secret)
    assert response.status_code == 422
    assert response.json()["detail"] == "JSON nests 100000 levels deep; at most 32 accepted"


def test_deep_nesting_on_github_and_gitlab_hooks(gateway: Gateway) -> None:
    github = post_github(gateway.url, DEEP, event="push", delivery="deep")
    gitlab = post_gitlab(gateway.url, DEEP, event="Push Hook", delivery="deep")
    assert (github.status_code, gitlab.status_code) == (422, 422)


def test_huge_integer_literal_is_422(gateway: Gateway) -> None:
    response = post_signed(gateway.url, "/hooks/talks", HUGE_INT)
    assert response.status_code == 422
    assert response.json()["detail"] == "integer literal of 5000 digits; at most 100 accepted"


def test_nan_and_duplicate_keys(gateway: Gateway) -> None:
    nan = post_signed(gateway.url, "/hooks/talks", b'{"talk_id": "t", "title": NaN}')
    assert (nan.status_code, nan.json()["detail"]) == (400, "NaN is not valid JSON")
    twice = b'{"talk_id": "t-a", "title": "first", "title": "second"}'
    duplicate = post_signed(gateway.url, "/hooks/talks", twice)
    assert (duplicate.status_code, duplicate.json()["detail"]) == (
        422,
        "duplicate key 'title' in one object",
    )


def _stream_record(talk_id: str, **attributes: object) -> dict:
    keys = {"pk": {"S": "USER#1"}, "sk": {"S": f"talk#{talk_id}"}}
    image = {**keys, "title": {"S": f"Talk {talk_id}"}, **attributes}
    return {"eventName": "INSERT", "dynamodb": {"Keys": keys, "NewImage": image}}


def test_dynamodb_wrong_types_and_bad_numbers_are_per_record(gateway: Gateway) -> None:
    good, ms = new_talk_id(), new_talk_id()
    bad = {
        "n-int": {"title": {"N": 5}},
        "m-list": {"title": {"M": []}},
        "l-int": {"tags": {"L": 5}},
        "nan": {"createdAt": {"N": "NaN"}},
        "big": {"createdAt": {"N": "1e20"}},
        "neg": {"updatedAt": {"N": "-5"}},
    }
    records = [_stream_record(f"{k}-{good}", **v) for k, v in bad.items()]
    records.append(_stream_record(ms, createdAt={"N": "1685577600000"}))  # epoch milliseconds
    records.append(_stream_record(good))
    response = post_signed(gateway.url, "/hooks/dynamodb", {"Records": records})
    assert response.status_code == 422, response.text
    reasons = {
        record.split(" ")[1][1:-1].rsplit("-", 2)[0]: (field, reason)
        for record, field, reason in _rejected(response)
    }
    assert reasons == {
        "n-int": ("dynamodb.NewImage.title", "N value must be a string, got int"),
        "m-list": ("dynamodb.NewImage.title", "M value must be an object, got a list"),
        "l-int": ("dynamodb.NewImage.tags", "L value must be a list, got int"),
        "nan": ("dynamodb.NewImage.createdAt", "N value 'NaN' is not a finite number"),
        "big": (
            "dynamodb.NewImage.createdAt",
            "1e+20 is not a time in seconds or milliseconds since 1970 (up to year 9999)",
        ),
        "neg": (
            "dynamodb.NewImage.updatedAt",
            "-5 is not a time in seconds or milliseconds since 1970 (up to year 9999)",
        ),
    }
    assert response.json()["accepted"] == [ms, good]
    submitted = gateway.lake.read("talks", columns=["talk_id", "submitted_at"])
    row = submitted[submitted.talk_id == ms].iloc[0]
    assert row.submitted_at.isoformat().startswith("2023-06-01T00:00:00")


def test_dynamodb_other_item_types_are_skipped_with_reasons(gateway: Gateway) -> None:
    talk = new_talk_id()
    other = [
        ("talkTag#ai", "sort key 'talkTag#ai' does not start with 'talk#'"),
        ("TALK_COUNT", "sort key 'TALK_COUNT' does not start with 'talk#'"),
        ("profile#u-1", "sort key 'profile#u-1' does not start with 'talk#'"),
    ]
    records = [
        {
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"pk": {"S": "X"}, "sk": {"S": sk}},
                "NewImage": {"title": {"S": "not a talk"}},
            },
        }
        for sk, _ in other
    ]
    records.append(_stream_record(talk, blob={"B": "AAEC"}, blobs={"BS": ["AA=="]}, odd={"X": 1}))
    response = post_signed(gateway.url, "/hooks/dynamodb", records)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["accepted"] == [talk] and answer["rejected"] == []
    assert [(s["record"], s["reason"]) for s in answer["skipped"]] == [
        (f"Records[{i}]", reason) for i, (_, reason) in enumerate(other)
    ]
    assert "ai" not in gateway.talk_ids() and "COUNT" not in gateway.talk_ids()


# ---- identifiers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "talk_id", ["../../../../tmp/x", "a/../b", "/abs", "a\\b", "x\x00y", "sp ace", "%2e%2e"]
)
def test_ids_that_could_leave_the_lake_are_rejected_with_the_rule(
    talk_id: str, gateway: Gateway
) -> None:
    response = post_signed(gateway.url, "/hooks/talks", {"talk_id": talk_id, "title": "Escape"})
    assert response.status_code == 422
    ((_, field, reason),) = _rejected(response)
    assert field == "talk_id" and reason.endswith(f"an id must be {ID_RULE}")


def test_dynamodb_sort_key_cannot_carry_a_path(gateway: Gateway) -> None:
    record = _stream_record("../../x")
    response = post_signed(gateway.url, "/hooks/dynamodb", [record])
    assert response.status_code == 422
    ((_, field, reason),) = _rejected(response)
    assert field == "dynamodb.Keys.sk" and "path segment '..'" in reason


def test_nul_is_refused_in_ids_and_stripped_from_text(gateway: Gateway) -> None:
    talk = new_talk_id()
    response = post_signed(
        gateway.url,
        "/hooks/talks",
        {
            "talk_id": talk,
            "title": "Null\u0000 bytes",
            "speakers": ["Ada\u0000"],
            "event_ids": ["e\u00001"],
        },
    )
    assert response.status_code == 422
    ((_, field, _),) = _rejected(response)
    assert field == "event_ids.0"
    clean = post_signed(
        gateway.url,
        "/hooks/talks",
        {"talk_id": talk, "title": "Null\u0000 bytes", "speakers": ["Ada\u0000"]},
    )
    assert clean.status_code == 200, clean.text
    rows = gateway.lake.read("talks")
    row = rows[rows.talk_id == talk].iloc[0]
    assert row.title == "Null bytes" and list(row.speakers) == ["Ada"]


# ---- replay ----------------------------------------------------------------------------------


def test_standard_webhooks_message_is_recorded_once(gateway: Gateway) -> None:
    body = json.dumps({"talk_id": new_talk_id(), "title": "Once"}).encode()
    headers = standard_headers(body, SECRET)
    first = httpx.post(gateway.url + "/hooks/talks", content=body, headers=headers)
    replay = httpx.post(gateway.url + "/hooks/talks", content=body, headers=headers)
    assert first.status_code == 200, first.text
    # The sender's retry of a handled message (a lost answer) is a 2xx duplicate, not 409.
    assert replay.status_code == 200 and replay.json()["duplicate"] is True
    assert replay.json()["accepted"] == first.json()["accepted"]
    # A new message id (a new message) with the same body is fine: delivery is idempotent.
    fresh = httpx.post(
        gateway.url + "/hooks/talks", content=body, headers=standard_headers(body, SECRET)
    )
    assert fresh.status_code == 200 and fresh.json()["unchanged"] == [json.loads(body)["talk_id"]]


def test_legacy_signature_replay_is_a_duplicate(gateway: Gateway) -> None:
    body = json.dumps({"talk_id": new_talk_id(), "title": "Legacy"}).encode()
    headers = signed_headers(body, SECRET)
    assert (
        httpx.post(gateway.url + "/hooks/talks", content=body, headers=headers).status_code == 200
    )
    replay = httpx.post(gateway.url + "/hooks/talks", content=body, headers=headers)
    assert replay.status_code == 200 and replay.json()["duplicate"] is True


def test_a_refused_message_can_be_retried_with_its_id(gateway: Gateway) -> None:
    # Refused after authentication (wrong content type) records nothing, so the id is released.
    body = json.dumps({"talk_id": new_talk_id(), "title": "Retry"}).encode()
    headers = standard_headers(body, SECRET)
    wrong = httpx.post(
        gateway.url + "/hooks/talks", content=body, headers=headers | {"Content-Type": "text/plain"}
    )
    assert wrong.status_code == 415
    retry = httpx.post(gateway.url + "/hooks/talks", content=body, headers=headers)
    assert retry.status_code == 200, retry.text


@pytest.mark.parametrize(
    "mutate",
    [
        {"webhook-signature": "v1"},
        {"webhook-signature": "v1,!!!not-base64"},
        {"webhook-signature": "v2,AAAA v1,AAAA"},
        {"webhook-id": "../../etc"},
        {"webhook-timestamp": "NaN"},
        {"webhook-timestamp": "99999999999999999999"},
    ],
)
def test_malformed_standard_headers_are_401(mutate: dict, gateway: Gateway) -> None:
    body = json.dumps({"talk_id": new_talk_id(), "title": "Forged"}).encode()
    headers = standard_headers(body, SECRET) | mutate
    response = httpx.post(gateway.url + "/hooks/talks", content=body, headers=headers)
    assert response.status_code == 401


def test_push_hook_needs_its_own_secret(gateway: Gateway) -> None:
    body = push_body("acme/none")
    with_gateway_key = post_signed(gateway.url, "/hooks/push", body, secret=SECRET)
    assert with_gateway_key.status_code == 401
    with_push_key = post_signed(gateway.url, "/hooks/push", body, secret=PUSH_SECRET)
    assert with_push_key.status_code == 200
    assert with_push_key.json()["reason"] == "repository is not watched"
    with_github_key = post_signed(gateway.url, "/hooks/push", body, secret=GH_SECRET)
    assert with_github_key.status_code == 401


def test_non_utf8_body_is_refused_before_it_is_parsed(gateway: Gateway) -> None:
    body = b'{"talk_id": "t", "title": "\xff"}'
    response = httpx.post(
        gateway.url + "/hooks/talks", content=body, headers=signed_headers(body, SECRET)
    )
    assert response.status_code == 400 and response.json()["detail"] == "body is not UTF-8"
    standard = httpx.post(
        gateway.url + "/hooks/talks",
        content=body,
        headers=standard_headers(b"{}", SECRET) | {"webhook-id": "x"},
    )
    assert standard.status_code == 401


def test_covers_of_a_talk_never_leave_the_lake(tmp_path: Path) -> None:
    # The path builder and the lake both refuse to escape, even for ids that never passed
    # validation (an old row, a direct call).
    from podium.images.base import CoverImage, cover_path
    from podium.images.storage import remove_stale_covers, store_covers
    from podium.lake import Lake, LakeError

    lake = Lake(str(tmp_path / "lake"))
    outside = tmp_path / "outside.png"
    assert cover_path("../../outside", "h") == "images/..%2F..%2Foutside/h.png"
    cover = CoverImage(
        talk_id="../../outside",
        content_hash="..",
        data=b"png",
        backend="card",
        model="",
        seed=1,
        prompt="",
        negative_prompt="",
        flagged=False,
        width=1,
        height=1,
    )
    (row,) = store_covers(lake=lake, covers=[cover]).itertuples()
    written = Path(lake.blob_url(row.path)).resolve()
    assert written.is_relative_to((tmp_path / "lake").resolve()) and not outside.exists()
    with pytest.raises(LakeError):
        lake.put_blob("images/../../outside.png", b"x")
    # A row that points outside (written by an older version) is never followed by retention.
    outside.write_bytes(b"keep")
    import pandas as pd

    stale = pd.DataFrame(
        [
            row._asdict()
            | {
                "path": "../outside.png",
                "content_hash": "old",
                "created_at": row.created_at - pd.Timedelta("1d"),
            }
        ]
    )
    lake.append("talk_images", stale.drop(columns=["Index"]))
    assert remove_stale_covers(lake=lake) == 1
    assert outside.read_bytes() == b"keep"
