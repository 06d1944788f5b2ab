"""`podium`: the command line. Errors are one line that names the problem, never a traceback."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from podium import event_catalog
from podium.errors import UserError
from podium.events import EventSink
from podium.ingest import talk_rows
from podium.talk_tags import tag_rows

if TYPE_CHECKING:
    from podium.tag_feedback import Decision

app = typer.Typer(
    help="Podium: AI enrichment for a conference speakers directory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


def _print_version(value: bool) -> None:
    if value:
        from podium import version

        typer.echo(f"podium {version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Podium: AI enrichment for a conference speakers directory."""


class CliError(UserError):
    """A problem to report in one line."""


def _settings():
    from podium.settings import get_settings

    try:
        return get_settings()
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise CliError(f"invalid settings: {where}: {first['msg']}") from None


def _lake():
    from podium.lake import Lake

    return Lake.from_settings(_settings())


# ---- the embedded default ------------------------------------------------------------------


def _serve_forever(stack) -> None:
    console.print("[bold]Running.[/] Press Ctrl-C to stop everything.")
    try:
        while True:
            stack.check()
            time.sleep(1)
    except KeyboardInterrupt:
        pass


@app.command()
def up(
    topology: Annotated[
        str,
        typer.Option(
            help="`local`: one process of each kind. `production`: PostgreSQL, Redis, S3 "
            "(moto), 2 Prefect API servers + services, 2 gateways, 2 warm executors, the CPU "
            "worker, each a process of its own (docs/production.md)."
        ),
    ] = "local",
) -> None:
    """Start the Prefect server, work pools, deployments, workers and the gateway."""
    from deployments.local_stack import LocalStack, stop_on_sigterm

    if topology not in ("local", "production"):
        raise CliError(f"--topology: {topology!r} is not one of local, production")
    if topology == "production":
        return _up_production()
    stack = LocalStack(_settings(), say=lambda m: console.print(f"• {m}"))
    stop_on_sigterm()
    try:
        stack.up()
        _print_addresses(stack)
        _serve_forever(stack)
    finally:
        console.print("stopping…")
        stack.down()


def _up_production() -> None:
    from deployments.local_stack import stop_on_sigterm
    from deployments.production_stack import ProductionStack

    stack = ProductionStack(_settings(), say=lambda m: console.print(f"• {m}"))
    stop_on_sigterm()
    try:
        stack.up()
        console.print(f"Prefect UI   {stack.ui_url}  (API replicas: {', '.join(stack.api_urls())})")
        console.print(
            f"Gateway      {stack.gateway_url}  (replicas: {', '.join(stack.gateway_urls())})"
        )
        console.print(f"Lake         {stack.lake_url} on {stack.s3_endpoint}")
        console.print(f"Logs         {stack.root / 'logs'}")
        _serve_forever(stack)
    finally:
        console.print("stopping…")
        stack.down()


def _print_addresses(stack) -> None:
    console.print(f"Prefect UI   {stack.ui_url}")
    console.print(f"Gateway      {stack.gateway_url}  (OpenAPI at {stack.gateway_url}/docs)")
    console.print(f"Lake         {stack.settings.lake_url}")
    console.print(f"Logs         {stack.home / 'logs'}")


