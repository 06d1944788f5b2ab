"""Fault injection for enrichment, with real processes: prints what was lost or done twice.

Each scenario starts real `enrich_pending` worker processes (the loop the `enrich` flow runs)
on a lake in a temp folder, with the packaged MiniLM tagger and card covers, injects a fault
for real (SIGKILL of a worker mid-batch, a talk whose processing kills its process, an edit
recorded while a worker tags, two workers started at once) and then checks the lake against
the truth with `podium.enrichment.audit`.

Columns, as in bench/faults.py: scenario, talks sent, talks lost (a live talk neither enriched
at its current version, nor queued, nor reported failed), talks processed twice (a talk version
whose tags or cover were computed and written by two workers: each worker journals what it
wrote, before recording it), time to recover (from the fault to every talk settled).

    .venv/bin/python bench/faults_enrich.py [--talks 24] [--only kill,poison,edit,overlap]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

LEASE_S = 5.0


def _child(journal: str) -> None:
    """One worker: enrich everything pending, journalling each talk version it wrote."""
    from podium.settings import get_settings
    from podium.use_cases.enrich import EnrichResources, enrich_pending

    settings = get_settings()
    # The kill scenario holds the worker after this many journalled steps, before the step's
    # results are recorded: a fault point every run reaches, however fast the worker is.
    hold_after = int(os.environ.get("FAULTS_HOLD_AFTER_STEPS", "0"))
    steps = 0

    def step(name: str, action: Any) -> Any:
        nonlocal steps
        result = action()
        if name in ("tag-talks", "draw-covers"):
            with open(journal, "a", encoding="utf-8") as handle:
                for talk in result.done:
                    line = {"stage": name, "talk_id": talk.talk_id, "hash": talk.content_hash}
                    handle.write(json.dumps(line) + "\n")
                handle.flush()
            steps += 1
            if steps == hold_after:
                time.sleep(3600)  # killed here by the scenario
        return result

    resources = EnrichResources.cold(settings, step=step)
    report = enrich_pending(resources, owner=f"bench-{os.getpid()}")
    print(json.dumps({"tagged": len(report.tagged), "failed": report.failed}))


class Scenario:
    """A temp lake, its settings as environment, and worker processes on it."""

    def __init__(self, name: str, talks: int, **env: str) -> None:
        from podium.demo import SAMPLE_DIR
        from podium.lake import Lake
        from podium.models import Talk
        from podium.vocabulary import read_vocabulary_file, save_vocabulary

        self.name = name
        self.dir = Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
        self.journal = str(self.dir / "journal.jsonl")
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "HF_HUB_OFFLINE": "1",
            "PODIUM_HOME": str(self.dir / "home"),
            "PODIUM_LAKE__URL": str(self.dir / "lake"),
            "PODIUM_ENRICH__LEASE_SECONDS": str(LEASE_S),
            "PODIUM_ENRICH__BATCH_SIZE": "4",
            **env,
        }
        self.lake = Lake(str(self.dir / "lake"))
        save_vocabulary(
            lake=self.lake, vocabulary=read_vocabulary_file(SAMPLE_DIR / "vocabulary.json")
        )
        rows = json.loads((SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))
        self.talks = [
            Talk.model_validate({**rows[i % len(rows)], "talk_id": f"talk-{i:03d}"})
            for i in range(talks)
        ]
        self.sent = len(self.talks)

    def record(self, talks: list[Any]) -> None:
        from podium.recording import record_talks

        record_talks(lake=self.lake, talks=talks)

    def start(self, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, __file__, "--child", self.journal],
            env={**self.env, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    def claims_held(self) -> int:
        state = self.lake.read("enrichment_state", columns=["claimed_by"])
        return int(state.claimed_by.notna().sum())

    def done(self, stage: str = "tags") -> int:
        state = self.lake.read("enrichment_state", columns=["stage", "status"])
        return int(((state.stage == stage) & (state.status == "done")).sum())

    def settle(self, *, runs: int = 8) -> int:
        """Run workers one after another until nothing is queued; returns how many ran."""
        from podium.enrichment import outstanding

        for n in range(runs):
            if not outstanding(lake=self.lake, max_attempts=3):
                return n
            time.sleep(LEASE_S + 0.5)  # a dead worker's claims expire first
            self.start().wait()
        return runs

    def row(self, recovered_s: float) -> dict[str, Any]:
        from podium.enrichment import audit

        result = audit(lake=self.lake, max_attempts=3)
        lines = Path(self.journal).read_text(encoding="utf-8").splitlines()
        counts = Counter(
            (j["stage"], j["talk_id"], j["hash"]) for j in (json.loads(x) for x in lines)
        )
        twice = {talk for (_, talk, _), n in counts.items() if n > 1}
        return {
            "scenario": self.name,
            "talks sent": self.sent,
            "talks lost": len(result.lost) + len(result.stale_tags) + len(result.uncovered),
            "talks processed twice": len(twice),
            "time to recover": f"{recovered_s:.1f} s",
            "notes": f"{len(result.enriched)} enriched, {len(result.failed)} failed",
        }


def _wait(predicate: Any, worker: subprocess.Popen[str], timeout_s: float = 600) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}) before the fault point")
        if time.monotonic() > deadline:
            raise TimeoutError("scenario did not reach its fault point")
        time.sleep(0.2)


def kill_mid_batch(talks: int) -> dict[str, Any]:
    # The worker holds after its second step (a batch tagged and recorded, then the next step
    # computed but its claim not yet recorded): the kill lands there every run.
    s = Scenario("kill -9 worker mid-batch", talks)
    s.record(s.talks)
    worker = s.start(FAULTS_HOLD_AFTER_STEPS="2")
    # Mid-batch: at least one batch recorded, and a claim held that is not recorded yet.
    _wait(lambda: s.done() >= 4 and s.claims_held() > 0, worker)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    fault = time.monotonic()
    s.settle()
    return s.row(time.monotonic() - fault)


def poison_talk(talks: int) -> dict[str, Any]:
    poison = "talk-002"
    s = Scenario("talk that kills its worker", talks, PODIUM_ENRICH__CRASH_ON_TALK=poison)
    s.record(s.talks)
    fault = time.monotonic()
    s.start().wait()  # dies on the poison talk's batch
    runs = s.settle(runs=10)
    row = s.row(time.monotonic() - fault)
    row["notes"] += f", {runs + 1} worker runs"
    return row


def edit_while_enriching(talks: int) -> dict[str, Any]:
    from podium.models import Talk

    s = Scenario("edit while enrich works", talks)
    s.record(s.talks)
    worker = s.start()
    _wait(lambda: s.claims_held() > 0, worker)
    edits = [
        Talk.model_validate(
            {**t.model_dump(exclude={"content_hash"}), "description": "Edited: " + t.description}
        )
        for t in s.talks[:3]
    ]
    s.record(edits)  # as the gateway records an edit
    fault = time.monotonic()
    worker.wait()
    s.settle()
    s.sent += len(edits)
    return s.row(time.monotonic() - fault)


def two_workers_at_once(talks: int) -> dict[str, Any]:
    s = Scenario("enrich and backfill at once", talks)
    s.record(s.talks)
    fault = time.monotonic()
    workers = [s.start(), s.start()]
    for worker in workers:
        worker.wait()
    s.settle()
    return s.row(time.monotonic() - fault)


SCENARIOS = {
    "kill": kill_mid_batch,
    "poison": poison_talk,
    "edit": edit_while_enriching,
    "overlap": two_workers_at_once,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=24)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child)
        return
    rows = [SCENARIOS[name](args.talks) for name in args.only.split(",")]
    columns = list(rows[0])
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
