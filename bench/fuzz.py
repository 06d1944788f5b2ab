"""Schema-driven fuzzing of the gateway: schemathesis cases from its own OpenAPI, signed.

Starts the whole gateway (real app, uvicorn on a free port, a Delta lake in a temp folder, a
local HTTP server standing in for Prefect's events endpoint), reads `/openapi.json`, and draws
cases for every operation with schemathesis, both schema-conforming (positive) and
schema-violating (negative). Every body is serialised and then signed correctly for its route
(Standard Webhooks or legacy headers for the Podium routes, X-Hub-Signature-256 for GitHub,
X-Gitlab-Token for GitLab), so the fuzzing reaches past authentication; a small share is sent
with the generated (unsigned) headers to exercise the refusal paths too. Prints requests, the
5xx count (target 0), status counts and the slowest response.

    .venv/bin/python bench/fuzz.py --requests 10000
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import sys
import tempfile
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from podium.gateway.signatures import signed_headers, standard_headers  # noqa: E402
from tests.podium.gateway.securitykit import (  # noqa: E402
    GH_SECRET,
    GL_TOKEN,
    PUSH_SECRET,
    SECRET,
    security_gateway,
)

_PODIUM_SECRETS = {"/hooks/talks": SECRET, "/hooks/dynamodb": SECRET, "/hooks/push": PUSH_SECRET}
_GITHUB_EVENTS = ["push", "ping", "issues", ""]
_GITLAB_EVENTS = ["Push Hook", "System Hook", "Tag Push Hook", "Note Hook", ""]
_UNSIGNED_SHARE = 0.05


@dataclass(frozen=True)
class Prepared:
    """One request, ready to send."""

    method: str
    path: str
    operation: str
    headers: dict[str, str]
    body: bytes | None
    # Podium HMAC routes are signed just before sending (the signature holds a timestamp
    # that must be inside the replay window): the secret, and whether to use Standard Webhooks.
    secret: str | None = None
    standard: bool = True

    def signed(self) -> dict[str, str]:
        """The headers to send, with a fresh Podium signature where one is due."""
        if self.secret is None:
            return self.headers
        raw = self.body or b""
        try:
            fresh = (
                standard_headers(raw, self.secret)
                if self.standard
                else signed_headers(raw, self.secret)
            )
        except UnicodeDecodeError:  # not UTF-8: only the legacy scheme can sign raw bytes
            fresh = signed_headers(raw, self.secret)
        fresh.pop("Content-Type", None)
        kept = {
            k: v
            for k, v in self.headers.items()
            if not k.lower().startswith(("webhook-", "x-podium-"))
        }
        return kept | fresh


@dataclass
class FuzzReport:
    """What a fuzzing run saw."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    server_errors: list[tuple[str, int, str]] = field(default_factory=list)
    slowest_s: float = 0.0
    slowest: str = ""
    transport_errors: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)

    @property
    def five_xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


def _serialise(case: Any) -> bytes | None:
    body = getattr(case, "body", None)
    if body is None or type(body).__name__ == "NotSet":
        return None
    if isinstance(body, bytes):
        return body
    if isinstance(body, str) and case.media_type != "application/json":
        return body.encode("utf-8", "surrogatepass")
    try:
        return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    except (TypeError, ValueError):
        return repr(body).encode("utf-8", "surrogatepass")


def _header_text(value: Any) -> str | None:
    text = str(value)
    # httpx sends latin-1 header values only; anything else cannot leave the client at all.
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return None if any(c in text for c in "\r\n\x00") else text


