"""What the Prefect UI shows for ingest and enrich: run names, artifact headers and tables.

Real: a Prefect server started by the tests, the lake in a temp folder, the MiniLM tagger and
the card covers; the gateway's recording step is the real `record_talks` it calls.
"""

from __future__ import annotations

import json
from pathlib import Path

from flows.enrich import enrich
from flows.ingest import IngestRequest, ingest, ingest_description, ingest_rows
from podium.ingest import IngestReport
from podium.models import Talk
from podium.recording import record_talks
from tests.prefect_server import latest_artifact, run_names
from tests.samples import sample_talks, vocabulary_lake


def test_ingest_rows_agree_with_the_header() -> None:
    report = IngestReport(new=["a"], unchanged=["b"], pending=["a"])
    rows = ingest_rows(
        report=report, recorded_by_gateway=["c"], pending=["a", "c", "d"], errors=["x: no title"]
    )
    assert [(r["talk_id"], r["change"], r["enrichment"]) for r in rows] == [
        ("a", "new", "pending"),
        ("b", "unchanged", "—"),
        ("c", "recorded by gateway", "pending"),
        ("d", "recorded earlier", "pending"),
        ("x", "rejected: x: no title", "—"),
    ]
    assert ingest_description(rows, limit=500) == (
        "5 talks: 1 new, 1 unchanged, 1 recorded by gateway, 1 recorded earlier, 1 rejected; "
        "3 pending enrichment"
    )
    assert ingest_description(rows, limit=2).startswith("5 talks (first 2 shown): ")


def test_names_headers_and_an_idle_run_that_keeps_the_last_summary(
    prefect_server: str, settings, tmp_path: Path
) -> None:
    lake = vocabulary_lake(settings)
    talks = sample_talks(4)

    # The gateway records three talks; its trigger passes only the first event's ids.
    record_talks(lake=lake, talks=[Talk.model_validate(t) for t in talks[:3]])
    ingest(IngestRequest(talk_ids=[talks[0]["talk_id"]]))
    artifact = latest_artifact(prefect_server, "ingested-talks")
    table = json.loads(artifact["data"])
    assert len(table) == 3 and all(row["enrichment"] == "pending" for row in table)
    assert artifact["description"].startswith("3 talks: ")
    assert artifact["description"].endswith("; 3 pending enrichment")
    assert "ingest · 1 talk from the gateway" in run_names(prefect_server, "ingest")

    source = tmp_path / "more-talks.json"
    source.write_text(json.dumps(talks[3:]), encoding="utf-8")
    ingest(IngestRequest(source=str(source)))
    assert "ingest · more-talks.json" in run_names(prefect_server, "ingest")

    assert enrich()["talks"] == 4
    summary = latest_artifact(prefect_server, "enrich-run")
    assert "| 4 | 4 | 4 | 0 | 2 |" in summary["data"]
    covers = latest_artifact(prefect_server, "covers")["data"]
    # Each cover is an image with its alt text, never a link.
    assert covers.count("](data:image/jpeg;base64,") == 4
    assert covers.count("| ![") == 4
    assert "](" not in covers.replace("](data:", ""), "no links, only plain images"

    # An idle run (the safety-net schedule) leaves the last real summary in place.
    assert enrich()["talks"] == 0
    assert latest_artifact(prefect_server, "enrich-run")["latest_id"] == summary["latest_id"]
    names = run_names(prefect_server, "enrich")
    assert "enrich · 4 talks" in names and "enrich · nothing pending" in names
