"""Issue 24's audit, over real HTTP: each finding's reproduction gets a precise 4xx or is
handled with its reason, never a 5xx, and innocent neighbours are recorded.

Real: the whole gateway app under uvicorn on a free port, the Delta lake in a temp folder,
signed requests (both schemes). Prefect's events endpoint is a local HTTP server.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest

from podium.gateway.signatures import sign, standard_headers
from podium.ingest import repair_future
from podium.models import Talk
from podium.recording import record_talks
from tests.podium.gateway.securitykit import (
    PUSH_SECRET,
    SECRET,
    Gateway,
    new_talk_id,
    post_signed,
    security_gateway,
)

# The audit's bodies (also in bench/fuzz.py's corpus).
HUGE_TIMESTAMP = "9" * 5000
BLOW_UP = {
    "talk_id": "t-blowup",
    "title": "x",
    "tags": [f"t{i}" for i in range(1500)],
    "event_ids": [f"e{i}" for i in range(1500)],
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with security_gateway(tmp_path_factory.mktemp("audit2"), max_body_bytes=1024 * 1024) as gw:
        yield gw


def _rejected(response: httpx.Response) -> dict[str, tuple[str, str]]:
    return {r["record"]: (r["field"], r["reason"]) for r in response.json()["rejected"]}


def _row(gateway: Gateway, talk_id: str) -> pd.Series:
    rows = gateway.lake.read("talks", where=[("talk_id", "=", talk_id)])
    return rows.iloc[0]


# ---- a 500 before authentication ------------------------------------------------------------


@pytest.mark.parametrize("route", ["/hooks/talks", "/hooks/dynamodb", "/hooks/push"])
@pytest.mark.parametrize(
    "value",
    [HUGE_TIMESTAMP.encode(), b"1" * 13, "٣٣٣".encode(), b"\xb2", b"-1", b"1e9", b"0x10"],
)
def test_malformed_legacy_timestamp_is_401_on_every_hook(
    route: str, value: bytes, gateway: Gateway
) -> None:
    secret = PUSH_SECRET if route == "/hooks/push" else SECRET
    body = json.dumps({"talk_id": new_talk_id(), "title": "Forged"}).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Podium-Timestamp": value,
        "X-Podium-Signature": sign(body, secret, int(time.time())),
    }
    response = httpx.post(gateway.url + route, content=body, headers=headers, timeout=30)
    assert response.status_code == 401, response.text
    assert "X-Podium-Timestamp" in response.json()["detail"]


@pytest.mark.parametrize("route", ["/hooks/talks", "/hooks/dynamodb", "/hooks/push"])
def test_five_thousand_digit_standard_timestamp_is_401(route: str, gateway: Gateway) -> None:
    secret = PUSH_SECRET if route == "/hooks/push" else SECRET
    body = json.dumps({"talk_id": new_talk_id(), "title": "Forged"}).encode()
    headers = standard_headers(body, secret) | {"webhook-timestamp": HUGE_TIMESTAMP}
    response = httpx.post(gateway.url + route, content=body, headers=headers, timeout=30)
    assert response.status_code == 401
    assert response.json()["detail"] == (
        "webhook-timestamp has 5000 digits; unix seconds have at most 12"
    )


# ---- updated_at without an offset --------------------------------------------------------


def test_naive_updated_at_is_read_as_utc_and_the_edit_applies(gateway: Gateway) -> None:
    talk_id = new_talk_id()
    zoned = {"talk_id": talk_id, "title": "Zoned", "updated_at": "2026-01-01T00:00:00+02:00"}
    assert post_signed(gateway.url, "/hooks/talks", zoned).status_code == 200
    innocent = {"talk_id": new_talk_id(), "title": "Innocent"}
    naive = {"talk_id": talk_id, "title": "Naive edit", "updated_at": "2026-01-02T00:00:00"}
    response = post_signed(gateway.url, "/hooks/talks", [naive, innocent])
    assert response.status_code == 200, response.text
    assert response.json()["updated"] == [talk_id]
    assert response.json()["new"] == [innocent["talk_id"]]
    row = _row(gateway, talk_id)
    assert row.title == "Naive edit"
    assert pd.Timestamp(row.source_updated_at) == pd.Timestamp("2026-01-02T00:00:00Z")
    # An older naive copy (read as UTC: before the edit) is stale, not an exception.
    older = {"talk_id": talk_id, "title": "Older", "updated_at": "2026-01-01T12:00:00"}
    again = post_signed(gateway.url, "/hooks/talks", older)
    assert again.status_code == 200 and _row(gateway, talk_id).title == "Naive edit"


# ---- far-future updated_at ---------------------------------------------------------------


def test_far_future_updated_at_is_a_per_record_422_and_neighbours_are_recorded(
    gateway: Gateway,
) -> None:
    frozen, innocent = new_talk_id(), new_talk_id()
    response = post_signed(
        gateway.url,
        "/hooks/talks",
        [
            {"talk_id": frozen, "title": "From 9999", "updated_at": "9999-12-31T00:00:00Z"},
            {"talk_id": innocent, "title": "Innocent"},
        ],
    )
    assert response.status_code == 422, response.text
    field, reason = _rejected(response)[f"talks[0] ({frozen})"]
    assert field == "updated_at"
    assert "limits.max_future_skew_s" in reason and "ahead of the gateway's clock" in reason
    assert response.json()["accepted"] == [innocent]
    assert innocent in gateway.talk_ids() and frozen not in gateway.talk_ids()


def test_a_day_of_skew_is_accepted(gateway: Gateway) -> None:
    soon = (datetime.now(UTC) + timedelta(hours=23)).isoformat()
    response = post_signed(
        gateway.url,
        "/hooks/talks",
        {"talk_id": new_talk_id(), "title": "Skewed", "updated_at": soon},
    )
    assert response.status_code == 200, response.text


def _record(talk_id: str, event: str = "INSERT", **extra: object) -> dict:
    keys = {"pk": {"S": "USER#1"}, "sk": {"S": f"talk#{talk_id}"}}
    body: dict = {"Keys": keys, **extra}
    if event != "REMOVE":
        body["NewImage"] = {**keys, "title": {"S": f"Talk {talk_id}"}}
    return {"eventName": event, "dynamodb": body}


def test_far_future_dynamodb_times_are_per_record_422(gateway: Gateway) -> None:
    good, future_edit, future_removal = new_talk_id(), new_talk_id(), new_talk_id()
    far = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())
    records = [
        _record(good),
        _record(future_edit),
        _record(future_removal, "REMOVE", ApproximateCreationDateTime=far),
    ]
    # Epoch numbers this large are milliseconds (as Date.now() writes them).
    records[1]["dynamodb"]["NewImage"]["updatedAt"] = {"N": str(far * 1000)}
    response = post_signed(gateway.url, "/hooks/dynamodb", {"Records": records})
    assert response.status_code == 422, response.text
    rejected = _rejected(response)
    assert rejected[f"Records[1] ({future_edit})"][0] == "updated_at"
    assert rejected[f"Records[2] ({future_removal})"][0] == "dynamodb.ApproximateCreationDateTime"
    assert response.json()["accepted"] == [good]


def test_repair_future_unfreezes_a_talk_that_got_in_before(gateway: Gateway) -> None:
    talk_id = new_talk_id()
    # As a lake written before the limit held it: straight through the recorder.
    far = datetime(9999, 12, 31, tzinfo=UTC)
    record_talks(lake=gateway.lake, talks=[Talk(talk_id=talk_id, title="Frozen", updated_at=far)])
    edit = {"talk_id": talk_id, "title": "Real edit", "updated_at": datetime.now(UTC).isoformat()}
    stale = post_signed(gateway.url, "/hooks/talks", edit)
    assert stale.status_code == 200 and _row(gateway, talk_id).title == "Frozen"  # frozen

    assert repair_future(lake=gateway.lake, talk_ids=[talk_id]) == [talk_id]
    assert repair_future(lake=gateway.lake, talk_ids=[talk_id]) == []  # idempotent
    time.sleep(0.01)
    edit["updated_at"] = datetime.now(UTC).isoformat()
    applied = post_signed(gateway.url, "/hooks/talks", edit)
    assert applied.json()["updated"] == [talk_id]
    assert _row(gateway, talk_id).title == "Real edit"
    removal = post_signed(gateway.url, "/hooks/dynamodb", {"Records": [_record(talk_id, "REMOVE")]})
    assert removal.json()["removed"] == [talk_id]


# ---- unbounded lists ---------------------------------------------------------------------


def test_blow_up_body_is_a_per_record_422_naming_the_limits(gateway: Gateway) -> None:
    innocent = {"talk_id": new_talk_id(), "title": "Innocent"}
    body = json.dumps([BLOW_UP, innocent]).encode()
    assert len(body) < 30_000  # the audit's "24 KB body"
    response = post_signed(gateway.url, "/hooks/talks", body)
    assert response.status_code == 422, response.text
    rejected = response.json()["rejected"]
    assert {(r["field"], r["reason"]) for r in rejected} == {
        ("tags", "1500 tags; at most 50 per talk (limits.max_tags_per_talk)"),
        ("event_ids", "1500 event_ids; at most 50 per talk (limits.max_event_ids_per_talk)"),
    }
    assert response.json()["accepted"] == [innocent["talk_id"]]


def test_speakers_are_bounded_too(gateway: Gateway) -> None:
    talk = {"talk_id": new_talk_id(), "title": "Crowd", "speakers": [f"s{i}" for i in range(51)]}
    response = post_signed(gateway.url, "/hooks/talks", talk)
    assert response.status_code == 422
    assert response.json()["rejected"][0]["field"] == "speakers"


# ---- Podium's own tags through the hook --------------------------------------------------


def test_dynamodb_hook_drops_the_tags_podium_wrote_back(gateway: Gateway) -> None:
    talk_id = new_talk_id()
    record = _record(talk_id, "MODIFY", SequenceNumber="100")
    record["dynamodb"]["NewImage"] |= {
        "tags": {"L": [{"S": "Python"}, {"S": "testing"}, {"S": "type hints"}]},
        "podiumTags": {"L": [{"S": "testing"}, {"S": "type hints"}]},
    }
    response = post_signed(gateway.url, "/hooks/dynamodb", {"Records": [record]})
    assert response.status_code == 200, response.text
    assert list(_row(gateway, talk_id).tags) == ["python"]
