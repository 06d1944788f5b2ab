"""`POST /hooks/talks` (the directory app) and `POST /hooks/dynamodb` (a DynamoDB Streams pipe).

Every request goes through the same steps, each with its own status code:

1. 413 when `Content-Length` (or, for chunked bodies, the bytes actually read) exceeds
   `gateway.max_body_bytes`; reading stops at the limit.
2. 401 when the HMAC signature or timestamp is missing, wrong or stale (Standard Webhooks or
   the legacy headers, see `signatures`). Then the message id (webhook-id, or the legacy
   signature) is claimed in the replay guard. Nothing is parsed or recorded before this
   passes. A message seen before inside the replay window is answered by where its first
   request stands:
   - still being handled: 409 with `Retry-After` (the first may yet fail and release the
     id; the sender's retry is then accepted);
   - completed: 200 with the first request's answer (when small enough to keep, else only
     the event field) and `"duplicate": true`; nothing is recorded or announced again;
   - failed (503, or a body refused as a whole): the id was released, so it is accepted as
     new.
3. 415 unless the content type is `application/json`; 400 when the body is not JSON; 422
   when it nests deeper than `gateway.max_json_depth`, repeats a key within an object or has
   an integer over 100 digits or a number beyond float range (`podium.jsonbody`).
4. Records are validated one by one; the valid ones are recorded with `record_talks` in a
   worker thread; concurrent requests share one write (group commit, see `group_commit`).
   503 if the lake write fails: nothing is acknowledged. With `gateway.inbox` on, the write
   is one append-only inbox blob per group (podium/inbox.py) and step 5 is the fold's.
5. One `podium.talk.submitted` event names the talks now pending enrichment; it is posted to
   Prefect (with a short retry budget: `prefect.event_retries`, `prefect.event_timeout_s`)
   only after the lake write returned.

Status of a request that got to step 4:

- 200: every record valid, recorded, and the event accepted by Prefect (or no talk needed
  enrichment — a duplicate delivery — so no event was posted: `event: "not_needed"`).
- 202: every record valid and recorded, but Prefect did not accept the event after retries:
  `event: "deferred"`. The talks stay pending in the lake; a warm executor's ledger check
  (every few seconds) picks them up, or else the scheduled `enrich` run.
- 422: at least one record was rejected. The valid records of the same batch are still
  recorded and announced exactly as above; the body lists `accepted` ids and every `rejected`
  record with its failing field and reason, and `event` says what happened to the event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.concurrency import run_in_threadpool

from podium import deferrals, event_catalog, metrics, tracing
from podium.events import EventDeliveryError, EventPoster, make_event
from podium.gateway.problems import http_status
from podium.gateway.signatures import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WEBHOOK_ID_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    Claim,
    ReplayGuard,
    SignatureError,
    Verified,
    verify_request,
)
from podium.gateway.state import gateway_state
from podium.ingest import IngestReport
from podium.jsonbody import JsonRefused, loads_strict
from podium.lake import Lake
from podium.models import Talk
from podium.settings import Settings
from podium.sources import (
    InputPolicy,
    ParseResult,
    RecordError,
    SourceError,
    parse_directory_body,
    parse_dynamodb_stream,
)

logger = logging.getLogger("podium.gateway")

TALK_SUBMITTED = event_catalog.TALK_SUBMITTED.name
TALK_REMOVED = event_catalog.TALK_REMOVED.name

router = APIRouter(tags=["hooks"])


# ---- response models -------------------------------------------------------------------------


class RejectedRecord(BaseModel):
    """One record the gateway refused, and why."""

    record: str = Field(description='Which record: "talks[2] (t-42)", "Records[0]", "(body)".')
    field: str = Field(description='Dotted path of the failing field; "" for the whole record.')
    reason: str = Field(description="Why the record was rejected.")


class HookResponse(BaseModel):
    """What a hook call recorded and announced."""

    accepted: list[str] = Field(
        default_factory=list, description="Ids of the valid talks, now durably in the lake."
    )
    new: list[str] = Field(
        default_factory=list, description="Accepted talks seen for the first time."
    )
    updated: list[str] = Field(default_factory=list, description="Accepted talks that changed.")
    unchanged: list[str] = Field(
        default_factory=list, description="Accepted talks identical to what the lake held."
    )
    removed: list[str] = Field(
        default_factory=list, description="Talks marked deleted (DynamoDB REMOVE records)."
    )
    pending: list[str] = Field(
        default_factory=list, description="Talks queued for enrichment by this request."
    )
    rejected: list[RejectedRecord] = Field(
        default_factory=list, description="Records that failed validation (status 422)."
    )
    skipped: list[RejectedRecord] = Field(
        default_factory=list,
        description="Records that are not talks (other item types of a DynamoDB table), each "
        "with the reason; skipping one is not an error.",
    )
    event: Literal["accepted", "deferred", "not_needed", "queued"] = Field(
        description="`accepted`: Prefect accepted the podium.talk.submitted event. "
        "`deferred`: Prefect was unreachable after retries; the talks stay pending and a warm "
        "executor's ledger check (seconds) or the scheduled enrich run picks them up. "
        "`not_needed`: no talk needs enrichment. "
        "`queued` (with `gateway.inbox` on): the changes are durably in the lake's inbox; "
        "the fold (within a second) records them, decides what changed and posts the event, "
        "so `new`, `updated`, `unchanged`, `removed` and `pending` stay empty."
    )
    event_reason: str | None = Field(default=None, description="Why the event was deferred.")

    duplicate: bool = Field(
        default=False,
        description="True when this message id was already handled inside the replay window: "
        "the body is the first request's answer (or, if that was too large to keep, empty "
        "lists), and nothing was recorded or announced again.",
    )
    original_status: int | None = Field(
        default=None, description="For a duplicate: the status the first request got."
    )


class ErrorResponse(BaseModel):
    """A request refused as a whole."""

    detail: str = Field(description="What was wrong with the request.")


# ---- request body schemas (documentation only: the raw body is signed, so it is parsed by
# hand after the signature check rather than by FastAPI) -------------------------------------


class DirectoryTalks(BaseModel):
    """The directory app's wrapped form."""

    model_config = ConfigDict(extra="forbid")
    talks: list[Talk]


