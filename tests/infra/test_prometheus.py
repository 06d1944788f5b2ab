"""Metrics as an operator's Prometheus sees them; the alert rules; the Grafana dashboard.

Real: `/usr/bin/prometheus` (Debian's package) on a free port with its data in a temp folder,
scraping a `podium gateway` process and a warm executor process every second; a known burst of
signed requests; PromQL through Prometheus's HTTP API. The rules go through `promtool check
rules` and `promtool test rules` (infra/prometheus/alerts_test.yml).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from deployments.local_stack import PROJECT_DIR
from podium import metrics
from podium.gateway import signed_headers
from podium.settings import PLACEHOLDER_SECRET
from tests.prefect_server import free_port
from tests.processes import stop

PROMETHEUS_DIR = PROJECT_DIR / "infra" / "prometheus"
DASHBOARD = PROJECT_DIR / "infra" / "grafana" / "podium.json"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

needs_prometheus = pytest.mark.skipif(
    not (Path(PROMETHEUS).exists() and Path(PROMTOOL).exists()),
    reason="prometheus/promtool not installed (apt-get install prometheus)",
)


@needs_prometheus
def test_promtool_checks_the_rules() -> None:
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(PROMETHEUS_DIR / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 6 rules found" in result.stdout


@needs_prometheus
def test_promtool_unit_tests_of_the_rules_pass() -> None:
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "alerts_test.yml"],
        cwd=PROMETHEUS_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def _rule_test_alerts() -> set[str]:
    tests = yaml.safe_load((PROMETHEUS_DIR / "alerts_test.yml").read_text())["tests"]
    return {t["alertname"] for case in tests for t in case.get("alert_rule_test", [])}


def _names_in(expr: str) -> set[str]:
    return set(re.findall(r"\bpodium_[a-z_]+\b", expr))


def test_every_alert_is_unit_tested_and_names_defined_metrics() -> None:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert {r["alert"] for r in rules} == _rule_test_alerts()
    known = metrics.metric_names()
    for rule in rules:
        names = _names_in(rule["expr"])
        assert names and names <= known, (rule["alert"], names - known)


def test_the_dashboard_parses_and_every_query_names_a_defined_metric() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    known = metrics.metric_names()
    used: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = _names_in(target["expr"])
            assert names, (panel["title"], target["expr"])
            assert names <= known, (panel["title"], names - known)
            used |= names
    # The headline figures of the issue are all on it.
    for name in (
        "podium_ledger_backlog",
        "podium_ledger_oldest_pending_age_seconds",
        "podium_gateway_events_total",
        "podium_ledger_lease_expiries_total",
        "podium_stage_latency_seconds_bucket",
        "podium_model_loads_total",
        "podium_review_oldest_wait_seconds",
    ):
        assert name in used, name
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


# ---- a real Prometheus scraping a running gateway and executor -------------------------------


def _wait_http(url: str, process: subprocess.Popen, log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited: {log.read_text()[-3000:]}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer: {log.read_text()[-3000:]}")


def _query(prom: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def _scalar(prom: str, expr: str) -> float | None:
    result = _query(prom, expr)
    return float(result[0]["value"][1]) if result else None


def _until(prom: str, expr: str, expected: float, timeout_s: float = 60) -> float | None:
    deadline = time.monotonic() + timeout_s
    value = None
    while time.monotonic() < deadline:
        value = _scalar(prom, expr)
        if value == expected:
            return value
        time.sleep(0.5)
    return value


@needs_prometheus
def test_prometheus_scrapes_the_gateway_and_an_executor_after_a_burst(tmp_path: Path) -> None:
    gateway_port, probe_port, prom_port = free_port(), free_port(), free_port()
    dead_prefect = f"http://127.0.0.1:{free_port()}/api"  # every event is deferred
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_DIR),
        "PODIUM_HOME": str(tmp_path / "home"),
        "PODIUM_LAKE__URL": str(tmp_path / "lake"),
        "PODIUM_GATEWAY__PORT": str(gateway_port),
        "PODIUM_PREFECT__API_URL": dead_prefect,
        "PODIUM_PREFECT__EVENT_RETRIES": "0",
        "PODIUM_OPS__LAKE_METRICS_TTL_S": "0",
        "PREFECT_API_URL": dead_prefect,
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    logs = {name: tmp_path / f"{name}.log" for name in ("gateway", "executor", "prometheus")}
    gateway = subprocess.Popen(
        [sys.executable, "-c", "from podium.settings import get_settings; "
         "from podium.gateway import serve; serve(get_settings())"],
        env=env, cwd=PROJECT_DIR, stdout=logs["gateway"].open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    executor = subprocess.Popen(
        [sys.executable, "-m", "deployments.warm_executor", "--pool", "p", "--queue", "warm",
         "--no-preload", "--probe-port", str(probe_port)],
        env=env, cwd=PROJECT_DIR, stdout=logs["executor"].open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(PROMETHEUS_DIR / "alerts.yml")],
        "scrape_configs": [
            {"job_name": "gateway", "static_configs": [{"targets": [f"127.0.0.1:{gateway_port}"]}]},
            {"job_name": "warm", "static_configs": [{"targets": [f"127.0.0.1:{probe_port}"]}]},
        ],
    }  # fmt: skip
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    prometheus = None
    try:
        _wait_http(f"http://127.0.0.1:{gateway_port}/healthz", gateway, logs["gateway"])
        _wait_http(f"http://127.0.0.1:{probe_port}/healthz", executor, logs["executor"])
        prometheus = subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prom_port}"],
            stdout=logs["prometheus"].open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        prom = f"http://127.0.0.1:{prom_port}"
        _wait_http(f"{prom}/-/ready", prometheus, logs["prometheus"])
        assert _until(prom, "count(up == 1)", 2) == 2, logs["executor"].read_text()[-3000:]

        # The known burst: 5 talks, one request each (event deferred: Prefect is down), one
        # replayed copy, two unsigned requests.
        url = f"http://127.0.0.1:{gateway_port}"
        for i in range(5):
            body = json.dumps({"talk_id": f"burst-{i}", "title": f"Talk {i}"}).encode()
            headers = signed_headers(body, PLACEHOLDER_SECRET)
            answer = httpx.post(url + "/hooks/talks", content=body, headers=headers, timeout=30)
            assert answer.status_code == 202, answer.text
        again = httpx.post(url + "/hooks/talks", content=body, headers=headers, timeout=30)
        assert again.status_code == 200
        for _ in range(2):
            assert httpx.post(url + "/hooks/talks", content=b"{}").status_code == 401

        route = 'route="/hooks/talks",method="POST"'
        checks = {
            f'sum(podium_http_requests_total{{{route},status="202"}})': 5,
            f'sum(podium_http_requests_total{{{route},status="401"}})': 2,
            f'sum(podium_http_requests_total{{{route},status="200"}})': 1,
            'sum(podium_gateway_events_total{outcome="deferred"})': 5,
            'sum(podium_replays_refused_total{reason="duplicate"})': 1,
            "sum(podium_group_commit_requests_count)": 5,
            'sum(podium_stage_latency_seconds_count{stage="recorded"})': 5,
            # The lake's state, as the gateway and the executor both see it.
            'max(podium_ledger_backlog{stage="tags",job="gateway"})': 5,
            'max(podium_ledger_backlog{stage="tags",job="warm"})': 5,
            'max(podium_ledger_backlog{stage="image"})': 5,
            'count(podium_ledger_backlog{stage="tags"} == 5)': 2,
            "max(podium_ledger_failed)": 0,
            "max(podium_reviews_waiting)": 0,
        }
        got = {expr: _until(prom, expr, want) for expr, want in checks.items()}
        assert got == checks
        age = _scalar(prom, 'max(podium_ledger_oldest_pending_age_seconds{stage="tags"})')
        assert age is not None and 0 < age < 300
        p50 = _scalar(
            prom,
            "histogram_quantile(0.5, sum by (le) "
            '(podium_http_request_seconds_bucket{route="/hooks/talks"}))',
        )
        assert p50 is not None and 0 < p50 < 10
        # The rules are loaded and evaluate without errors against these series.
        groups = httpx.get(f"{prom}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) == 6 and all(r["health"] == "ok" for r in rules), rules
        # The executor's probes: alive, not ready (Prefect is down), and saying so.
        ready = httpx.get(f"http://127.0.0.1:{probe_port}/readyz", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["lake"] == "ok" and ready.json()["prefect"].startswith("unreachable")
    finally:
        if prometheus is not None:
            stop(prometheus, timeout_s=30)
        stop(executor, timeout_s=30)
        stop(gateway, timeout_s=30)
