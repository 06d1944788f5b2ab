"""The layers hold: the import-linter contracts in pyproject.toml, and a plain import of the core.

Real: import-linter's graph of the source tree, and a fresh interpreter for the import check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" in result.stdout and "0 broken" in result.stdout


def test_importing_the_core_loads_no_prefect_and_no_outer_layer() -> None:
    probe = (
        "import json, sys\n"
        "import podium, podium.tagging, podium.recommend, podium.review, podium.images\n"
        "import podium.lake, podium.settings, podium.models, podium.use_cases.enrich\n"
        "import podium.ingest, podium.sources, podium.dynamodb, podium.pretalx\n"
        "import podium.resources, podium.use_cases.ingest, podium.use_cases.aggregate\n"
        "import podium.use_cases.review, podium.use_cases.write_back, podium.lake.versions\n"
        "bad = sorted(m for m in sys.modules\n"
        "             if m.split('.')[0] in {'prefect', 'flows', 'tasks', 'deployments'})\n"
        "print(json.dumps(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


# The one module allowed to call Prefect's emit_event: the flows' event sink.
EMITTERS = {"tasks/resources.py"}


def test_events_go_through_one_sink() -> None:
    sites = {
        str(path.relative_to(ROOT))
        for folder in ("podium", "flows", "tasks", "deployments")
        for path in (ROOT / folder).rglob("*.py")
        if "emit_event(" in path.read_text(encoding="utf-8")
    }
    assert sites <= EMITTERS, f"emit_event outside the event sink: {sorted(sites - EMITTERS)}"