class DynamoDBStreamChange(BaseModel):
    """The `dynamodb` member of a stream record (typed attribute values)."""

    Keys: dict[str, dict[str, Any]] = Field(
        description='e.g. {"pk": {"S": "USER#1"}, "sk": {"S": "talk#t-1"}}'
    )
    NewImage: dict[str, dict[str, Any]] | None = Field(
        default=None, description="The item after the change; required for INSERT and MODIFY."
    )


class DynamoDBStreamRecord(BaseModel):
    """One DynamoDB Streams record; items whose `sk` does not start with `talk#` are skipped
    (listed in the response's `skipped`, with the reason)."""

    eventName: Literal["INSERT", "MODIFY", "REMOVE"]
    dynamodb: DynamoDBStreamChange


class DynamoDBStreamBatch(BaseModel):
    """What an EventBridge Pipes API destination posts (a bare list of records also works)."""

    Records: list[DynamoDBStreamRecord]


def inline_refs(schema: Any, defs: dict[str, Any]) -> Any:
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return inline_refs(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: inline_refs(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [inline_refs(v, defs) for v in schema]
    return schema


def header_parameter(
    name: str, description: str | None = None, *, pattern: str | None = None
) -> dict[str, Any]:
    """An optional string header, as an OpenAPI parameter."""
    schema = {"type": "string"} if pattern is None else {"type": "string", "pattern": pattern}
    parameter: dict[str, Any] = {"name": name, "in": "header", "required": False, "schema": schema}
    if description is not None:
        parameter["description"] = description
    return parameter


def json_request_body(annotation: Any, description: str) -> dict[str, Any]:
    """An `openapi_extra` documenting a JSON body that the route reads raw.

    The schema is inlined (no `$ref`s), so it needs nothing registered in the components.
    """
    schema = TypeAdapter(annotation).json_schema(mode="validation")
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                "application/json": {"schema": inline_refs(schema, schema.get("$defs", {}))}
            },
        },
        # Either the three Standard Webhooks headers or the two legacy Podium headers.
        "parameters": [
            header_parameter(
                WEBHOOK_ID_HEADER,
                "Standard Webhooks message id; accepted once per replay window.",
                pattern="^[A-Za-z0-9_-]{1,128}$",
            ),
            header_parameter(
                WEBHOOK_TIMESTAMP_HEADER,
                "Standard Webhooks: unix seconds when the message was signed.",
                pattern="^[0-9]+$",
            ),
            header_parameter(
                WEBHOOK_SIGNATURE_HEADER,
                'Standard Webhooks: "v1,<base64 HMAC-SHA256 of '
                'f"{id}.{timestamp}." + body>", space-separated when several.',
            ),
            header_parameter(
                TIMESTAMP_HEADER,
                "Legacy: unix seconds when the request was signed.",
                pattern="^[0-9]+$",
            ),
            header_parameter(
                SIGNATURE_HEADER,
                'Legacy: HMAC-SHA256 of f"{timestamp}." + raw body.',
                pattern="^sha256=[0-9a-f]{64}$",
            ),
        ],
    }


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": HookResponse,
        "description": "Recorded; event accepted or not needed. Or `duplicate`: this message "
        "id was already handled; nothing recorded again.",
    },
    202: {"model": HookResponse, "description": "Recorded as pending; event deferred."},
    400: {"model": ErrorResponse, "description": "Body is not JSON."},
    401: {"model": ErrorResponse, "description": "Missing, wrong or stale signature."},
    409: {
        "model": ErrorResponse,
        "description": "A request with this message id is being handled; retry after the "
        "Retry-After seconds.",
        "headers": {
            "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        },
    },
    413: {"model": ErrorResponse, "description": "Body larger than gateway.max_body_bytes."},
    415: {"model": ErrorResponse, "description": "Content type is not application/json."},
    422: {
        "model": HookResponse,
        "description": "Some or all records rejected; valid ones were still recorded. Or, as "
        "an ErrorResponse, JSON that nests too deep, repeats a key or has an out-of-range "
        "number.",
    },
    503: {"model": ErrorResponse, "description": "The lake write failed; nothing recorded."},
}


