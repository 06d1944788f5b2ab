"""Git push webhooks: `POST /hooks/github`, `POST /hooks/gitlab`, `POST /hooks/push`.

Each authenticates the sender (GitHub HMAC, GitLab token, Podium HMAC — all constant-time),
turns the body into a `PushEvent`, and emits `podium.git.push` (which triggers the
`review-push` deployment). It answers:

- 202 `accepted` once Prefect took the event;
- 200 `ignored` for pings, non-push events, tag pushes, unwatched repositories, repeated
  deliveries (completed before: "delivery already received") and commits already reviewed;
  200 `recorded` for a branch deletion;
- 200 with `duplicate: true` (and the first answer) for a `/hooks/push` message id that was
  already handled inside the replay window (see `talk_hooks`);
- 409 with `Retry-After` while a copy of the same delivery (or `/hooks/push` message id) is
  being handled: the first may still fail, and then the sender's retry is accepted;
- 401 bad signature, 400 bad body, 413 too large, 404 when that hook is not configured,
  503 when Prefect did not take the event (the sender retries; nothing was marked delivered).

Uses `gateway_state(request).settings`, `.lake` and `.poster`, set by `podium.gateway.app`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from starlette.concurrency import run_in_threadpool

from podium import event_catalog
from podium.events import EventDeliveryError, EventPoster, make_event
from podium.gateway.problems import http_status
from podium.gateway.signatures import SignatureError, Verified, verify_request
from podium.gateway.state import Gateway, gateway_state
from podium.gateway.talk_hooks import (
    RETRY_AFTER_S,
    AlreadyHandled,
    HookRefused,
    claim_message,
    complete_message,
    header_parameter,
    json_request_body,
    read_body,
    refusal,
    release_message,
)
from podium.lake import Lake
from podium.review.models import PushEvent
from podium.review.payloads import (
    Ignored,
    WebhookError,
    load_json,
    parse_forge,
    parse_generic,
    verify_github_signature,
    verify_gitlab_token,
)
from podium.review.records import find_review, record_deleted
from podium.settings import Settings

logger = logging.getLogger("podium.gateway.git")

router = APIRouter(prefix="/hooks", tags=["git"])
PUSH_EVENT = event_catalog.GIT_PUSH.name
_DELIVERIES = "review/deliveries"
_FORGE_NAMES = {"github": "GitHub", "gitlab": "GitLab"}


class PushResponse(BaseModel):
    """What the gateway did with a git webhook."""

    status: Literal["accepted", "ignored", "recorded"] = Field(
        description="accepted: podium.git.push emitted; ignored: nothing to review; "
        "recorded: a branch deletion written to `reviews`."
    )
    reason: str | None = Field(default=None, description="Why it was ignored or recorded.")
    repo: str | None = Field(default=None, description="The watched repository's name.")
    after: str | None = Field(default=None, description="The pushed commit.")
    event_id: str | None = Field(default=None, description="Id of the emitted Prefect event.")
    duplicate: bool = Field(
        default=False,
        description="True when this /hooks/push message id was already handled: the body is "
        "the first answer, and nothing was announced again.",
    )


def _marker(source: str, delivery_id: str, body_digest: str) -> str:
    # The delivery id header is not covered by GitHub's signature, so the de-duplication key
    # is the id together with the signed body's digest: a captured body replayed under a fresh
    # id is a new delivery only if the commit was not reviewed, and a new body under an old id
    # is never swallowed. Hashed: the sender's id must not shape a storage path.
    key = f"{delivery_id}\x00{body_digest}".encode()
    return f"{_DELIVERIES}/{source}/{hashlib.sha256(key).hexdigest()}"


def _handle_push(
    lake: Lake, poster: EventPoster, push: PushEvent, marker: str | None
) -> PushResponse:
    """Record or announce one push (blocking: runs in the thread pool)."""
    if marker and lake.blob_exists(marker):
        return PushResponse(status="ignored", reason="delivery already received", repo=push.repo)
    if push.is_deletion:
        record_deleted(lake=lake, push=push)
        if marker:
            lake.put_blob(marker, b"deleted")
        return PushResponse(
            status="recorded", reason=f"branch {push.branch} deleted", repo=push.repo
        )
    if find_review(lake, repo=push.repo, commit=push.after) is not None:
        return PushResponse(
            status="ignored", reason="commit already reviewed", repo=push.repo, after=push.after
        )
    event = make_event(
        PUSH_EVENT,
        resource_id=f"podium.repo.{push.repo}",
        resource={"podium.repo.ref": push.ref, "podium.repo.source": push.source},
        payload=push.model_dump(mode="json"),
    )
    poster.post([event])
    # Marked only after Prefect took the event, so a failed post can be redelivered.
    if marker:
        lake.put_blob(marker, event["id"].encode())
    return PushResponse(status="accepted", repo=push.repo, after=push.after, event_id=event["id"])


async def _respond(
    request: Request,
    source: str,
    parsed: PushEvent | Ignored,
    *,
    body: bytes,
    on_failure: Callable[[], None] | None = None,
    on_success: Callable[[PushResponse], None] | None = None,
) -> JSONResponse:
    if isinstance(parsed, Ignored):
        logger.info("%s webhook ignored: %s", source, parsed.reason)
        ignored = PushResponse(status="ignored", reason=parsed.reason)
        if on_success:
            on_success(ignored)
        return JSONResponse(ignored.model_dump())
    state = gateway_state(request)
    marker = (
        _marker(source, parsed.delivery_id, hashlib.sha256(body).hexdigest())
        if parsed.delivery_id
        else None
    )
    # Claimed for the time of the check-then-mark in `_handle_push`: a concurrent copy of the
    # same delivery is told to retry (not "received": the first may still fail and release).
    if marker and not state.deliveries.claim(marker):
        if on_failure:
            on_failure()
        return _error(
            409,
            f"the same delivery is being handled right now; retry in {RETRY_AFTER_S}s",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    try:
        result = await run_in_threadpool(_handle_push, state.lake, state.poster, parsed, marker)
    except EventDeliveryError as error:
        if on_failure:
            on_failure()
        logger.warning("%s push to %s not announced: %s", source, parsed.repo, error)
        return _error(503, "Prefect did not accept the push event; retry later")
    except Exception:
        # Deliberately broad: whatever failed, the push was not handed over; let it retry.
        if on_failure:
            on_failure()
        logger.exception("%s push to %s failed", source, parsed.repo)
        return _error(503, "the push could not be recorded; retry later")
    finally:
        if marker:
            state.deliveries.release(marker)
    logger.info("%s push %s %s: %s", source, parsed.repo, parsed.after[:12], result.status)
    if on_success:
        on_success(result)
    return JSONResponse(
        result.model_dump(), status_code=202 if result.status == "accepted" else 200
    )


# ---- request body schemas (documentation, and what the fuzzer draws from: the raw body is
# authenticated first and parsed by hand) -----------------------------------------------------


class _Open(BaseModel):
    """A body object of which Podium reads a few fields; the forge sends more."""

    model_config = ConfigDict(extra="allow")


class _Named(_Open):
    name: str | None = None


class GitHubRepository(_Open):
    full_name: str | None = None
    clone_url: str | None = None


class GitLabProject(_Open):
    path_with_namespace: str | None = None
    git_http_url: str | None = None


class _Push(_Open):
    """The commit range every push body carries."""

    ref: str
    before: str
    after: str


class GitHubPush(_Push):
    """The fields of a GitHub (or Gitea/Gogs) push event that Podium reads."""

    repository: GitHubRepository | None = None
    pusher: _Named | None = None
    forced: bool = False


class GitLabPush(_Push):
    """The fields of a GitLab push hook or push system hook that Podium reads."""

    object_kind: str | None = None
    event_name: str | None = None
    checkout_sha: str | None = None
    project: GitLabProject | None = None
    user_username: str | None = None


class GenericPush(_Push):
    """Podium's generic push body."""

    model_config = ConfigDict(extra="forbid")
    repository: str
    pusher: str | None = None
    delivery_id: str | None = None
    forced: bool = False