@app.command()
def demo(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Keep everything running afterwards.")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the pipeline.")] = 900,
) -> None:
    """Start the embedded default, post the sample talks to the gateway and watch them flow."""
    from deployments.local_stack import LocalStack, stop_on_sigterm
    from podium import demo as driver

    settings = _settings()
    stack = LocalStack(settings, say=lambda m: console.print(f"• {m}"))
    stop_on_sigterm()
    started = time.monotonic()
    try:
        stack.up()
        _print_addresses(stack)
        lake = _lake()
        talk_ids, event_ids = driver.load_directory(lake=lake)
        talks = json.loads((driver.SAMPLE_DIR / "talks.json").read_text(encoding="utf-8"))
        with _progress() as bar:
            task = bar.add_task("posting talks to the gateway", total=len(talks))
            driver.post_talks(
                settings=settings,
                gateway_url=stack.gateway_url,
                talks=talks,
                on_posted=lambda _: bar.advance(task),
            )
            tagged = bar.add_task("tagged", total=len(talks))
            covered = bar.add_task("covers", total=len(talks))
            recs = bar.add_task("events with recommendations", total=len(event_ids))

            def show(state) -> None:
                bar.update(tagged, completed=state.tagged + state.failed)
                bar.update(covered, completed=state.covered + state.failed)
                bar.update(recs, completed=state.events_with_recommendations)

            final = driver.wait_for_pipeline(
                lake=lake,
                talk_ids=talk_ids,
                event_ids=event_ids,
                timeout_s=timeout,
                on_progress=show,
                check=stack.check,
            )
        _print_demo_summary(lake=lake, talk_ids=talk_ids, event_ids=event_ids)
        console.print(
            f"\n{final.total} talks ingested, {final.tagged} tagged, {final.covered} covers, "
            f"{final.failed} failed; recommendations for {final.events_with_recommendations} "
            f"events; {time.monotonic() - started:.0f} s in all."
        )
        _print_addresses(stack)
        if serve:
            _serve_forever(stack)
    finally:
        console.print("stopping…")
        stack.down()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<30}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _print_demo_summary(*, lake, talk_ids: list[str], event_ids: list[str]) -> None:
    from podium.recommend.serving import lookup_recommendations

    talks = talk_rows(lake=lake, columns=["talk_id", "title"], talk_ids=talk_ids)
    tags = tag_rows(lake=lake, talk_ids=talk_ids)
    table = Table(title="Tags per talk", show_lines=False)
    for column in ("talk", "title", "speaker tags", "model tags (score)"):
        table.add_column(column, overflow="fold")
    for row in talks.sort_values("talk_id").itertuples():
        mine = tags[tags.talk_id == row.talk_id].sort_values("score", ascending=False)
        table.add_row(
            row.talk_id,
            row.title[:60],
            ", ".join(mine[mine.source == "speaker"].tag),
            ", ".join(
                f"{t} ({s:.2f})"
                for t, s in zip(
                    mine[mine.source == "model"].tag,
                    mine[mine.source == "model"].score,
                    strict=True,
                )
            ),
        )
    console.print(table)
    titles = dict(zip(talks.talk_id, talks.title, strict=True))
    for event_id in event_ids:
        recs = lookup_recommendations(lake=lake, event_id=event_id).head(5)
        table = Table(title=f"Top recommendations for {event_id}")
        for column in ("rank", "talk", "title", "score", "matched tags"):
            table.add_column(column, overflow="fold")
        for r in recs.itertuples():
            table.add_row(
                str(r.rank),
                r.talk_id,
                titles.get(r.talk_id, "")[:50],
                f"{r.score:.3f}",
                ", ".join(r.matched_tags),
            )
        console.print(table)


@app.command()
def gateway() -> None:
    """Serve the webhook gateway (host and port from PODIUM_GATEWAY__*)."""
    from podium.gateway.serve import serve

    serve(_settings())


# ---- data in and out -----------------------------------------------------------------------


@app.command()
def ingest(
    source: Annotated[
        str,
        typer.Argument(
            help="Talks: directory JSON, DynamoDB stream JSON, JSONL(.gz), a pyvideo/data "
            "folder, or pretalx://host/event (token from PODIUM_PRETALX__TOKEN)."
        ),
    ],
    notify: Annotated[bool, typer.Option(help="Tell Prefect so enrichment starts.")] = True,
) -> None:
    """Record talks (a file, a folder or a pretalx event) and mark them for enrichment."""
    from podium.pretalx.client import is_pretalx_url
    from podium.use_cases.ingest import ingest_source

    if is_pretalx_url(source):
        _ingest_pretalx(source, notify=notify)
        return
    import contextlib

    resources = _resources(notify=notify)
    with contextlib.ExitStack() as stack:
        shown: dict[str, Any] = {}

        def progress(done: int, total: int) -> None:
            # The bar opens once the source parsed: a bad file is one line on stderr, alone.
            if not shown:
                shown["bar"] = bar = stack.enter_context(_progress())
                shown["task"] = bar.add_task("recording talks", total=total or 1)
            shown["bar"].update(shown["task"], completed=done)

        outcome = ingest_source(resources, source=source, logger=_QUIET, on_progress=progress)
    table = Table(title=f"Ingested {source}")
    table.add_column("outcome")
    table.add_column("talks", justify="right")
    for key, values in outcome.report.as_dict().items():
        table.add_row(key, str(len(values)))
    table.add_row("rejected", str(len(outcome.errors)))
    table.add_row("events changed", str(len(outcome.events_changed)))
    console.print(table)
    _print_rejected(outcome.errors)
    _print_handed_over(resources)