# ---- the shared steps --------------------------------------------------------------------------


RETRY_AFTER_S = 1  # what a copy of an in-flight message is told to wait


class HookRefused(Exception):
    """A request refused as a whole, with its status code (and headers, e.g. Retry-After)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        problem: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = headers
        self.problem = problem  # RFC 9457 type and title, answered as application/problem+json


# A message id reused with another body (podium/replay.py): refused, never recorded.
REUSED_ID_PROBLEM = {
    "type": "https://podium.dev/problems/webhook-id-reused",
    "title": "Message id reused with a different body",
}


class AlreadyHandled(Exception):  # noqa: N818 - an outcome, not an error
    """The message id was handled inside the replay window; `outcome` is what was kept of
    the first request's answer (None when nothing was)."""

    def __init__(self, outcome: bytes | None) -> None:
        super().__init__("message already handled")
        self.outcome = outcome


async def read_body(request: Request, *, limit: int) -> bytes:
    """The raw body, refusing (413) anything over `limit` bytes without reading all of it.

    `Content-Length` is checked before reading; chunked bodies are counted as they arrive.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        value = declared.strip()
        # ASCII digits only ("²" is isdigit() but not int()), and few enough for int().
        if not value.isascii() or not value.isdigit():
            raise HookRefused(400, "Content-Length is not a number")
        if len(value) > 18 or int(value) > limit:
            raise HookRefused(413, f"body is {value[:20]} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HookRefused(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def check_signature(request: Request, body: bytes, settings: Settings) -> Verified:
    """401 unless the body carries a valid, fresh signature (either scheme, see `signatures`)."""
    try:
        return verify_request(
            body=body,
            secret=settings.gateway.secret,
            headers=request.headers,
            window_s=settings.gateway.replay_window_s,
        )
    except SignatureError as error:
        raise HookRefused(401, str(error)) from None


def claim_message(request: Request, scope: str, verified: Verified) -> None:
    """Claim this message for the request, or say where its first request stands.

    Raises:
        HookRefused: 409 with Retry-After while another request with this id is in flight;
            503 when the guard is full.
        AlreadyHandled: a request with this id completed inside the replay window.

    The caller must then `complete_message` or, if it recorded nothing, `release_message`.
    """
    guard: ReplayGuard = gateway_state(request).replay_guard
    try:
        claimed = guard.admit(scope, verified)
    except Exception:
        # Deliberately broad: the shared store (the lake, Redis) is unreachable. Nothing was
        # recorded; the sender retries.
        logger.exception("%s: the replay store failed", scope)
        metrics.REPLAYS_REFUSED.labels(scope, "store-unavailable").inc()
        raise HookRefused(503, "the replay store is unavailable; retry later") from None
    claim = Claim(claimed.seen.value)
    if claim is Claim.DONE:
        metrics.REPLAYS_REFUSED.labels(scope, "duplicate").inc()
        raise AlreadyHandled(claimed.outcome)
    if claim is Claim.REUSED:
        metrics.REPLAYS_REFUSED.labels(scope, "reused-id").inc()
        raise HookRefused(
            409,
            "this webhook-id was already used by a message with a different body inside the "
            "replay window; a new message needs a new id",
            problem=REUSED_ID_PROBLEM,
        )
    if claim is Claim.IN_FLIGHT:
        metrics.REPLAYS_REFUSED.labels(scope, "in_flight").inc()
        raise HookRefused(
            409,
            "a request with this message (same webhook-id, or same legacy signature) is being "
            f"handled right now; retry in {RETRY_AFTER_S}s with the same id",
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )


def complete_message(
    request: Request, scope: str, verified: Verified, outcome: bytes | None
) -> None:
    """Mark a claimed message handled; a later copy is answered with `outcome` as a duplicate."""
    try:
        gateway_state(request).replay_guard.complete(scope, verified, outcome)
    except Exception:
        # The answer stands (the talks are recorded); a later copy is then answered as in
        # flight until the claim's lease ends, and recorded idempotently after that.
        logger.exception("%s: could not mark a message handled in the replay store", scope)


def release_message(request: Request, scope: str, verified: Verified) -> None:
    """Forget a claimed message whose request recorded nothing, so its retry is accepted."""
    try:
        gateway_state(request).replay_guard.release(scope, verified)
    except Exception:
        # The claim's lease ends by itself; the sender's retry is accepted after it.
        logger.exception("%s: could not release a message in the replay store", scope)


def _duplicate(outcome: bytes | None) -> JSONResponse:
    """200 for a copy of a completed message: the first answer, marked `duplicate`."""
    if outcome is None:
        answer = HookResponse(event="not_needed", duplicate=True)
    else:
        answer = HookResponse.model_validate_json(outcome)
    return JSONResponse(answer.model_dump(), status_code=200)


def parse_json(request: Request, body: bytes, *, max_depth: int) -> Any:
    """415 unless the content type is application/json; 400 unless the body is JSON; 422 when
    it nests deeper than `max_depth`, repeats a key or holds an out-of-range number."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        raise HookRefused(
            415, f"content type must be application/json, got {media_type or 'none'!r}"
        )
    try:
        return loads_strict(body, max_depth=max_depth)
    except JsonRefused as refused:
        raise HookRefused(http_status(refused), str(refused)) from None


