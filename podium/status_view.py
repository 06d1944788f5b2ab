"""`podium status`: the lake's state and Prefect's last runs, for a person to read.

The same figures render as rich tables (the CLI) and as Markdown (the `maintenance` flow's
`podium-status` artifact). Prefect's runs are read over its REST API with httpx, so this stays
in the core; an unreachable Prefect is shown as such, not raised.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from podium.operations import LakeState


@dataclass
class FlowRunRow:
    flow: str
    name: str
    state: str
    start: datetime | None
    end: datetime | None


@dataclass
class StatusReport:
    lake: LakeState
    runs: list[FlowRunRow] = field(default_factory=list)
    prefect_error: str | None = None  # why Prefect's runs are missing


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def last_runs(
    api_url: str, *, api_key: str | None = None, per_flow: int = 3, timeout_s: float = 5.0
) -> list[FlowRunRow]:
    """The newest `per_flow` runs of every flow that have started, newest first.

    Scheduled runs are left out: a schedule creates its next runs ahead of time, and they would
    crowd out the runs that actually ran (raises httpx errors)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    base = api_url.rstrip("/")
    with httpx.Client(timeout=timeout_s, headers=headers) as client:
        flows = client.post(f"{base}/flows/filter", json={"limit": 200})
        flows.raise_for_status()
        rows: list[FlowRunRow] = []
        for flow in sorted(flows.json(), key=lambda f: f["name"]):
            runs = client.post(
                f"{base}/flow_runs/filter",
                json={
                    "flows": {"id": {"any_": [flow["id"]]}},
                    "flow_runs": {"start_time": {"is_null_": False}},
                    "sort": "START_TIME_DESC",
                    "limit": per_flow,
                },
            )
            runs.raise_for_status()
            for run in runs.json():
                rows.append(
                    FlowRunRow(
                        flow=flow["name"],
                        name=run["name"],
                        state=(run.get("state") or {}).get("name") or run.get("state_type") or "",
                        start=_time(run.get("start_time") or run.get("expected_start_time")),
                        end=_time(run.get("end_time")),
                    )
                )
    return rows


def build_report(
    lake: LakeState, *, api_url: str, api_key: str | None = None, per_flow: int = 3
) -> StatusReport:
    """The lake's state with Prefect's last runs (or why they could not be read)."""
    report = StatusReport(lake=lake)
    try:
        report.runs = last_runs(api_url, api_key=api_key, per_flow=per_flow)
    except httpx.HTTPError as error:
        report.prefect_error = f"Prefect unreachable at {api_url} ({type(error).__name__})"
    return report


def duration(seconds: float) -> str:
    """A short human duration: 45 s, 12 min, 3.5 h, 2.1 d."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def _ago(at: datetime | None, now: datetime) -> str:
    return "" if at is None else duration(max(0.0, (now - at).total_seconds())) + " ago"


# ---- the sections, as rows: rendered by rich and by Markdown alike --------------------------


def sections(report: StatusReport) -> list[tuple[str, list[str], list[list[str]], str]]:
    """(title, headers, rows, note when empty) for each section of the view."""
    lake, now = report.lake, report.lake.at
    out: list[tuple[str, list[str], list[list[str]], str]] = []
    out.append(
        (
            f"Backlog ({lake.talks} live talks)",
            ["stage", "backlog", "claimed", "oldest pending", "failed"],
            [
                [
                    s.stage,
                    str(s.backlog),
                    str(s.running),
                    duration(s.oldest_age_s) if s.backlog else "-",
                    str(s.failed),
                ]
                for s in lake.stages
            ],
            "",
        )
    )
    if report.prefect_error:
        runs: list[list[str]] = []
        runs_note = report.prefect_error
    else:
        runs = [
            [
                r.flow,
                r.name,
                r.state,
                _ago(r.start, now),
                duration((r.end - r.start).total_seconds()) if r.start and r.end else "",
            ]
            for r in report.runs
        ]
        runs_note = "no flow runs yet"
    out.append(("Last runs per flow", ["flow", "run", "state", "started", "took"], runs, runs_note))
    out.append(
        (
            f"Failed talks ({len(lake.failed)})",
            ["talk", "stage", "attempts", "when", "reason"],
            [
                [f.talk_id, f.stage, str(f.attempts), _ago(f.at, now), _one_line(f.error)]
                for f in lake.failed[:50]
            ],
            "none",
        )
    )
    out.append(
        (
            f"Reviews waiting ({len(lake.reviews)})",
            ["repo", "ref", "commit", "waiting", "flow run"],
            [
                [r.repo, r.ref, r.commit[:12], duration(r.waiting_s), r.flow_run_id]
                for r in lake.reviews
            ],
            "none",
        )
    )
    deferred = (
        f"{lake.deferred_last_hour} events ({lake.deferred_talks_last_hour} talks), "
        f"last {_ago(lake.last_deferral, now)}"
        if lake.deferred_last_hour
        else "0"
    )
    out.append(("Deferred events", ["in the last hour"], [[deferred]], ""))
    return out


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def rich_tables(report: StatusReport) -> Iterable[Any]:
    """The view as rich renderables (a title line, then one table per section)."""
    from rich.table import Table
    from rich.text import Text

    yield Text(f"Podium status at {report.lake.at:%Y-%m-%d %H:%M:%S} UTC", style="bold")
    for title, headers, rows, empty in sections(report):
        table = Table(title=title, title_justify="left", expand=False)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        if not rows:
            table.add_row(*([empty] + [""] * (len(headers) - 1)))
        yield table


def _cell(value: str) -> str:
    # Markdown table cells: no pipes or line breaks; text is escaped, never interpreted.
    escaped = "".join("\\" + c if c in "\\`*_{}[]()<>#+!|~" else c for c in value)
    return " ".join(escaped.split())


def markdown(report: StatusReport) -> str:
    """The view as Markdown (the maintenance flow's `podium-status` artifact)."""
    lines = [f"# Podium status at {report.lake.at:%Y-%m-%d %H:%M:%S} UTC", ""]
    for title, headers, rows, empty in sections(report):
        lines += [f"## {_cell(title)}", ""]
        if not rows:
            lines += [f"_{_cell(empty)}_", ""]
            continue
        lines.append("| " + " | ".join(headers) + " |")
        lines.append("|" + "---|" * len(headers))
        lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def now() -> datetime:
    return datetime.now(UTC)
