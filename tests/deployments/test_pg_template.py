"""The cache of migrated PostgreSQL data folders (deployments/pg_template.py): built once per
key, published atomically, safe with two processes at once, rebuilt and pruned when the key
changes. The production smoke (test_production_stack.py) runs it with PostgreSQL for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from deployments import pg_template
from deployments.local_stack import PROJECT_DIR


def _builder(calls: list[Path]):  # noqa: ANN202
    def build(data: Path) -> None:
        calls.append(data)
        data.mkdir(mode=0o700)
        (data / "PG_VERSION").write_text("15\n")
        (data / "base").mkdir()
        (data / "base" / "table").write_bytes(b"x" * 1000)

    return build


def test_built_once_then_reused(tmp_path: Path) -> None:
    calls: list[Path] = []
    parts = {"prefect": "3.8.7", "postgres": "pg15"}
    key = pg_template.template_key(parts)
    folder, hit = pg_template.ensure(tmp_path, key, parts, _builder(calls))
    assert (hit, len(calls)) == (False, 1)
    assert folder == tmp_path / key and (folder / "data" / "PG_VERSION").read_text() == "15\n"
    assert json.loads((folder / pg_template.META).read_text())["prefect"] == "3.8.7"
    again, hit = pg_template.ensure(tmp_path, key, parts, _builder(calls))
    assert (again, hit, len(calls)) == (folder, True, 1)
    assert [p.name for p in tmp_path.iterdir()] == [key], "no staging folder left"

    dest = tmp_path / "copy"
    pg_template.copy_data(folder, dest)
    assert (dest / "base" / "table").read_bytes() == b"x" * 1000
    assert dest.stat().st_mode & 0o777 == 0o700, "PostgreSQL refuses a data folder not 0700"
    with pytest.raises(OSError):
        pg_template.copy_data(tmp_path / "missing", tmp_path / "copy2")


def test_key_change_builds_anew_and_removes_the_old(tmp_path: Path) -> None:
    calls: list[Path] = []
    old_parts = {"prefect": "3.8.6", "postgres": "pg15"}
    new_parts = {"prefect": "3.8.7", "postgres": "pg15"}
    old_key, new_key = map(pg_template.template_key, (old_parts, new_parts))
    assert old_key != new_key
    assert pg_template.template_key({**new_parts, "initdb": "-E UTF8"}) != new_key
    pg_template.ensure(tmp_path, old_key, old_parts, _builder(calls))
    stale = tmp_path / f".tmp-{new_key}-dead"
    stale.mkdir()
    fresh = tmp_path / f".tmp-{new_key}-working"
    fresh.mkdir()
    os.utime(stale, (time.time() - 2 * pg_template.STALE_S,) * 2)
    folder, hit = pg_template.ensure(tmp_path, new_key, new_parts, _builder(calls))
    assert not hit and len(calls) == 2
    # The old key's template and the dead builder's folder are gone; a recent one (a builder
    # that may be at work) stays.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([new_key, fresh.name])


def test_failed_build_publishes_nothing(tmp_path: Path) -> None:
    def build(data: Path) -> None:
        data.mkdir()
        raise RuntimeError("initdb failed")

    with pytest.raises(RuntimeError):
        pg_template.ensure(tmp_path, "k", {}, build)
    assert list(tmp_path.iterdir()) == []


def test_two_processes_at_once_both_get_one_complete_template(tmp_path: Path) -> None:
    """Two test processes start a stack at the same moment with no template: both build (in
    their own staging folders), one publishes, both use the published, complete folder."""
    script = textwrap.dedent(
        f"""
        import json, sys, time
        from pathlib import Path
        from deployments import pg_template

        def build(data):
            data.mkdir(mode=0o700)
            time.sleep(1.0)  # both are building at once
            (data / "PG_VERSION").write_text(sys.argv[1])

        folder, hit = pg_template.ensure(Path({str(tmp_path)!r}), "k", {{}}, build)
        print(json.dumps([str(folder), hit, (folder / "data" / "PG_VERSION").read_text()]))
        """
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(i)],
            cwd=PROJECT_DIR,
            env={"PYTHONPATH": str(PROJECT_DIR), "PATH": "/usr/bin:/bin"},
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in (1, 2)
    ]
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    folders = {r[0] for r in results}
    contents = {r[2] for r in results}
    assert folders == {str(tmp_path / "k")}
    assert len(contents) == 1 and contents <= {"1", "2"}, "both read the one published"
    assert [p.name for p in tmp_path.iterdir()] == ["k"]
