"""The use-cases' named steps, each a Prefect task declared here with its own retries.

A use-case runs a step as `resources.step(name, action)`; in a flow `tasks.resources.prefect_step`
runs it as the task of that name below, so it shows in the UI and retries as declared. A step
not declared here runs once, as a plain task of its name. Every step retried here is idempotent
or checkpointed; a batch or a notification whose failure the use-case records or logs instead
(an enrich batch: its failures are per talk, in the ledger) is not retried.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from prefect import Task, task
from prefect.cache_policies import NONE

from podium.pretalx.client import PretalxError

T = TypeVar("T")


def run(action: Callable[[], T]) -> T:
    """A step's body: its action (the task's name and retries make it that step)."""
    return action()


def step_task(name: str, *, delays: list[float] | None = None, **options: Any) -> Task[..., Any]:
    """The Prefect task of step `name`, retried once per delay (seconds) in `delays`."""
    if delays:
        options.update(retries=len(delays), retry_delay_seconds=delays)
    return task(name=name, cache_policy=NONE, **options)(run)


def _worth_retrying(task: Any, task_run: Any, state: Any) -> bool:
    # A wrong pretalx URL, token or slug fails the same way a minute later: retry the transient.
    try:
        state.result()
    except PretalxError as error:
        return error.transient
    except Exception:  # noqa: BLE001 - anything else (the lake, the network) may pass later
        return True
    return False


# Ingest: recording is idempotent, a pretalx event or a stream shard is read again from its
# checkpoint.
record_talks = step_task("record-talks", delays=[1, 5, 15])
record_events = step_task("record-events", delays=[1, 5, 15])
sync_pretalx_event = step_task(
    "sync-pretalx-event", delays=[10, 60], retry_condition_fn=_worth_retrying
)
read_dynamodb_stream = step_task("read-dynamodb-stream", delays=[5, 30])
# Aggregates and the outbound copies: rebuilt or written whole.
count_tags = step_task("count-tags", delays=[5, 5])
write_dynamodb = step_task("write-dynamodb", delays=[5, 30])
# Review: a push fetched again, a decision or a pending review recorded once by its key.
fetch_push_change = step_task("fetch-push-change", delays=[10, 10])
record_pending_review = step_task("record-pending-review", delays=[2, 2])
notify_reviewer = step_task("notify-reviewer", delays=[3, 3])
record_review_decision = step_task("record-review-decision", delays=[2, 2])
# A model load that fails (a busy hub mirror, a flaky mount) is worth retrying.
load_tagger = step_task("load-tagger", delays=[5, 5])
load_image_backend = step_task("load-image-backend", delays=[5, 5])

DECLARED: dict[str, Task[..., Any]] = {
    declared.name: declared
    for declared in (
        record_talks,
        record_events,
        sync_pretalx_event,
        read_dynamodb_stream,
        count_tags,
        write_dynamodb,
        fetch_push_change,
        record_pending_review,
        notify_reviewer,
        record_review_decision,
        load_tagger,
        load_image_backend,
    )
}