def _body_doc(model: type[BaseModel], description: str, headers: list[str]) -> dict[str, Any]:
    # The JSON body as the directory hooks document theirs; the forge's own headers.
    doc = json_request_body(model, description)
    doc["parameters"] = [header_parameter(name) for name in headers]
    return doc


def _error(status: int, detail: str, *, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


async def _body(request: Request, settings: Settings) -> bytes:
    return await read_body(request, limit=settings.gateway.max_body_bytes)


async def _handle(
    request: Request,
    source: str,
    check_and_parse: Callable[[bytes], PushEvent | Ignored],
    on_failure: Callable[[], None] | None = None,
    on_success: Callable[[PushResponse], None] | None = None,
) -> JSONResponse:
    # Every push hook: bounded body, then the source's own authentication and parsing, with
    # each refusal answered by its status code.
    settings: Settings = gateway_state(request).settings
    try:
        body = await _body(request, settings)
        parsed = check_and_parse(body)
    except AlreadyHandled as handled:
        logger.info("%s webhook: duplicate of a handled message", source)
        first = (
            PushResponse.model_validate_json(handled.outcome)
            if handled.outcome is not None
            else PushResponse(status="ignored", reason="message already received")
        )
        return JSONResponse(first.model_copy(update={"duplicate": True}).model_dump())
    except HookRefused as refused:
        return refusal(refused)
    except SignatureError as error:
        return _error(401, str(error))
    except WebhookError as error:
        status = http_status(error)
        logger.info("%s webhook refused: %d %s", source, status, error)
        return _error(status, str(error))
    return await _respond(
        request, source, parsed, body=body, on_failure=on_failure, on_success=on_success
    )


async def _forge_push(
    request: Request,
    forge: Literal["github", "gitlab"],
    secret: SecretStr | None,
    verify: Callable[[bytes, str], None],
    headers: tuple[str, str],
) -> JSONResponse:
    # A forge's push hook (GitHub, GitLab): 404 until its secret is set; then `verify(body,
    # secret)` authenticates it, and its JSON, event and delivery id (`headers`) are parsed.
    if secret is None:
        return _error(404, f"{_FORGE_NAMES[forge]} webhooks are not configured")
    event_header, delivery_header = headers

    def check_and_parse(body: bytes) -> PushEvent | Ignored:
        verify(body, secret.get_secret_value())
        settings: Settings = gateway_state(request).settings
        return parse_forge(
            forge,
            load_json(body, max_depth=settings.gateway.max_json_depth),
            event=request.headers.get(event_header),
            delivery_id=request.headers.get(delivery_header, ""),
            review=settings.review,
            received_at=datetime.now(UTC),
        )

    return await _handle(request, forge, check_and_parse)


@router.post(
    "/github",
    response_model=PushResponse,
    summary="GitHub push webhook",
    openapi_extra=_body_doc(
        GitHubPush,
        "A GitHub push event (other events are ignored); HMAC of the raw body.",
        ["X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery"],
    ),
)
async def github_hook(request: Request, state: Gateway) -> JSONResponse:
    """A GitHub webhook signed with `X-Hub-Signature-256`; `X-GitHub-Delivery` de-duplicated."""

    def verify(body: bytes, secret: str) -> None:
        header = request.headers.get("x-hub-signature-256")
        verify_github_signature(body=body, header=header, secret=secret)

    secret = state.settings.review.github_webhook_secret
    return await _forge_push(
        request, "github", secret, verify, ("x-github-event", "x-github-delivery")
    )


@router.post(
    "/gitlab",
    response_model=PushResponse,
    summary="GitLab push hook",
    openapi_extra=_body_doc(
        GitLabPush,
        "A GitLab push hook or push system hook; authenticated by X-Gitlab-Token.",
        ["X-Gitlab-Token", "X-Gitlab-Event", "X-Gitlab-Event-UUID"],
    ),
)
async def gitlab_hook(request: Request, state: Gateway) -> JSONResponse:
    """A GitLab push hook authenticated by `X-Gitlab-Token`; `X-Gitlab-Event-UUID`
    de-duplicated."""

    def verify(body: bytes, secret: str) -> None:
        verify_gitlab_token(header=request.headers.get("x-gitlab-token"), secret=secret)

    secret = state.settings.review.gitlab_token
    return await _forge_push(
        request, "gitlab", secret, verify, ("x-gitlab-event", "x-gitlab-event-uuid")
    )


@router.post(
    "/push",
    response_model=PushResponse,
    summary="Generic signed push",
    openapi_extra=_body_doc(
        GenericPush,
        "A push from any git server or script; signed with review.push_secret.",
        [
            "webhook-id",
            "webhook-timestamp",
            "webhook-signature",
            "X-Podium-Timestamp",
            "X-Podium-Signature",
        ],
    ),
)
async def generic_push_hook(request: Request, state: Gateway) -> JSONResponse:
    """A push from any git server or script, signed with `review.push_secret` (its own key,
    never the directory app's) in the Standard Webhooks or legacy Podium scheme
    (`podium.gateway.signatures`), replay-protected; body: repository, ref, before, after[,
    pusher, delivery_id]."""
    settings = state.settings
    secret = settings.review.push_secret
    if secret is None:
        return _error(404, "generic push hooks are not configured (review.push_secret)")
    claimed: list[Verified] = []

    def release() -> None:
        for verified in claimed:
            release_message(request, "push", verified)

    def complete(answer: PushResponse) -> None:
        for verified in claimed:
            complete_message(request, "push", verified, answer.model_dump_json().encode())

    def check_and_parse(body: bytes) -> PushEvent | Ignored:
        verified = verify_request(
            body=body,
            secret=secret,
            headers=request.headers,
            window_s=settings.gateway.replay_window_s,
        )
        claim_message(request, "push", verified)
        claimed.append(verified)
        try:
            data: dict[str, Any] = load_json(body, max_depth=settings.gateway.max_json_depth)
            return parse_generic(data, review=settings.review, received_at=datetime.now(UTC))
        except WebhookError:
            release()
            raise

    return await _handle(request, "push", check_and_parse, on_failure=release, on_success=complete)
