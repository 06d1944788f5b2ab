"""`podium review …`: summarise a commit range of any local repository (no Prefect), and
approve or reject a paused review (resumes its `review-push` flow run)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated, NoReturn
from uuid import UUID

import typer

from podium.errors import exit_with
from podium.review.gitrepo import Git, GitError, compute_change
from podium.review.llm import backend_from_settings
from podium.review.models import ApprovalInput, is_zero_sha
from podium.review.service import review_change

app = typer.Typer(help="Git push reviews.", no_args_is_help=True, add_completion=False)


def _fail(message: str) -> NoReturn:
    exit_with(message)


@app.command()
def summarize(
    repo: Annotated[Path, typer.Argument(help="A local git repository (work tree or bare).")],
    before: Annotated[
        str, typer.Option("--before", help="Previous commit (all zeros: a new branch).")
    ],
    after: Annotated[str, typer.Option("--after", help="New commit.")],
    ref: Annotated[
        str | None, typer.Option("--ref", help="Branch pushed; default: the checked-out one.")
    ] = None,
    default_branch: Annotated[
        str | None,
        typer.Option("--default-branch", help="Branch a new branch is compared with."),
    ] = None,
    llm: Annotated[
        bool, typer.Option("--llm/--no-llm", help="Use the configured model backend.")
    ] = False,
) -> None:
    """Print the review summary of BEFORE..AFTER in REPO."""
    from podium.settings import get_settings

    if not repo.exists():
        _fail(f"{repo} does not exist")
    git = Git(repo)
    try:
        resolved = [
            b if is_zero_sha(b) else git.run("rev-parse", "--verify", f"{b}^{{commit}}").strip()
            for b in (before, after)
        ]
        branch = ref or git.run("symbolic-ref", "--quiet", "HEAD", check=False).strip()
        change = compute_change(
            git,
            repo=repo.resolve().name,
            ref=branch or "refs/heads/HEAD",
            before=resolved[0],
            after=resolved[1],
            default_branch=default_branch,
        )
        review = get_settings().review
        backend = backend_from_settings(review) if llm else None
        reviewed = review_change(git, change, review=review, backend=backend)
    except GitError as error:
        _fail(str(error))
        return
    except ValueError as error:  # settings that do not validate
        _fail(str(error).splitlines()[0])
        return
    typer.echo(reviewed.summary.text)


def _decide(run_id: str, decision: str, comment: str, reviewer: str | None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.flow_runs import resume_flow_run
    from prefect.settings import PREFECT_API_KEY, PREFECT_API_URL, temporary_settings

    from podium.settings import get_settings

    try:
        flow_run_id = UUID(run_id)
    except ValueError:
        _fail(f"{run_id!r} is not a flow run id")
        return
    answer = ApprovalInput(
        decision=decision,  # type: ignore[arg-type]
        comment=comment,
        reviewer=reviewer or getpass.getuser(),
    )
    prefect = get_settings().prefect
    overrides = {PREFECT_API_URL: prefect.api_url}
    if prefect.api_key is not None:
        overrides[PREFECT_API_KEY] = prefect.api_key.get_secret_value()
    if prefect.auth_string is not None:
        from prefect.settings import PREFECT_API_AUTH_STRING

        overrides[PREFECT_API_AUTH_STRING] = prefect.auth_string.get_secret_value()
    try:
        with temporary_settings(overrides):
            with get_client(sync_client=True) as client:
                flow_run = client.read_flow_run(flow_run_id)
            if flow_run.state is None or not flow_run.state.is_paused():
                state = flow_run.state.name if flow_run.state else "unknown"
                _fail(f"flow run {run_id} is {state}, not waiting for a review")
            resume_flow_run(flow_run_id, run_input=answer.model_dump())
    except ObjectNotFound:
        _fail(f"no flow run {run_id}")
    except typer.Exit:
        raise
    except Exception as error:  # one line for any API failure; no traceback, no secrets
        _fail(f"could not resume {run_id}: {type(error).__name__}: {str(error).splitlines()[0]}")
    typer.echo(f"{'approved' if decision == 'approve' else 'rejected'}: review run {run_id}")


_RunId = Annotated[str, typer.Argument(help="The paused review-push flow run id.")]
_Comment = Annotated[str, typer.Option("--comment", "-m", help="Why, for the record.")]
_Reviewer = Annotated[
    str | None, typer.Option("--reviewer", help="Who decides (default: your login).")
]


@app.command()
def approve(run_id: _RunId, comment: _Comment = "", reviewer: _Reviewer = None) -> None:
    """Approve a paused review."""
    _decide(run_id, "approve", comment, reviewer)


@app.command()
def reject(run_id: _RunId, comment: _Comment = "", reviewer: _Reviewer = None) -> None:
    """Reject a paused review."""
    _decide(run_id, "reject", comment, reviewer)