def _announce(
    poster: EventPoster,
    pending: list[str],
    removed: list[str],
    source: str,
    lake: Lake | None = None,
) -> tuple[str, str | None]:
    events = []
    if pending:
        events.append(
            make_event(
                TALK_SUBMITTED,
                resource_id=f"podium.talk.{pending[0]}",
                resource={"podium.talk.count": str(len(pending))},
                payload={"talk_ids": pending, "source": source, **tracing.carrier()},
            )
        )
    if removed:
        # Deleted talks leave the tag counts and recommendations: aggregate-tags follows this.
        events.append(
            make_event(
                TALK_REMOVED,
                resource_id="podium.talks",
                payload={"talk_ids": removed, "source": source},
            )
        )
    if not events:
        # Duplicate delivery: nothing changed, so nothing to enrich and no second set of tags.
        metrics.EVENTS.labels("not_needed").inc()
        return "not_needed", None
    try:
        poster.post(events)
    except EventDeliveryError as error:
        logger.warning("event deferred for %d talk(s): %s", len(pending) + len(removed), error)
        metrics.EVENTS.labels("deferred").inc(len(events))
        if lake is not None:
            _log_deferred(lake, events, source, str(error))
        return "deferred", str(error)
    metrics.EVENTS.labels("accepted").inc(len(events))
    return "accepted", None


