"""Model-based check of the gateway and the stream reader against a small reference model.

A hypothesis `RuleBasedStateMachine` drives random sequences of steps against the real
gateway app (in process, over ASGI: FastAPI's TestClient, signed requests, the replay guard,
the group commit, the real Delta lake in a temp folder) and the real stream reader's page step
(`podium.dynamodb.streams.apply_page`, what `sync_stream` does with each page):

- creates and edits on /hooks/talks, with and without `updated_at` (zoned or naive);
- DynamoDB INSERT/MODIFY/REMOVE records with growing sequence numbers, on /hooks/dynamodb and
  through the stream reader, delivered in order, out of order, repeated and duplicated within
  one batch, with Podium's own written-back tags on the item;
- exact replays of a handled message (same id, same body) and altered replays (same
  signature, another body);
- hostile records beside an innocent one: far-future `updated_at`, 1,500 tags x 1,500 event
  ids, a bad id, a 5,000-digit signature timestamp.

After every step: no answer is a 5xx; the lake's `talks` table equals the model (state, title,
tags, and the place in source order of every talk ever mentioned); the ledger holds each live
talk's current content hash for every stage. The model is the documented rule of
podium/ordering.py: per talk, the change last in source order wins (sequence numbers when
both sides have one, else `updated_at` when both have one, else arrival); a removal is a
tombstone; an identical change writes nothing unless it moves the row later in the order.

    .venv/bin/python bench/model_check.py --steps 5000

Prints steps run, failures (0 or 1: hypothesis stops at the first and shrinks it) and the
shortest failing sequence when there is one.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from podium.enrichment import (
    STAGES,
    state_rows,  # noqa: E402
)
from podium.gateway.signatures import signed_headers, standard_headers  # noqa: E402
from podium.ingest import talk_rows  # noqa: E402
from podium.lake import Lake  # noqa: E402
from podium.ordering import SourceOrder  # noqa: E402
from podium.settings import Settings  # noqa: E402

SECRET = "model-check-secret-0123456789"
TABLE = "directory"
BASE = datetime(2026, 1, 1, tzinfo=UTC)
TITLES = ["Streaming joins", "Typing Python", "Dask at scale", "Rust for data", "Lakes"]
TAGS = ["python", "rust", "data", "ml", "web"]
TALK_IDS = ["t-a", "t-b", "t-c", "t-d"]


@dataclass
class Row:
    """What the model says the lake holds for one talk."""

    deleted: bool
    title: str
    tags: tuple[str, ...]
    order: SourceOrder
    content: tuple[Any, ...]  # title and tags: equal content writes nothing


@dataclass(frozen=True)
class Change:
    """One change as the model sees it: an upsert (title, tags) or a removal."""

    talk_id: str
    order: SourceOrder
    title: str | None = None  # None: a removal
    tags: tuple[str, ...] = ()

    @property
    def content(self) -> tuple[Any, ...]:
        # Tags as Podium keeps them: first appearance first (the record hash sees the order).
        return (self.title, tuple(dict.fromkeys(self.tags)))


@dataclass
class Sent:
    """A handled request, kept for replays."""

    route: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Counters:
    progress: int = 0  # print a line every this many steps (0: quiet)
    steps: int = 0
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


COUNTERS = Counters()


def older(a: SourceOrder, b: SourceOrder) -> bool:
    """The documented rule, written out again (not Podium's code): sequence numbers when both
    have one, else updated_at when both have one, else neither is older (arrival decides)."""
    if a.sequence is not None and b.sequence is not None:
        return a.sequence < b.sequence
    if a.updated_at is not None and b.updated_at is not None:
        return a.updated_at < b.updated_at
    return False


def last(changes: list[tuple[SourceOrder, Any]]) -> Any:
    """Of changes in arrival order, the one last in source order (arrival breaks ties)."""
    winner_order, winner = changes[0]
    for order, change in changes[1:]:
        if not older(order, winner_order):
            winner_order, winner = order, change
    return winner


def apply(rows: dict[str, Row], changes: list[Change]) -> None:
    """The reference: one recording of `changes` (in arrival order) against `rows`."""
    by_id: dict[str, list[tuple[SourceOrder, Change]]] = {}
    for change in changes:
        by_id.setdefault(change.talk_id, []).append((change.order, change))
    for talk_id, candidates in by_id.items():
        change = last(candidates)
        row = rows.get(talk_id)
        if row is not None and older(change.order, row.order):
            continue  # stale
        newer = row is not None and older(row.order, change.order)
        if change.title is None:
            if row is None:
                rows[talk_id] = Row(True, "", (), change.order, ("", ()))
            elif not row.deleted or newer:
                rows[talk_id] = Row(True, row.title, row.tags, change.order, row.content)
            continue
        same = row is not None and not row.deleted and row.content == change.content
        if not same or newer:
            rows[talk_id] = Row(False, change.title, change.content[1], change.order,
                                change.content)  # fmt: skip


def batch_winners(changes: list[tuple[int, Change]]) -> list[Change]:
    """A DynamoDB batch: per talk, sort by (sequence, position), then the last in order."""
    by_id: dict[str, list[tuple[int, Change]]] = {}
    for index, change in changes:
        by_id.setdefault(change.talk_id, []).append((index, change))
    out = []
    for items in by_id.values():
        items.sort(key=lambda item: (item[1].order.sequence or 0, item[0]))
        out.append(last([(c.order, (i, c)) for i, c in items]))
    return [c for _, c in sorted(out, key=lambda item: item[0])]


@contextmanager
def _prefect_stand_in() -> Iterator[str]:
    from tests.podium.review.httpfakes import http_server

    with http_server(lambda method, path, headers, body: (200, {})) as server:
        yield server.url


class GatewayModel(RuleBasedStateMachine):
    """One gateway app on a fresh lake per example, its client, and the model."""

    prefect_url = ""

    def __init__(self) -> None:
        from fastapi.testclient import TestClient

        from podium.events import EventPoster
        from podium.gateway.app import create_app

        super().__init__()
        self.folder = tempfile.TemporaryDirectory(prefix="model-check-")
        self.settings = Settings(
            home=Path(self.folder.name) / "home",
            lake={"url": str(Path(self.folder.name) / "lake")},
            prefect={"api_url": f"{self.prefect_url}/api", "event_retries": 0},
            gateway={"secret": SECRET},
        )
        self.lake = Lake.from_settings(self.settings)
        poster = EventPoster(api_url=f"{self.prefect_url}/api", retries=0, backoff_s=0)
        self.client = TestClient(create_app(self.settings, lake=self.lake, poster=poster))
        self.rows: dict[str, Row] = {}
        self.sent: list[Sent] = []
        self.sequence = 0
        self.held: list[dict[str, Any]] = []  # stream records generated, kept for redelivery
        self.clock = 0  # seconds after BASE of the last updated_at handed out

    def teardown(self) -> None:
        self.client.close()
        self.folder.cleanup()

    # ---- sending -------------------------------------------------------------------------

    def _post(self, route: str, body: Any, *, keep: bool = True) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = standard_headers(raw, SECRET, msg_id=f"msg_{uuid.uuid4().hex}")
        response = self.client.post(route, content=raw, headers=headers)
        self._count(response.status_code)
        assert response.status_code < 500, (route, response.status_code, response.text[:300])
        if keep and response.status_code < 300:
            self.sent.append(Sent(route, raw, headers))
        return response

    def _count(self, status: int) -> None:
        COUNTERS.requests += 1
        COUNTERS.statuses[status] = COUNTERS.statuses.get(status, 0) + 1

    def _tick(self, step: int) -> datetime:
        self.clock += step
        return BASE + timedelta(seconds=self.clock)

    # ---- /hooks/talks ----------------------------------------------------------------------

    @rule(
        talk_id=st.sampled_from(TALK_IDS),
        title=st.sampled_from(TITLES),
        tags=st.lists(st.sampled_from(TAGS), max_size=3),
        when=st.one_of(st.none(), st.integers(-5, 5)),
        naive=st.booleans(),
    )
    def submit(self, talk_id: str, title: str, tags: list[str], when: int | None, naive: bool):
        """A create or an edit; with an updated_at (zoned or naive, maybe older) or none."""
        body: dict[str, Any] = {"talk_id": talk_id, "title": title, "tags": tags}
        updated = None
        if when is not None:
            updated = self._tick(0) + timedelta(seconds=when)
            self._tick(1)
            text = updated.isoformat()
            body["updated_at"] = text.removesuffix("+00:00") if naive else text
        response = self._post("/hooks/talks", body)
        assert response.status_code == 200, response.text
        apply(self.rows, [Change(talk_id, SourceOrder(None, updated), title, tuple(tags))])

    @rule(
        first=st.sampled_from(TALK_IDS),
        second=st.sampled_from(TALK_IDS),
        title=st.sampled_from(TITLES),
        hostile=st.sampled_from(["future", "blowup", "bad-id", "naive-future"]),
    )
    def hostile_beside_innocent(self, first: str, second: str, title: str, hostile: str):
        """A hostile record in the same body as an innocent one: the innocent is recorded."""
        innocent = {"talk_id": first, "title": title, "updated_at": self._tick(1).isoformat()}
        bad: dict[str, Any] = {"talk_id": second, "title": "hostile"}
        if hostile == "future":
            bad["updated_at"] = "9999-12-31T00:00:00Z"
        elif hostile == "naive-future":
            bad["updated_at"] = "9999-12-31T00:00:00"
        elif hostile == "blowup":
            bad["tags"] = [f"t{i}" for i in range(1500)]
            bad["event_ids"] = [f"e{i}" for i in range(1500)]
        else:
            bad["talk_id"] = "../" + second
        response = self._post("/hooks/talks", [bad, innocent])
        assert response.status_code == 422, response.text
        assert response.json()["accepted"] == [first]
        order = SourceOrder(None, BASE + timedelta(seconds=self.clock))
        apply(self.rows, [Change(first, order, title, ())])

    @rule(route=st.sampled_from(["/hooks/talks", "/hooks/dynamodb"]), legacy=st.booleans())
    def huge_signature_timestamp(self, route: str, legacy: bool):
        """A 5,000-digit signature timestamp: 401 before anything is parsed."""
        raw = json.dumps({"talk_id": "t-a", "title": "forged"}).encode()
        if legacy:
            headers = signed_headers(raw, SECRET) | {"X-Podium-Timestamp": "9" * 5000}
        else:
            headers = standard_headers(raw, SECRET) | {"webhook-timestamp": "9" * 5000}
        response = self.client.post(route, content=raw, headers=headers)
        self._count(response.status_code)
        assert response.status_code == 401, response.text

    # ---- DynamoDB --------------------------------------------------------------------------

    def _record(self, talk_id: str, event: str, title: str, tags: list[str], podium: list[str],
                stamp: str) -> tuple[dict[str, Any], Change]:  # fmt: skip
        self.sequence += 1
        keys = {"pk": {"S": "USER#1"}, "sk": {"S": f"talk#{talk_id}"}}
        stream: dict[str, Any] = {"Keys": keys, "SequenceNumber": str(self.sequence)}
        at = None
        if stamp != "none":
            at = self._tick(1).replace(microsecond=0)
            stream["ApproximateCreationDateTime"] = int(at.timestamp())
        if event == "REMOVE":
            change = Change(talk_id, SourceOrder(self.sequence, at))
        else:
            image = keys | {
                "title": {"S": title},
                "tags": {"L": [{"S": t} for t in [*tags, *podium]]},
            }
            if podium:
                image["podiumTags"] = {"L": [{"S": t} for t in podium]}
            if stamp == "updatedAt":
                at = self._tick(1).replace(microsecond=0)
                image["updatedAt"] = {"N": str(int(at.timestamp()))}
            stream["NewImage"] = image
            kept = tuple(t for t in tags if t not in podium)
            change = Change(talk_id, SourceOrder(self.sequence, at), title, kept)
        record = {"eventName": event, "dynamodb": stream}
        self.held.append({"record": record, "change": change})
        return record, change

    records = st.lists(
        st.tuples(
            st.sampled_from(TALK_IDS),
            st.sampled_from(["INSERT", "MODIFY", "REMOVE"]),
            st.sampled_from(TITLES),
            st.lists(st.sampled_from(TAGS), max_size=3),
            st.lists(st.sampled_from(["podium-a", "podium-b"]), max_size=2, unique=True),
            st.sampled_from(["none", "approximate", "updatedAt"]),
        ),
        min_size=1,
        max_size=4,
    )

    def _deliver(self, via: str, records: list[dict[str, Any]], changes: list[Change]) -> None:
        if via == "hook":
            response = self._post("/hooks/dynamodb", {"Records": records})
            assert response.status_code == 200, response.text
        else:
            from podium.dynamodb.streams import apply_page
            from podium.sources import InputPolicy

            policy = InputPolicy.from_settings(self.settings)
            _, errors = apply_page(lake=self.lake, table=TABLE, records=records, policy=policy)
            assert errors == [], errors
        apply(self.rows, batch_winners(list(enumerate(changes))))

    @rule(batch=records, via=st.sampled_from(["hook", "stream"]), shuffle=st.randoms())
    def dynamodb_batch(self, batch, via: str, shuffle):
        """New records, in order or shuffled within the batch (sequence numbers decide)."""
        made = [self._record(*item) for item in batch]
        if len(made) > 1 and shuffle.random() < 0.5:
            shuffle.shuffle(made)
        self._deliver(via, [r for r, _ in made], [c for _, c in made])

    @precondition(lambda self: self.held)
    @rule(picks=st.lists(st.integers(0, 10_000), min_size=1, max_size=4),
          via=st.sampled_from(["hook", "stream"]))  # fmt: skip
    def redeliver(self, picks: list[int], via: str):
        """Old records again: repeated, out of order, duplicated within one batch."""
        chosen = [self.held[p % len(self.held)] for p in picks]
        self._deliver(via, [c["record"] for c in chosen], [c["change"] for c in chosen])

    # ---- replays ---------------------------------------------------------------------------

    @precondition(lambda self: self.sent)
    @rule(pick=st.integers(0, 10_000), altered=st.booleans())
    def replay(self, pick: int, altered: bool):
        """A handled message again. Exact (same id, same body): answered from memory as a
        duplicate, nothing recorded again. Altered (same signature, another body): 401."""
        sent = self.sent[pick % len(self.sent)]
        body = sent.body
        if altered:
            body = body.replace(b'"', b'"x', 1) if body[:1] == b"{" else body + b" "
        response = self.client.post(sent.route, content=body, headers=sent.headers)
        self._count(response.status_code)
        assert response.status_code < 500, response.text
        if altered:
            assert response.status_code == 401, response.text
        elif response.status_code == 200:
            assert response.json().get("duplicate") is True, response.text

    # ---- the checks ------------------------------------------------------------------------

    @invariant()
    def lake_equals_the_model(self) -> None:
        COUNTERS.steps += 1
        if COUNTERS.progress and COUNTERS.steps % COUNTERS.progress == 0:
            print(f"  {COUNTERS.steps} steps checked", file=sys.stderr, flush=True)
        if not self.rows:
            return
        columns = ["talk_id", "state", "title", "tags", "content_hash"]
        lake = talk_rows(lake=self.lake, columns=[*columns, "source_sequence",
                                                  "source_updated_at"])  # fmt: skip
        assert sorted(lake.talk_id) == sorted(self.rows), (sorted(lake.talk_id), self.rows)
        live: dict[str, str] = {}
        for row in lake.itertuples():
            want = self.rows[row.talk_id]
            sequence = None if pd.isna(row.source_sequence) else int(row.source_sequence)
            updated = (
                None
                if pd.isna(row.source_updated_at)
                else pd.Timestamp(row.source_updated_at).to_pydatetime()
            )
            got_order = SourceOrder(sequence, updated)
            assert (row.state == "deleted") == want.deleted, (row.talk_id, row.state, want)
            assert got_order == want.order, (row.talk_id, got_order, want.order)
            if not want.deleted:
                assert row.title == want.title, (row.talk_id, row.title, want)
                assert tuple(row.tags) == want.tags, (row.talk_id, list(row.tags), want)
                live[row.talk_id] = row.content_hash
        rows = state_rows(
            lake=self.lake, talk_ids=sorted(live), columns=["talk_id", "stage", "content_hash"]
        )
        # One ledger row per talk and stage, and it names the talk's current version.
        ledger = {(r.talk_id, r.stage): r.content_hash for r in rows.itertuples(index=False)}
        for talk_id, content_hash in live.items():
            for stage in STAGES:
                found = ledger.get((talk_id, stage))
                assert found == content_hash, (talk_id, stage, found, content_hash)


def _describe(error: BaseException) -> str:
    """The failure and hypothesis' notes on it (the shrunk sequence of steps)."""
    notes = "\n".join(getattr(error, "__notes__", []))
    text = f"{type(error).__name__}: {str(error)[:800]}\n{notes}\n"
    for inner in getattr(error, "exceptions", ()):
        text += _describe(inner)
    return text


def run(*, steps: int, per_example: int) -> dict[str, Any]:
    """Run examples until `steps` steps were checked; the figures, and the shortest failing
    sequence hypothesis found (None when none failed)."""
    from hypothesis.reporting import with_reporter

    COUNTERS.steps = COUNTERS.requests = 0
    COUNTERS.statuses = {}
    lines: list[str] = []
    failure: str | None = None
    started = time.perf_counter()
    with _prefect_stand_in() as url:
        GatewayModel.prefect_url = url
        while COUNTERS.steps < steps and failure is None:
            left = steps - COUNTERS.steps
            examples = max(1, left // per_example + 1)
            config = settings(
                max_examples=examples,
                stateful_step_count=per_example,
                deadline=None,
                database=None,
                phases=[Phase.generate, Phase.shrink],
                suppress_health_check=list(HealthCheck),
                print_blob=False,
                report_multiple_bugs=False,
            )
            try:
                with with_reporter(lines.append):
                    run_state_machine_as_test(GatewayModel, settings=config)
            except Exception as error:  # noqa: BLE001 - the shrunk failure, reported below
                failure = _describe(error) + "\n".join(lines)
    return {
        "steps": COUNTERS.steps,
        "requests": COUNTERS.requests,
        "statuses": dict(sorted(COUNTERS.statuses.items())),
        "failures": 0 if failure is None else 1,
        "shortest_failing": failure,
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=5000, help="at least this many steps")
    parser.add_argument("--per-example", type=int, default=40, help="steps per sequence")
    args = parser.parse_args()
    COUNTERS.progress = 500
    figures = run(steps=args.steps, per_example=args.per_example)
    print(f"steps:     {figures['steps']} in {figures['seconds']:.0f} s")
    print(f"requests:  {figures['requests']}")
    print("statuses:  " + ", ".join(f"{s}: {n}" for s, n in figures["statuses"].items()))
    print(f"failures:  {figures['failures']}")
    if figures["shortest_failing"]:
        print("shortest failing sequence:")
        print(figures["shortest_failing"])
    sys.exit(1 if figures["failures"] else 0)


if __name__ == "__main__":
    main()
