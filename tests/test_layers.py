"""The layers hold: the import-linter contracts in pyproject.toml, and a plain import of the core.

Real: import-linter's graph of the source tree, and a fresh interpreter for the import check.
"""

from __future__ import annotations

import ast
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


# Each table's owner: the one module that names it to the lake (docs/architecture.md).
TABLE_OWNERS = {
    "talks": "podium/ingest.py",
    "events": "podium/ingest.py",
    "talk_tags": "podium/talk_tags.py",
    "tag_feedback": "podium/tag_feedback.py",
    "enrichment_state": "podium/enrichment.py",
    "enrich_runs": "podium/enrichment.py",
    "tag_counts": "podium/tag_counts.py",
    "talk_images": "podium/images/storage.py",
    "recommendations": "podium/lake/recommendations.py",
    "related_talks": "podium/lake/recommendations.py",
    "reviews": "podium/review/records.py",
    "embeddings": "podium/embedding_cache.py",
    "source_checkpoints": "podium/checkpoints.py",
    "dynamodb_keys": "podium/dynamodb/keys.py",
    "deferred_events": "podium/deferrals.py",
}
# Modules still naming a table they do not own, each with the tables it names. Empty the
# entry when the module switches to the owner's readers; never add one.
TABLE_EXCEPTIONS: dict[str, set[str]] = {}
# Lake calls that take a table name (`Lake`'s methods, `Snapshot.open`).
LAKE_CALLS = {
    "read", "append", "upsert", "overwrite", "replace_where", "delete", "update_matched",
    "version", "exists", "compact", "keyed_reader", "table_uri", "arrow", "open",
}  # fmt: skip


def _table_names(node: ast.AST) -> set[str]:
    """Table names a call argument or a module constant spells out: a string, or a tuple of
    strings that are all table names (not, say, a list of stages that shares a word)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value} & set(TABLE_OWNERS)
    if isinstance(node, ast.Tuple | ast.List | ast.Set) and node.elts:
        names = [e.value for e in node.elts if isinstance(e, ast.Constant)]
        if len(names) == len(node.elts) and set(names) <= set(TABLE_OWNERS):
            return set(names)
    return set()


def tables_named(source: str) -> set[str]:
    """Tables `source` names to the lake: a literal passed to a lake call (any argument), or
    a module-level constant holding one (a name later passed on)."""
    found: set[str] = set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in LAKE_CALLS:
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    found |= _table_names(arg)
    for statement in tree.body:
        if isinstance(statement, ast.Assign | ast.AnnAssign) and statement.value is not None:
            found |= _table_names(statement.value)
    return found


def test_the_scan_finds_a_table_named_outside_its_owner() -> None:
    assert tables_named('rows = lake.read("talks", columns=["talk_id"])\n') == {"talks"}
    assert tables_named('lake.upsert(name="enrichment_state", frame=f)\n') == {"enrichment_state"}
    assert tables_named('TABLES = ("talks", "talk_tags")\n') == {"talks", "talk_tags"}
    assert tables_named('summary = {"talks": 3}\nlog.info("talks")\n') == set()
    assert tables_named('STAGES = ("import", "tags", "recommendations")\n') == set()


def test_tables_are_named_only_by_their_owners() -> None:
    strays: dict[str, set[str]] = {}
    for folder in ("podium", "flows", "tasks", "deployments"):
        for path in (ROOT / folder).rglob("*.py"):
            module = str(path.relative_to(ROOT))
            named = {
                t
                for t in tables_named(path.read_text(encoding="utf-8"))
                if TABLE_OWNERS[t] != module
            }
            if named - TABLE_EXCEPTIONS.get(module, set()):
                strays[module] = named
    assert not strays, f"tables named outside their owner (call the owner instead): {strays}"
    # An exception that no longer holds goes, so the list only shrinks.
    for module, tables in TABLE_EXCEPTIONS.items():
        named = tables_named((ROOT / module).read_text(encoding="utf-8"))
        assert tables <= named, f"{module} no longer names {tables - named}: drop the exception"