def _log_deferred(lake: Lake, events: list[dict[str, Any]], source: str, reason: str) -> None:
    """Best effort: the talks are safe in the ledger whether or not the log takes the row."""
    try:
        deferrals.record_deferred(
            lake=lake, events=events, source=source, reason=reason, at=datetime.now(UTC)
        )
    except Exception:  # noqa: BLE001 - the request already succeeded; only the log is short
        logger.warning("could not log the deferral in the lake", exc_info=True)


def _rejected(errors: list[RecordError]) -> list[RejectedRecord]:
    return [RejectedRecord(record=e.record, field=e.field, reason=e.message) for e in errors]


async def handle_hook(
    request: Request,
    *,
    source: Literal["directory", "dynamodb"],
    parse: Callable[..., ParseResult],
) -> JSONResponse:
    """Authenticate, validate, record and announce one hook request (see the module docs).

    One span per request (when tracing is on); its context travels in the event's payload."""
    with tracing.span(f"POST {request.url.path}", {"podium.source": source}):
        return await _handle_hook(request, source=source, parse=parse)


async def _handle_hook(
    request: Request,
    *,
    source: Literal["directory", "dynamodb"],
    parse: Callable[[Any], ParseResult],
) -> JSONResponse:
    settings: Settings = gateway_state(request).settings
    started = time.perf_counter()
    try:
        body = await read_body(request, limit=settings.gateway.max_body_bytes)
        verified = check_signature(request, body, settings)
        # The replay store is shared (the lake, Redis): its I/O stays off the event loop.
        await run_in_threadpool(claim_message, request, source, verified)
    except AlreadyHandled as handled:
        logger.info("%s hook: duplicate of a handled message", source)
        return _duplicate(handled.outcome)
    except HookRefused as refused:
        return _refused(source, refused)
    settled = False
    try:
        response, status = await _handle_claimed(
            request, source, parse, body, verified, started=started
        )
        kept = _kept_answer(request, response, status)
        await run_in_threadpool(complete_message, request, source, verified, kept)
        settled = True
        return JSONResponse(response.model_dump(), status_code=status)
    except HookRefused as refused:
        return _refused(source, refused)
    finally:
        # Whatever did not complete (a refused body, a failed write, a crash, a cancelled
        # request) releases the id, so the sender's retry is accepted; recording is
        # idempotent, so a retry after a crash past the write records nothing twice.
        if not settled:
            await run_in_threadpool(release_message, request, source, verified)


def _kept_answer(request: Request, response: HookResponse, status: int) -> bytes:
    """What a later copy of this message is answered: this answer, marked duplicate; only the
    event and status when the whole answer is too large to keep in memory."""
    answer = response.model_copy(update={"duplicate": True, "original_status": status})
    kept = answer.model_dump_json().encode()
    if len(kept) > gateway_state(request).replay_guard.max_outcome_bytes:
        fields = {"event", "event_reason", "duplicate", "original_status"}
        kept = HookResponse(**answer.model_dump(include=fields)).model_dump_json().encode()
    return kept


def _refused(source: str, refused: HookRefused) -> JSONResponse:
    logger.info("%s hook refused: %d %s", source, refused.status_code, refused.detail)
    return refusal(refused)


def refusal(refused: HookRefused) -> JSONResponse:
    """The answer to a refused request: `{"detail": ...}`, or a problem document (RFC 9457,
    with `detail` too) when the refusal names a problem type."""
    if refused.problem is not None:
        return JSONResponse(
            {**refused.problem, "status": refused.status_code, "detail": refused.detail},
            status_code=refused.status_code,
            headers=refused.headers,
            media_type="application/problem+json",
        )
    return JSONResponse(
        ErrorResponse(detail=refused.detail).model_dump(),
        status_code=refused.status_code,
        headers=refused.headers,
    )


