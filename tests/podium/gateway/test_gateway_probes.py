"""The gateway's probes and metrics: /healthz writes nothing, /readyz says what is down,
/metrics counts what happened.

Real: uvicorn on a free port in a thread, the lake in a temp folder, the session's Prefect
server for a ready gateway; a closed port stands in for an unreachable Prefect server.
Counters are process-wide, so the tests compare figures before and after their own requests.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from podium.deferrals import since
from podium.events import EventPoster
from podium.gateway import running_gateway, signed_headers
from podium.lake import Lake
from podium.models import Talk
from podium.recording import record_talks
from podium.settings import Settings
from tests.prefect_server import free_port


def _with_prefect(settings: Settings, api_url: str) -> Settings:
    prefect = settings.prefect.model_copy(update={"api_url": api_url, "event_retries": 0})
    return settings.model_copy(update={"prefect": prefect})


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under `root` with its size and modification time."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def _post(url: str, settings: Settings, talks: list[dict]) -> httpx.Response:
    body = json.dumps({"talks": talks}).encode()
    return httpx.post(
        url + "/hooks/talks",
        content=body,
        headers=signed_headers(body, settings.gateway.secret),
        timeout=30,
    )


def test_healthz_writes_nothing_and_touches_no_dependency(settings: Settings) -> None:
    dead = f"http://127.0.0.1:{free_port()}/api"
    lake = Lake.from_settings(settings)
    record_talks(lake=lake, talks=[Talk(talk_id="t-1", title="A talk")])
    home = Path(settings.home)
    home.mkdir(parents=True, exist_ok=True)
    roots = [Path(settings.lake_url), home]
    before = [_tree(r) for r in roots]
    with running_gateway(_with_prefect(settings, dead), lake=lake, port=0) as url:
        answers = [httpx.get(url + "/healthz") for _ in range(20)]
    assert {a.status_code for a in answers} == {200}
    assert answers[0].json() == {"status": "ok", "version": answers[0].json()["version"]}
    # Not a byte written, in the lake or the home folder, by 20 probes: no probe blob either.
    assert [_tree(r) for r in roots] == before
    assert not any("_health" in name for name in before[0])


def _broken_lake(settings: Settings) -> tuple[Lake, Path]:
    """The lake of `settings` with a file where its folder should be: every lake read fails
    for real. (The lake, that file.)"""
    lake = Lake.from_settings(settings)
    root = Path(settings.lake_url)
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_text("not a folder")
    return lake, root


def test_healthz_stays_200_when_the_lake_and_prefect_are_gone(settings: Settings) -> None:
    dead = f"http://127.0.0.1:{free_port()}/api"
    lake, _ = _broken_lake(settings)
    with running_gateway(
        _with_prefect(settings, dead), lake=lake, poster=EventPoster(api_url=dead), port=0
    ) as url:
        live = httpx.get(url + "/healthz")
        ready = httpx.get(url + "/readyz")
    assert live.status_code == 200  # liveness: restarting this process would fix nothing
    assert ready.status_code == 503
    body = ready.json()
    assert (body["status"], body["lake"], body["prefect"], body["replay_store"]) == (
        "not_ready",
        "unreachable",
        "unreachable",
        "not_configured",
    )


def test_readyz_is_200_with_the_lake_and_prefect_up(
    settings: Settings, prefect_server: str
) -> None:
    with running_gateway(_with_prefect(settings, prefect_server), port=0) as url:
        ready = httpx.get(url + "/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    assert (ready.json()["lake"], ready.json()["prefect"]) == ("ok", "ok")


def test_readyz_names_prefect_when_only_prefect_is_down(settings: Settings) -> None:
    dead = f"http://127.0.0.1:{free_port()}/api"
    with running_gateway(_with_prefect(settings, dead), port=0) as url:
        ready = httpx.get(url + "/readyz")
    assert ready.status_code == 503
    assert (ready.json()["lake"], ready.json()["prefect"]) == ("ok", "unreachable")


def test_metrics_count_requests_deferrals_replays_and_the_backlog(settings: Settings) -> None:
    dead = f"http://127.0.0.1:{free_port()}/api"
    configured = _with_prefect(settings, dead)
    ops = configured.ops.model_copy(update={"lake_metrics_ttl_s": 0})
    configured = configured.model_copy(update={"ops": ops})
    lake = Lake.from_settings(configured)
    with running_gateway(configured, lake=lake, port=0) as url:
        before = _samples(httpx.get(url + "/metrics").text)
        ids = [f"m-{uuid.uuid4().hex[:8]}" for _ in range(3)]
        answers = [_post(url, configured, [{"talk_id": i, "title": f"Talk {i}"}]) for i in ids]
        # A copy of the first message: answered as a duplicate, counted as a refused replay.
        body = json.dumps({"talks": [{"talk_id": ids[0], "title": f"Talk {ids[0]}"}]}).encode()
        first_headers = answers[0].request.headers
        copy = httpx.post(
            url + "/hooks/talks",
            content=body,
            headers={k: v for k, v in first_headers.items() if k.lower() != "content-length"},
        )
        unsigned = httpx.post(url + "/hooks/talks", content=b"{}")
        httpx.get(url + "/no/such/path")
        response = httpx.get(url + "/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)
    assert [a.status_code for a in answers] == [202, 202, 202]  # recorded, event deferred
    assert copy.status_code == 200 and copy.json()["duplicate"] is True
    assert unsigned.status_code == 401

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    route = {"route": "/hooks/talks", "method": "POST"}
    assert delta("podium_http_requests_total", status="202", **route) == 3
    assert delta("podium_http_requests_total", status="200", **route) == 1
    assert delta("podium_http_requests_total", status="401", **route) == 1
    assert delta("podium_http_requests_total", route="unmatched", method="GET", status="404") == 1
    assert delta("podium_http_request_seconds_count", **route) == 5
    assert delta("podium_http_request_body_bytes_count", route="/hooks/talks") == 5
    assert delta("podium_gateway_events_total", outcome="deferred") == 3
    assert delta("podium_replays_refused_total", scope="directory", reason="duplicate") == 1
    assert delta("podium_group_commit_requests_count") == 3
    assert delta("podium_group_commit_seconds_count") == 3
    assert delta("podium_stage_latency_seconds_count", stage="recorded") == 3
    # The lake's state: three talks pending for both stages, none failed.
    assert _value(after, "podium_lake_state_up") == 1
    assert _value(after, "podium_ledger_backlog", stage="tags") == 3
    assert _value(after, "podium_ledger_backlog", stage="image") == 3
    assert _value(after, "podium_ledger_oldest_pending_age_seconds", stage="tags") > 0
    assert _value(after, "podium_ledger_failed", stage="tags") == 0
    # Each deferral is in the lake's log, for `podium status` on any replica.
    log = since(lake=lake, since=datetime(2000, 1, 1, tzinfo=UTC))
    assert len(log) == 3 and set(log.event) == {"podium.talk.submitted"}
    assert (log.talks == 1).all() and log.reason.str.contains("did not accept").all()


def test_metrics_answers_with_the_lake_gone(settings: Settings) -> None:
    dead = f"http://127.0.0.1:{free_port()}/api"
    lake, root = _broken_lake(settings)
    with running_gateway(_with_prefect(settings, dead), lake=lake, port=0) as url:
        response = httpx.get(url + "/metrics")
    assert response.status_code == 200
    samples = _samples(response.text)
    assert _value(samples, "podium_lake_state_up") == 0
    assert not any(name == "podium_ledger_backlog" for name, _ in samples)
    assert os.path.isfile(root)
