"""Flow run names that say what a run handles (`enrich · 48 talks`, `review · repo@main abc1234`).

Prefect names runs at random (`spicy-hummingbird`) unless the flow gives `flow_run_name`. Each
`*_run_name` below is such a callable: Prefect calls it with no arguments when the run starts,
so it reads the run's parameters from `prefect.runtime`. The formatting itself is in pure
functions (`name_*`) that take the parameters as given, a model or the JSON a trigger passed.
A run whose subject is known only once it has looked (enrich) is renamed with `rename_run`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

SEP = " · "


def _get(value: Any, key: str, default: Any = None) -> Any:
    # Parameters arrive as validated models in a local call and as plain JSON from a trigger.
    if isinstance(value, Mapping):
        return value.get(key, default)
    return getattr(value, key, default)


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _short(text: str, limit: int = 60) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _source_name(source: str) -> str:
    return _short(PurePath(str(source).rstrip("/")).name or str(source), 50)


def name_ingest(request: Any) -> str:
    """`ingest · 3 talks from the gateway` or `ingest · talks.json`."""
    source = _get(request, "source")
    talk_ids = _get(request, "talk_ids") or []
    if source:
        return f"ingest{SEP}{_source_name(source)}"
    return f"ingest{SEP}{_count(len(talk_ids), 'talk')} from the gateway"


def name_enrich(talks: int | None = None, *, limit: int | None = None) -> str:
    """`enrich · 48 talks` once the run knows; before that `enrich · pending talks`."""
    if talks is None:
        return f"enrich{SEP}pending talks" + (f" (up to {limit})" if limit is not None else "")
    if talks == 0:
        return f"enrich{SEP}nothing pending"
    return f"enrich{SEP}{_count(talks, 'talk')}"


def name_aggregate(talk_ids: list[str] | None, full: bool) -> str:
    """`aggregate-tags · 12 talks`, `… · full recount` or `… · changes since last run`."""
    if full:
        return f"aggregate-tags{SEP}full recount"
    if talk_ids:
        return f"aggregate-tags{SEP}{_count(len(talk_ids), 'talk')}"
    return f"aggregate-tags{SEP}changes since last run"


def name_recommendations(event_ids: list[str] | None) -> str:
    """`build-recommendations · 2 events: pycon-2026, …` or `… · all events`."""
    if not event_ids:
        return f"build-recommendations{SEP}all events"
    shown = ", ".join(str(e) for e in event_ids[:2]) + (", …" if len(event_ids) > 2 else "")
    return f"build-recommendations{SEP}{_count(len(event_ids), 'event')}: {_short(shown)}"


def name_review(push: Any) -> str:
    """`review · owner/repo@main abc1234` (the pushed commit; `deleted` for a branch deletion)."""
    repo = _get(push, "repo", "?")
    ref = str(_get(push, "ref", "") or "")
    branch = ref.removeprefix("refs/heads/").removeprefix("refs/tags/") or "?"
    after = str(_get(push, "after", "") or "")
    commit = "deleted" if not after.strip("0") else after[:7]
    return f"review{SEP}{_short(f'{repo}@{branch}', 80)} {commit}"


def name_backfill(source: str | None) -> str:
    """`backfill · talks.jsonl.gz` or `backfill · pending talks`."""
    return f"backfill{SEP}{_source_name(source) if source else 'pending talks'}"


def name_retag(force: bool, limit: int | None) -> str:
    """`retag · stale talks`, `retag · every talk`, with `(up to N)` when limited."""
    what = "every talk" if force else "stale talks"
    return f"retag{SEP}{what}" + (f" (up to {limit})" if limit is not None else "")


def name_tag_eval(file: str, history: str | None, folds: int) -> str:
    """`tag-eval · tagging-eval.json, 5 folds` or `… · new.json against old.json`."""
    if history:
        return f"tag-eval{SEP}{_source_name(file)} against {_source_name(history)}"
    return f"tag-eval{SEP}{_source_name(file)}, {_count(folds, 'fold')}"


def name_maintenance(compact: bool) -> str:
    """`maintenance · covers and compaction` or `maintenance · covers`."""
    return f"maintenance{SEP}covers" + (" and compaction" if compact else "")


# ---- the callables flows pass as `flow_run_name` ---------------------------------------------


def _parameters() -> dict[str, Any]:
    from prefect.runtime import flow_run

    return dict(flow_run.parameters or {})


def ingest_run_name() -> str:
    return name_ingest(_parameters().get("request") or {})


def enrich_run_name() -> str:
    return name_enrich(limit=_parameters().get("limit"))


def aggregate_run_name() -> str:
    p = _parameters()
    return name_aggregate(p.get("talk_ids"), bool(p.get("full")))


def recommendations_run_name() -> str:
    return name_recommendations(_parameters().get("event_ids"))


def review_run_name() -> str:
    return name_review(_parameters().get("push") or {})


def backfill_run_name() -> str:
    return name_backfill(_parameters().get("source"))


def retag_run_name() -> str:
    p = _parameters()
    return name_retag(bool(p.get("force")), p.get("limit"))


def tag_eval_run_name() -> str:
    p = _parameters()
    return name_tag_eval(str(p.get("file", "?")), p.get("history"), int(p.get("folds") or 5))


def maintenance_run_name() -> str:
    if _parameters().get("status_only"):
        return f"maintenance{SEP}status"
    return name_maintenance(bool(_parameters().get("compact", True)))


def rename_run(name: str) -> None:
    """Rename the current flow run (a no-op outside one). The UI shows the new name at once."""
    from prefect import get_client
    from prefect.runtime import flow_run

    run_id = flow_run.get_id()
    if run_id is None:
        return
    with get_client(sync_client=True) as client:
        client.set_flow_run_name(flow_run_id=run_id, name=name)  # type: ignore[arg-type]