async def _handle_claimed(
    request: Request,
    source: Literal["directory", "dynamodb"],
    parse: Callable[..., ParseResult],
    body: bytes,
    verified: Verified,
    *,
    started: float,
) -> tuple[HookResponse, int]:
    """Parse, record and announce a claimed message: its answer and status (503 when the
    lake write failed). Raises HookRefused when the body is refused as a whole."""
    state = gateway_state(request)
    settings: Settings = state.settings
    payload = parse_json(request, body, max_depth=settings.gateway.max_json_depth)
    try:
        policy = InputPolicy.from_settings(settings)
        result = await run_in_threadpool(lambda: parse(payload, policy=policy))
    except SourceError as error:
        result = ParseResult(errors=[RecordError("(body)", "", str(error))])
    if source == "directory" and not result.talks and not result.errors:
        result.errors.append(RecordError("(body)", "", "expected at least one talk"))

    report = IngestReport()
    if result.talks or result.removed:
        try:
            with tracing.span("record-talks", {"podium.talks": len(result.talks)}):
                report = await run_in_threadpool(
                    lambda: state.committer.record(talks=result.talks, removed=result.removed)
                )
            metrics.STAGE_SECONDS.labels("recorded").observe(time.perf_counter() - started)
        except Exception:
            # Deliberately broad: whatever broke the write, nothing may be acknowledged, and
            # the sender's retry of this message must be accepted.
            logger.exception("%s hook: lake write failed", source)
            raise HookRefused(
                503, "the lake write failed; nothing was recorded, retry later"
            ) from None

    if state.inbox_folder is not None and (result.talks or result.removed):
        # Durable in the inbox; the fold decides what changed and announces it.
        event, reason = "queued", None
    else:
        event, reason = await run_in_threadpool(
            _announce, state.poster, report.pending, report.removed, source, state.lake
        )
    response = HookResponse(
        accepted=list(dict.fromkeys(t.talk_id for t in result.talks)),
        new=report.new,
        updated=report.updated,
        unchanged=report.unchanged,
        removed=report.removed,
        pending=report.pending,
        rejected=_rejected(result.errors),
        skipped=_rejected(result.skipped),
        event=event,  # type: ignore[arg-type]
        event_reason=reason,
    )
    status = 422 if response.rejected else 202 if event == "deferred" else 200
    tracing.annotate(
        **{"podium.talk_ids": response.pending, "podium.event": event, "http.status_code": status}
    )
    logger.info(
        "%s hook: %d accepted, %d rejected, %d skipped, %d pending, event %s",
        source,
        len(response.accepted),
        len(response.rejected),
        len(response.skipped),
        len(response.pending),
        event,
    )
    return response, status


# ---- routes ------------------------------------------------------------------------------------


@router.post(
    "/hooks/talks",
    summary="Submit talks from the directory app",
    response_model=HookResponse,
    responses=_RESPONSES,
    openapi_extra=json_request_body(
        Talk | list[Talk] | DirectoryTalks,
        'One talk, a list of talks, or {"talks": [...]}; signed (X-Podium-Signature).',
    ),
)
async def post_talks(request: Request) -> JSONResponse:
    """Record talks from the directory app and hand them to Prefect for enrichment."""
    return await handle_hook(request, source="directory", parse=parse_directory_body)


@router.post(
    "/hooks/dynamodb",
    summary="Apply a batch of DynamoDB Streams records",
    response_model=HookResponse,
    responses=_RESPONSES,
    openapi_extra=json_request_body(
        DynamoDBStreamBatch | list[DynamoDBStreamRecord],
        "DynamoDB Streams records as an EventBridge Pipes API destination sends them; signed.",
    ),
)
async def post_dynamodb(request: Request) -> JSONResponse:
    """Record INSERT/MODIFY talk items, mark REMOVEd talks deleted, and announce the changes."""
    return await handle_hook(request, source="dynamodb", parse=parse_dynamodb_stream)