def _ingest_pretalx(url: str, *, notify: bool) -> None:
    from podium.pretalx.client import parse_pretalx_url
    from podium.use_cases.ingest import sync_pretalx

    ref = parse_pretalx_url(url)
    resources = _resources(notify=notify)
    with console.status(f"reading {ref}…") as status:
        (report,) = sync_pretalx(
            resources,
            urls=[url],
            logger=_QUIET,
            on_progress=lambda _, message: status.update(f"{ref}: {message}"),
        )
    table = Table(title=f"Ingested {ref}")
    table.add_column("outcome")
    table.add_column("talks", justify="right")
    table.add_row("listed in pretalx", str(report.listed))
    table.add_row("fetched (new or changed)", str(report.fetched))
    for key, values in report.ingest.as_dict().items():
        table.add_row(key, str(len(values)))
    table.add_row("rejected", str(len(report.errors)))
    table.add_row("events changed", str(len(report.events_changed)))
    console.print(table)
    _print_rejected([str(e) for e in report.errors])
    _print_handed_over(resources)


class _Quiet:
    """A logger for use-cases run by the CLI, which prints its own tables instead."""

    def info(self, *args: object) -> None:
        pass

    warning = error = info


_QUIET = _Quiet()


class _CliEvents(EventSink):
    """Events posted to Prefect; a refusal is reported and deferred, not an error: the
    talks are recorded, and the next scheduled enrich run picks them up."""

    def __init__(self, inner: EventSink) -> None:
        self.inner, self.handed_over, self.deferred = inner, 0, ""

    def send(self, name: str, resource: dict[str, str], payload: dict[str, Any]) -> None:
        from podium.events import EventDeliveryError

        try:
            self.inner.send(name, resource, payload)  # checked once, by `emit`
        except EventDeliveryError as error:
            self.deferred = str(error)
            return
        if name == event_catalog.TALK_INGESTED.name:
            self.handed_over += payload.get("count") or len(payload["talk_ids"])


def _resources(*, notify: bool) -> Any:
    from podium.events import EventPoster, PostedEvents, RecordedEvents
    from podium.resources import Resources

    settings = _settings()
    events = _CliEvents(PostedEvents(EventPoster.from_settings(settings)))
    return Resources.from_settings(
        settings, lake=_lake(), events=events if notify else RecordedEvents()
    )


def _print_rejected(errors: list[str]) -> None:
    for error in errors[:20]:
        err.print(f"rejected {error}")
    if len(errors) > 20:
        err.print(f"… and {len(errors) - 20} more rejected records")


def _print_handed_over(resources: Any) -> None:
    events = resources.events
    if not isinstance(events, _CliEvents):
        return
    if events.deferred:
        console.print(f"event deferred ({events.deferred}); the next enrich run picks them up")
    elif events.handed_over:
        console.print(f"{events.handed_over} talks handed to enrichment")


@app.command()
def backfill(
    source: Annotated[
        Path | None, typer.Argument(help="Talks to import first; omit to enrich what is pending.")
    ] = None,
    chunk_size: Annotated[int, typer.Option(min=1, help="Most talks per Dask task.")] = 1000,
    dask_address: Annotated[
        str | None, typer.Option(help="An existing Dask scheduler; default a local cluster.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Local cluster worker processes.")] = 2,
) -> None:
    """Import, tag, draw covers, count tags and rebuild recommendations for thousands of
    talks, in parallel chunks on Dask (a progress bar per stage)."""
    from rich.progress import TaskID

    from deployments.local_stack import prefect_api_for, reaped
    from flows.backfill import backfill_on, local_torch_threads, watch
    from podium.vocabulary import load_vocabulary

    if source is not None and not source.exists():
        raise CliError(f"{source}: no such file or folder")
    load_vocabulary(lake=_lake())  # what the run needs, checked before any work
    flow = backfill_on(dask_address, workers=workers)
    threads = None if dask_address else local_torch_threads(workers)
    # Reaped: Ctrl-C or SIGTERM leaves no Dask worker or server behind.
    with reaped(), prefect_api_for(_settings(), say=console.print), _progress() as progress:
        bars: dict[str, TaskID] = {}

        def show(stage: str, done: int, total: int) -> None:
            if stage not in bars:
                bars[stage] = progress.add_task(stage, total=total)
            progress.update(bars[stage], completed=done, total=total)

        with watch(show):
            summary = flow(
                source=str(source) if source else None,
                chunk_size=chunk_size,
                parallel=workers,
                torch_threads=threads,
            )
    total = sum(summary["stages"].values()) or 1.0
    console.print(
        f"backfill: {summary['talks']} talks in {summary['chunks']} chunks, "
        f"{summary['tagged']} tagged, {summary['covers']} covers, {len(summary['failed'])} "
        f"failed, {summary['model_loads']} model loads, {total:.0f} s: "
        + ", ".join(f"{k} {v / total:.0%}" for k, v in summary["stages"].items())
    )