def prepare(case: Any, rng: random.Random) -> Prepared:
    """Turn a schemathesis case into a request, signed for its route (most of the time)."""
    body = _serialise(case)
    path = case.formatted_path
    operation = f"{case.method.upper()} {case.operation.path}"
    generated = {k: v for k, v in (case.headers or {}).items() if _header_text(v) is not None}
    headers = {k: str(v) for k, v in generated.items()}
    if case.media_type:
        headers["Content-Type"] = case.media_type
    sign = rng.random() >= _UNSIGNED_SHARE
    raw = body or b""
    route = case.operation.path
    secret = _PODIUM_SECRETS.get(route) if sign else None
    standard = rng.random() < 0.7
    if sign and route == "/hooks/github":
        digest = hmac.new(GH_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        headers |= {
            "X-Hub-Signature-256": f"sha256={digest}",
            "X-GitHub-Event": rng.choice(_GITHUB_EVENTS),
            "X-GitHub-Delivery": f"fuzz-{rng.getrandbits(64):x}",
        }
    elif sign and route == "/hooks/gitlab":
        headers |= {
            "X-Gitlab-Token": GL_TOKEN,
            "X-Gitlab-Event": rng.choice(_GITLAB_EVENTS),
            "X-Gitlab-Event-UUID": f"fuzz-{rng.getrandbits(64):x}",
        }
    query = {k: str(v) for k, v in (case.query or {}).items()}
    if query:
        path += "?" + str(httpx.QueryParams(query))
    return Prepared(case.method.upper(), path, operation, headers, body, secret, standard)


def generate(spec: dict[str, Any], *, count: int, seed: int) -> list[Prepared]:
    """At least `count` prepared requests drawn by schemathesis from `spec`."""
    import schemathesis
    from schemathesis import GenerationMode

    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    # The health probe touches the lake and Prefect on every call: a few cases are enough.
    weights = {"/healthz": 0.02}
    rng = random.Random(seed)
    out: list[Prepared] = []
    round_number = 0
    barren: set[tuple[str, str, Any]] = set()
    while len(out) < count:
        round_number += 1
        before = len(out)
        for operation in operations:
            share = weights.get(operation.path, 1.0)
            live = max(1, len(operations) * 2 - len(barren))
            per_mode = max(1, int((count - before) * share / live))
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                if (operation.path, operation.method, mode) in barren:
                    continue
                drawn = _draw(
                    operation.as_strategy(generation_mode=mode),
                    examples=per_mode,
                    seed=seed * 1000 + round_number,
                )
                if not drawn:  # e.g. no negative case exists for an operation without inputs
                    barren.add((operation.path, operation.method, mode))
                out.extend(prepare(case, rng) for case in drawn)
        if len(out) == before:
            raise RuntimeError("schemathesis drew no cases; is the OpenAPI document empty?")
    out.extend(audit_requests())
    rng.shuffle(out)
    return out


def audit_requests() -> list[Prepared]:
    """Issue 24's audit bodies and headers, sent with every run (each must get a 4xx or be
    handled with its reason, never a 5xx)."""
    from podium.gateway.signatures import sign

    out: list[Prepared] = []
    talk = json.dumps({"talk_id": "audit-ts", "title": "x"}).encode()
    for route, secret in _PODIUM_SECRETS.items():
        for value in ("9" * 5000, "1" * 13, "-1", "0x10"):
            headers = {
                "Content-Type": "application/json",
                "X-Podium-Timestamp": value,
                "X-Podium-Signature": sign(talk, secret, int(time.time())),
            }
            out.append(Prepared("POST", route, f"POST {route}", headers, talk))
        standard = {"Content-Type": "application/json", "webhook-timestamp": "9" * 5000}
        out.append(Prepared("POST", route, f"POST {route}", standard | {
            "webhook-id": "audit", "webhook-signature": "v1,AAAA"}, talk))  # fmt: skip
    bodies = [
        {"talk_id": "audit-nz", "title": "zoned", "updated_at": "2026-01-01T00:00:00+02:00"},
        [
            {"talk_id": "audit-nz", "title": "naive", "updated_at": "2026-01-02T00:00:00"},
            {"talk_id": "audit-innocent", "title": "innocent"},
        ],
        {"talk_id": "audit-future", "title": "x", "updated_at": "9999-12-31T00:00:00Z"},
        {
            "talk_id": "audit-blowup",
            "title": "x",
            "tags": [f"t{i}" for i in range(1500)],
            "event_ids": [f"e{i}" for i in range(1500)],
        },
    ]
    for body in bodies:
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        out.append(Prepared("POST", "/hooks/talks", "POST /hooks/talks", headers, raw, SECRET))
    keys = {"pk": {"S": "USER#1"}, "sk": {"S": "talk#audit-own"}}
    image = keys | {
        "title": {"S": "Own tags"},
        "tags": {"L": [{"S": "python"}, {"S": "testing"}]},
        "podiumTags": {"L": [{"S": "testing"}]},
        "updatedAt": {"N": "253402214400000"},
    }
    stream = {"Records": [{"eventName": "MODIFY", "dynamodb": {"Keys": keys, "NewImage": image}}]}
    raw = json.dumps(stream).encode()
    headers = {"Content-Type": "application/json"}
    out.append(Prepared("POST", "/hooks/dynamodb", "POST /hooks/dynamodb", headers, raw, SECRET))
    return out


def _draw(strategy: Any, *, examples: int, seed: int) -> list[Any]:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as hypothesis_seed

    drawn: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def draw(case: Any) -> None:
        drawn.append(case)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            draw()
        except Exception as error:  # e.g. no negative case exists for an operation
            # without parameters: keep what was drawn.
            if not drawn:
                print(f"  no cases ({type(error).__name__})", flush=True)
    return drawn


def send(base_url: str, requests: list[Prepared], *, workers: int) -> FuzzReport:
    """Send every request from `workers` threads; count statuses and keep the 5xx."""
    report = FuzzReport()

    def one(client: httpx.Client, request: Prepared) -> tuple[Prepared, int | None, float, str]:
        start = time.perf_counter()
        try:
            response = client.request(
                request.method,
                base_url + request.path,
                headers=request.signed(),
                content=request.body,
            )
        except httpx.HTTPError as error:
            return request, None, time.perf_counter() - start, type(error).__name__
        return request, response.status_code, time.perf_counter() - start, response.text[:300]

    chunks = [requests[i::workers] for i in range(workers)]

    def run(chunk: list[Prepared]) -> list[tuple[Prepared, int | None, float, str]]:
        with httpx.Client(timeout=60) as client:
            return [one(client, r) for r in chunk]

    with ThreadPoolExecutor(workers) as pool:
        for results in pool.map(run, chunks):
            for request, status, seconds, text in results:
                report.requests += 1
                report.by_operation[request.operation] += 1
                if status is None:
                    report.transport_errors += 1
                    continue
                report.statuses[status] += 1
                if status >= 500:
                    report.server_errors.append((request.operation, status, text))
                if seconds > report.slowest_s:
                    report.slowest_s, report.slowest = seconds, f"{request.operation} {status}"
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="at least this many")
    parser.add_argument("--workers", type=int, default=8, help="client threads")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, security_gateway(Path(tmp)) as gateway:
        spec = httpx.get(gateway.url + "/openapi.json", timeout=30).json()
        started = time.perf_counter()
        prepared = generate(spec, count=args.requests, seed=args.seed)
        generated_s = time.perf_counter() - started
        print(f"generated {len(prepared)} requests in {generated_s:.0f} s")
        started = time.perf_counter()
        report = send(gateway.url, prepared, workers=args.workers)
        elapsed = time.perf_counter() - started
        talks = len(gateway.talk_ids())
    print(
        f"requests:        {report.requests} in {elapsed:.0f} s ({report.requests / elapsed:.0f}/s)"
    )
    print(f"5xx:             {report.five_xx}")
    print(f"transport errors: {report.transport_errors}")
    print(f"slowest:         {report.slowest_s * 1000:.0f} ms ({report.slowest})")
    print("statuses:        " + ", ".join(f"{s}: {n}" for s, n in sorted(report.statuses.items())))
    print(
        "per operation:   " + ", ".join(f"{o}: {n}" for o, n in sorted(report.by_operation.items()))
    )
    print(f"talks recorded:  {talks}")
    for operation, status, text in report.server_errors[:10]:
        print(f"  {status} {operation}: {text}")
    sys.exit(1 if report.five_xx or report.transport_errors else 0)


if __name__ == "__main__":
    main()
