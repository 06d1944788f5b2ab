"""`podium tags ...`: evaluate the tagger on labelled talks, and retag the lake."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from podium.errors import exit_with

app = typer.Typer(
    help="Tag talks: evaluate the tagger, re-tag existing talks.", no_args_is_help=True
)


def _tagging_settings(overrides: dict[str, Any]) -> Any:
    from pydantic import ValidationError

    from podium.settings import get_settings

    try:
        base = get_settings().tagging
        return base.model_validate(
            {**base.model_dump(), **{k: v for k, v in overrides.items() if v is not None}}
        )
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        exit_with(f"tagging setting {where}: {first.get('msg')}")


def _device(requested: str) -> str:
    from podium.devices import resolve_device

    try:
        return resolve_device(requested)
    except RuntimeError as error:
        exit_with(str(error))


@app.command("eval")
def eval_command(
    file: Annotated[
        Path, typer.Argument(help="Labelled talks: tagging-eval.json format or JSONL.")
    ],
    history: Annotated[
        Path | None,
        typer.Option(help="Use this file's tagged talks as history and evaluate on all of FILE."),
    ] = None,
    extra_history: Annotated[
        Path | None,
        typer.Option(
            help="More history with free-form tags (e.g. talks.jsonl.gz), mapped through the "
            "vocabulary's synonyms; talks of the evaluated conference series are always left out."
        ),
    ] = None,
    languages: Annotated[
        Path | None,
        typer.Option(
            help="JSONL(.gz) with `id` and `language` per talk (e.g. talks.jsonl.gz): report "
            "figures per language. FILE's own `language` fields are used when present."
        ),
    ] = None,
    folds: Annotated[int, typer.Option(help="Outer folds (whole conference series).")] = 5,
    inner_folds: Annotated[
        int, typer.Option(help="Inner folds that choose the configuration.")
    ] = 4,
    candidates: Annotated[
        str,
        typer.Option(
            help="`default`: choose among the built-in configurations inside the training "
            "folds; `settings`: only the configured settings (no choice)."
        ),
    ] = "default",
    new_vocabulary: Annotated[
        int,
        typer.Option(
            help="Also hold tags out of history in this many groups and report F1 on them "
            "(tags a directory has just added); 0 skips it."
        ),
    ] = 0,
    feedback_curve: Annotated[
        bool,
        typer.Option(
            "--feedback-curve",
            help="Instead: learning curves of a simulated organiser's corrections on each "
            "unseen conference series (uncertainty sampling against random; F1 and P@1 of "
            "the remaining talks at k = 0, 10, 25, 50, 100).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    max_length: Annotated[int | None, typer.Option(help="Token limit per talk.")] = None,
    precision: Annotated[str | None, typer.Option(help="auto, fp32 or bf16.")] = None,
    knn_k: Annotated[int | None, typer.Option(help="Neighbours per talk.")] = None,
    label_weight: Annotated[float | None, typer.Option(help="Weight of label similarity.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Embedding cache folder (default: <home>/cache); 'none' disables."),
    ] = None,
) -> None:
    """Evaluate the tagger: nested series-disjoint CV on FILE, or --history FILE -> FILE.

    The nested CV chooses the configuration inside each outer training part and scores it on
    the outer fold: the outer score is the honest one, the inner (selection) score beside it
    shows the optimism of choosing.
    """
    from podium.embedding_cache import EmbeddingCache
    from podium.lake import Lake
    from podium.settings import get_settings
    from podium.tagging import build_tagger
    from podium.tagging.evaluate import (
        EvalInputError,
        history_from_labelled,
        load_labelled,
        with_languages,
    )
    from podium.tagging.history import embed_talks
    from podium.tagging.nested import evaluate_labelled

    if candidates not in ("default", "settings"):
        exit_with("--candidates must be 'default' or 'settings'")
    if new_vocabulary < 0:
        exit_with("--new-vocabulary must be 0 or more")
    settings = _tagging_settings(
        {
            "max_length": max_length,
            "precision": precision,
            "knn_k": knn_k,
            "label_weight": label_weight,
        }
    )
    try:
        data = load_labelled(file)
        if languages is not None:
            data = with_languages(data, languages)
        history_data = (
            load_labelled(history, vocabulary=data.vocabulary) if history is not None else None
        )
        extra_data = (
            load_labelled(extra_history, vocabulary=data.vocabulary)
            if extra_history is not None
            else None
        )
    except EvalInputError as error:
        exit_with(str(error))
    cache = None
    if cache_dir is None or str(cache_dir).lower() != "none":  # None: the default folder
        folder = cache_dir or (get_settings().home / "cache")
        cache = EmbeddingCache(Lake(str(folder.resolve())))
    try:
        tagger = build_tagger(settings, device=_device(device), cache=cache)
    except (OSError, ValueError) as error:
        exit_with(f"cannot load the tagger: {str(error).splitlines()[0]}")
    try:
        extra = history_from_labelled(tagger, extra_data, free_form=True) if extra_data else None
        if feedback_curve:
            from podium.tagging.feedback_curve import feedback_curve as curve

            vectors = embed_talks(data.talks, encoder=tagger.encoder, cache=tagger.cache)
            result = curve(
                tagger,
                data,
                vectors,
                extra=extra,
                on_progress=None if as_json else lambda line: typer.echo(line, err=True),
            )
            typer.echo(json.dumps(result.as_dict()) if as_json else result.markdown())
            return
        report = evaluate_labelled(
            tagger,
            data,
            history=history_data,
            extra=extra,
            folds=folds,
            inner_folds=inner_folds,
            candidates=candidates,
            new_vocabulary_groups=new_vocabulary,
            on_progress=None if as_json else lambda line: typer.echo(line, err=True),
        )
    except EvalInputError as error:
        exit_with(str(error))
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
        return
    _print(report)


def _print(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from podium.tagging.report import layout

    console = Console(file=sys.stdout, width=max(100, Console().width))
    shown = layout(report)
    console.print(shown.headline, markup=False)
    for section in shown.sections:
        table = Table(title=section.title or None)
        for i, column in enumerate(section.columns):
            # Names left, figures right (the fold table's `chosen` is a name too).
            left = i == 0 and column != "fold" or column == "chosen"
            table.add_column(column, justify="left" if left else "right")
        for row in section.rows:
            table.add_row(*(Text(cell) for cell in row))  # tag names are not rich markup
        console.print(table)
    for note in shown.notes:
        console.print(note, markup=False)


@app.command("retag")
def retag_command(
    batch_size: Annotated[int, typer.Option(help="Talks per batch (one lake commit each).")] = 256,
    force: Annotated[bool, typer.Option(help="Retag every talk, not only stale ones.")] = False,
    limit: Annotated[int | None, typer.Option(help="Stop after this many talks.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Re-score talks whose tags predate the current model or vocabulary (resumable)."""
    from podium.lake import Lake
    from podium.settings import get_settings
    from podium.tagging import build_tagger, load_history
    from podium.tagging.retag import retag
    from podium.vocabulary import VocabularyError, load_vocabulary

    if batch_size < 1:
        exit_with("--batch-size must be at least 1")
    settings = get_settings()
    lake = Lake.from_settings(settings)
    try:
        vocabulary = load_vocabulary(lake=lake)
    except VocabularyError as error:
        exit_with(str(error))
    try:
        tagger = build_tagger(settings.tagging, device=_device(device))
    except (OSError, ValueError) as error:
        exit_with(f"cannot load the tagger: {str(error).splitlines()[0]}")
    report = retag(
        lake=lake,
        tagger=tagger,
        vocabulary=vocabulary,
        history=load_history(lake=lake, encoder=tagger.encoder),
        batch_size=batch_size,
        force=force,
        limit=limit,
        on_batch=lambda done, total: typer.echo(f"retagged {done}/{total}", err=True),
    )
    typer.echo(
        f"{report.retagged} talks retagged in {report.batches} batches "
        f"({report.up_to_date} of {report.talks} already up to date, "
        f"{report.assignments} tag rows written, {report.seconds:.1f}s)"
    )