@app.command()
def recommend(event_id: Annotated[str, typer.Argument(help="Event id")]) -> None:
    """Show the precomputed recommendations of an event."""
    from podium.recommend.cli import recommend as show

    show(event_id)


@app.command()
def status(
    markdown: Annotated[bool, typer.Option(help="Print Markdown instead of tables.")] = False,
    runs: Annotated[int, typer.Option(help="Runs shown per flow.")] = 3,
) -> None:
    """Backlog and oldest pending age per stage, last runs per flow, failed talks, reviews
    waiting and deferred events of the last hour."""
    from podium import status_view
    from podium.operations import lake_state

    settings = _settings()
    state = lake_state(lake=_lake(), max_attempts=settings.enrich.max_attempts)
    key = settings.prefect.api_key
    report = status_view.build_report(
        state,
        api_url=settings.prefect.api_url,
        api_key=key.get_secret_value() if key else None,
        per_flow=runs,
    )
    if markdown:
        console.print(status_view.markdown(report), markup=False, highlight=False)
        return
    for part in status_view.rich_tables(report):
        console.print(part)


@app.command("export")
def export(
    event_id: Annotated[str, typer.Argument(help="Event id")],
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="frab-xml, frab-json, ics or json")
    ] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout)")
    ] = None,
) -> None:
    """Write an event's schedule with its talks' tags, related talks and cover alt text."""
    from podium.exports.cli import export as write

    write(event_id, fmt, output)


vocabulary_app = typer.Typer(help="The tag vocabulary.", no_args_is_help=True)
app.add_typer(vocabulary_app, name="vocabulary")


@vocabulary_app.command("set")
def vocabulary_set(path: Path) -> None:
    """Replace the vocabulary with FILE; the next tagging run uses it."""
    from podium.vocabulary import read_vocabulary_file, save_vocabulary

    vocabulary = read_vocabulary_file(path)
    save_vocabulary(lake=_lake(), vocabulary=vocabulary)
    console.print(f"vocabulary set: {len(vocabulary.tags)} tags")


@vocabulary_app.command("show")
def vocabulary_show() -> None:
    """Print the vocabulary in the lake."""
    from podium.vocabulary import load_vocabulary

    table = Table(title="Vocabulary")
    for column in ("tag", "description", "synonyms"):
        table.add_column(column, overflow="fold")
    for tag in load_vocabulary(lake=_lake()).tags:
        table.add_row(tag.name, tag.description, ", ".join(tag.synonyms))
    console.print(table)


events_app = typer.Typer(help="Events talks are recommended for.", no_args_is_help=True)
app.add_typer(events_app, name="events")


@events_app.command("load")
def events_load(path: Path) -> None:
    """Upsert events from a JSON list; changed events get their recommendations rebuilt."""
    from podium.ingest import record_events
    from podium.sources import parse_events

    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except json.JSONDecodeError as error:
        raise CliError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    if not isinstance(items, list):
        raise CliError(f"{path}: expected a JSON list of events")
    parsed = parse_events(items)
    for rejected in parsed.errors:
        err.print(f"rejected {rejected}")
    resources = _resources(notify=True)
    changed = record_events(lake=resources.lake, events=parsed.events)
    console.print(f"{len(parsed.events)} events read, {len(changed)} new or changed")
    if changed:
        resources.events.emit(event_catalog.EVENT_UPDATED, payload={"event_ids": changed})
        if resources.events.deferred:
            deferred = resources.events.deferred
            console.print(f"event deferred ({deferred}); the scheduled rebuild picks them up")


# ---- tags: `podium tags TALK_ID`, `podium tags eval FILE`, ... -----------------------------


