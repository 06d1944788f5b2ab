"""The retag flow: re-score talks after a model or vocabulary change, batch by batch.

Resumable: each batch is committed and checkpointed on its own, so a crashed or cancelled run
picks up at the first unfinished batch on the next run.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.run_names import retag_run_name
from podium.devices import resolve_device
from podium.vocabulary import load_vocabulary
from tasks.resources import flow_resources
from tasks.tagging import find_stale_talks, load_tag_history, load_tagger, retag_talks, summary


@flow(name="retag", flow_run_name=retag_run_name)
def retag(batch_size: int = 256, force: bool = False, limit: int | None = None) -> dict[str, Any]:
    """Re-tag every talk whose model tags predate the current tagger or vocabulary.

    Args:
        batch_size: talks per batch (one embedding pass and one lake commit each).
        force: retag every talk, not only stale ones.
        limit: stop after this many talks; the next run continues.
    """
    resources = flow_resources()
    settings, lake = resources.settings, resources.lake
    vocabulary = load_vocabulary(lake=lake)
    tagger = load_tagger(settings=settings.tagging, device=resolve_device(settings.tagging.device))
    history = load_tag_history(lake=lake, tagger=tagger)
    stale, considered = find_stale_talks(
        lake=lake, tagger=tagger, vocabulary=vocabulary, force=force
    )
    todo = stale[:limit] if limit is not None else stale
    written = 0
    for start in range(0, len(todo), batch_size):
        written += retag_talks(
            lake=lake,
            tagger=tagger,
            vocabulary=vocabulary,
            history=history,
            talks=todo[start : start + batch_size],
        )
    return summary(
        {
            "model": tagger.assignment_model(vocabulary),
            "talks": considered,
            "up_to_date": considered - len(stale),
            "retagged": len(todo),
            "rows_written": written,
        }
    )
