"""Recording talks: the step that makes a submission safe, across the two tables it touches.

The gateway, `ingest`, `sync-pretalx` and `sync-dynamodb` all call `record_talks`; nothing
acknowledges a talk before it returns. It writes the talks (`podium.ingest.write_talks`, the
`talks` table's owner), then points the enrichment ledger at the rows as they are after that
write (`podium.enrichment.mark_versions`, the ledger's owner). This module sits above both, so
neither imports the other's writer: `podium.enrichment` reads talks from `podium.ingest`, and
`podium.ingest` knows nothing of the ledger.

Why the ledger follows the row read back and not the change this writer meant to make: two
writers (two gateway replicas, a gateway and an `ingest`) may record versions of one talk at
once. Of the two, the one whose `talks` MERGE committed last reads back (and marks) the final
revision, and the ledger refuses a mark from an older revision whatever the order in which
the two marks commit. See docs/no-lost-work-ordering.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from podium import enrichment
from podium.enrichment import STAGES
from podium.ingest import Change, IngestReport, write_talks
from podium.lake import Lake
from podium.models import Talk


def record_talks(
    *,
    lake: Lake,
    talks: Iterable[Talk] = (),
    removed: Iterable[str] = (),
    changes: Iterable[Change] = (),
) -> IngestReport:
    """Durably record talks (and deletions) in source order and mark what needs enrichment.

    Per talk, the change that is last in source order wins (podium/ordering.py): among the
    changes given, and against the version already in the lake. An older change is reported
    `stale` and applied nowhere; a removal leaves a tombstone that older upserts cannot undo.
    A stage is re-run only when the content it reads changed.

    Args:
        lake: the lake to write to.
        talks: validated talks (new versions), in arrival order.
        removed: ids of talks deleted at the source (`Removal`s carry their source order).
        changes: talks and removals interleaved in arrival order; taken before `talks` and
            `removed`, which are shorthand for changes that follow it.

    Returns:
        Which talks were new, updated, unchanged, removed or stale, and which are now pending.
    """
    now = datetime.now(UTC)
    report, versions = write_talks(
        lake=lake, talks=talks, removed=removed, changes=changes, now=now
    )
    # A crash between the two writes leaves the ledger behind the row; the client's retry
    # of the same change finds the row unchanged and marks it then.
    report.pending = enrichment.mark_versions(lake=lake, versions=versions, stages=STAGES, now=now)
    return report