class _TagsGroup(typer.core.TyperGroup):
    """`podium tags X`: X is a subcommand when one has that name, else a talk id to show."""

    def resolve_command(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


tags_app = typer.Typer(
    cls=_TagsGroup, help="Tags: show a talk's tags, evaluate, retag.", no_args_is_help=True
)
app.add_typer(tags_app, name="tags")


@tags_app.command("show")
def tags_show(talk_id: str) -> None:
    """The tags of one talk, with source, score and model."""
    lake = _lake()
    talk = talk_rows(lake=lake, columns=["talk_id", "title"], talk_ids=[talk_id])
    if talk.empty:
        raise CliError(f"no talk {talk_id!r} in the lake")
    rows = tag_rows(lake=lake, talk_ids=[talk_id])
    table = Table(title=f"{talk_id}: {talk.title.iloc[0]}")
    for column in ("tag", "source", "score", "model", "tagged at"):
        table.add_column(column, overflow="fold")
    for r in rows.sort_values(["source", "score"], ascending=[True, False]).itertuples():
        table.add_row(r.tag, r.source, f"{r.score:.2f}", r.model, f"{r.tagged_at:%Y-%m-%d %H:%M}")
    console.print(table)
    if rows.empty:
        console.print("not tagged yet")


talks_app = typer.Typer(help="Talks: operator repairs.", no_args_is_help=True)
app.add_typer(talks_app, name="talks")


@talks_app.command("repair-future")
def talks_repair_future(
    talk_ids: Annotated[list[str] | None, typer.Argument(help="Talks to repair.")] = None,
    all_talks: Annotated[
        bool, typer.Option("--all", help="Repair every talk with a far-future time.")
    ] = False,
) -> None:
    """Unfreeze talks whose stored updated_at lies in the far future (a sender's clock ran
    ahead before such times were refused): their place in source order becomes now, so the
    next real edit or removal applies instead of being reported stale."""
    from podium.ingest import repair_future

    if not talk_ids and not all_talks:
        raise CliError("name the talks to repair, or pass --all")
    settings = _settings()
    lake = _lake()
    if talk_ids:
        known = set(talk_rows(lake=lake, columns=["talk_id"], talk_ids=talk_ids).talk_id)
        missing = [t for t in talk_ids if t not in known]
        if missing:
            raise CliError(f"no talk {missing[0]!r} in the lake")
    repaired = repair_future(
        lake=lake,
        talk_ids=None if all_talks else talk_ids,
        max_skew_s=settings.limits.max_future_skew_s,
    )
    if not repaired:
        console.print("no talk had a far-future time; nothing changed")
        return
    console.print(f"repaired {len(repaired)} talk(s): " + ", ".join(repaired))


def _correct(decision: Decision, talk_id: str, tag: str, by: str, why: str) -> None:
    """Record one organiser decision and apply it (`podium.use_cases.tag_feedback`)."""
    from podium.errors import Refused
    from podium.tag_feedback import TagDecision
    from podium.use_cases.tag_feedback import correct_tags

    try:
        item = TagDecision(talk_id=talk_id, tag=tag, decision=decision, decided_by=by, reason=why)
    except ValidationError as error:
        first = error.errors()[0]
        raise CliError(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    resources = _resources(notify=True)
    try:
        outcome = correct_tags(resources, [item], logger=_QUIET)
    except Refused as refused:
        raise CliError(str(refused)) from None
    console.print(f"{decision} {outcome.applied[0]['tag']!r} on {talk_id}: recorded and applied")
    if resources.events.deferred:
        console.print(
            f"event deferred ({resources.events.deferred}); the scheduled count picks it up"
        )


_BY = typer.Option("--by", help="Who decides (recorded with the decision).")
_WHY = typer.Option("--why", help="Why (recorded with the decision).")


def _decision_command(decision: Decision, doc: str) -> None:
    """Mount `podium tags <decision> TALK_ID TAG [--by] [--why]`."""

    def command(
        talk_id: str,
        tag: str,
        by: Annotated[str, _BY] = "cli",
        why: Annotated[str, _WHY] = "",
    ) -> None:
        _correct(decision, talk_id, tag, by, why)

    command.__doc__ = doc
    tags_app.command(decision)(command)


_decision_command(
    "accept", "Confirm a tag on a talk: it becomes the organiser's, never replaced by the model."
)
_decision_command(
    "reject", "Take a model tag off a talk: never suggested again for this version of the talk."
)
_decision_command("add", "Put a tag on a talk as the organiser's.")


def _mount_area_commands() -> None:
    # Each area owns its commands; they are mounted here so `podium --help` lists them all.
    from podium.review.cli import app as review_app
    from podium.tagging.cli import app as tagging_app

    tags_app.registered_commands.extend(tagging_app.registered_commands)
    app.add_typer(review_app, name="review")


_mount_area_commands()


def main() -> None:
    """Entry point: run the app, turning known errors into one line and exit code 1."""
    import os

    from podium.telemetry import analytics_off

    # Before anything imports Prefect: no analytics from this process or the servers it
    # starts, and an ephemeral server (e.g. `podium backfill` with no PREFECT_API_URL) gets
    # time to start on a busy machine instead of Prefect's 20 s.
    analytics_off()
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from podium.errors import USER_ERRORS, exit_with

    try:
        app()
    except USER_ERRORS as error:
        exit_with(error)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
