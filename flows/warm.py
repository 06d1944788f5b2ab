"""The warm enrich flow: what a speaker's submission runs, in a process whose models are loaded.

The gateway's `podium.talk.submitted` event starts tagging directly (no ingest relay, no
deployment trigger): a warm executor (`deployments/warm_executor.py`) listening to the server's
event stream creates a run of the `enrich-warm` deployment in the `warm` queue of the GPU pool,
claims it and runs it in its own process with the tagger and the cover backend already loaded.
The loop, the claims, the batching and the records are those of `enrich`
(`podium.use_cases.enrich`); only where the models come from differs. The executor's ledger
check, then the cold `enrich` deployment's schedule, are the safety nets for anything lost.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.enrich import enrich_and_report
from flows.run_names import enrich_run_name
from podium import warm_models
from tasks.enrich import warm_enrich_resources
from tasks.resources import flow_resources

# The gallery decodes and thumbnails every cover: on the hot path, show the first few.
GALLERY_COVERS = 12


@flow(name="enrich-warm", flow_run_name=enrich_run_name, log_prints=False)
def enrich_warm(talk_ids: list[str] | None = None) -> dict[str, Any]:
    """Tag and draw covers for every pending talk with the process's loaded models.

    Args:
        talk_ids: the talks of the events (or ledger check) the run was created for, for the
            record; the run takes every pending talk (a burst's other talks included), so this
            never narrows it.

    Returns:
        Counts: talks tagged, covers drawn, failures, model loads (0 when warm).
    """
    resources = flow_resources()
    settings = resources.settings
    return enrich_and_report(
        warm_enrich_resources(resources),
        count_loads=warm_models.loads,
        gallery_covers=GALLERY_COVERS,
        extra={"triggered_by": len(talk_ids or [])},
        tagged_event_per_pass=True,  # counts follow the tags, not the covers
        # A talk submitted while covers are drawn waits for one small cover batch at most.
        tags_first=settings.enrich.warm_cover_batch_size,
    )
