"""A short schema-driven fuzzing run (schemathesis) against the gateway's own OpenAPI, with
every body signed correctly so the cases reach past authentication; `bench/fuzz.py` runs the
long campaign (10,000+ requests) with the same driver.

Real: the whole gateway under uvicorn on a free port, its /openapi.json, the Delta lake in a
temp folder; Prefect's events endpoint is a local HTTP server.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from bench.fuzz import generate, send
from tests.podium.gateway.securitykit import security_gateway


def test_short_fuzzing_run_finds_no_server_error(tmp_path: Path) -> None:
    with security_gateway(tmp_path) as gateway:
        spec = httpx.get(gateway.url + "/openapi.json", timeout=30).json()
        requests = generate(spec, count=60, seed=7)
        report = send(gateway.url, requests, workers=4)
    assert report.requests == len(requests) >= 60
    assert report.transport_errors == 0
    assert report.five_xx == 0, report.server_errors[:3]
    # The signed cases got past authentication: some were recorded or judged on their content.
    assert {200, 422} <= set(report.statuses)
    operations = {op.split(" ", 1)[1] for op in report.by_operation}
    assert {
        "/hooks/talks",
        "/hooks/dynamodb",
        "/hooks/github",
        "/hooks/gitlab",
        "/hooks/push",
    } <= operations


def test_the_audits_bodies_get_no_server_error(tmp_path: Path) -> None:
    from bench.fuzz import audit_requests

    with security_gateway(tmp_path) as gateway:
        requests = audit_requests()
        report = send(gateway.url, requests, workers=2)
    assert report.requests == len(requests) and report.transport_errors == 0
    assert report.five_xx == 0, report.server_errors[:3]
    assert set(report.statuses) <= {200, 401, 422}, report.statuses
    assert report.statuses[401] == 15  # every malformed timestamp, on each signed route
