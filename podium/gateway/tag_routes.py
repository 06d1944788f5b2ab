"""`POST /hooks/tags`: organisers' tag corrections (accept, reject, add), signed like every hook.

The same steps and status codes as `/hooks/talks` (`talk_hooks`): 413 over the body limit,
401 without a valid fresh signature (same secret and schemes), the replay guard (a completed
copy is answered as a duplicate, one in flight gets 409), 415/400/422 for the body. Then:

- 422 when a decision is not valid (unknown decision, empty tag, no `decided_by`): nothing is
  recorded; the body names each failing decision and field;
- 404 when a decision names an unknown talk, 409 when it contradicts the talk (rejecting the
  speaker's own tag, accepting a tag the talk does not carry): nothing is recorded;
- 503 when the lake write failed (the sender retries with the same message id);
- 200 with `event: "accepted"` once the decisions are recorded and applied and Prefect took
  `podium.talk.tagged` (counts, recommendations and the DynamoDB write-back follow it), or
  202 with `event: "deferred"` when it did not: the correction is in force anyway and the
  counts' schedule catches up.
"""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from podium.errors import Refused
from podium.events import PostedEvents
from podium.gateway.problems import http_status
from podium.gateway.state import Gateway
from podium.gateway.talk_hooks import (
    AlreadyHandled,
    ErrorResponse,
    HookRefused,
    check_signature,
    claim_message,
    complete_message,
    json_request_body,
    parse_json,
    read_body,
    release_message,
)
from podium.resources import Resources
from podium.tag_feedback import TagDecision
from podium.use_cases.tag_feedback import correct_tags

logger = logging.getLogger("podium.gateway")
router = APIRouter(tags=["tags"])
SCOPE = "tags"
MAX_DECISIONS = 500


class Corrections(BaseModel):
    """Organisers' decisions, applied in order."""

    model_config = ConfigDict(extra="forbid")

    decisions: list[TagDecision] = Field(min_length=1, max_length=MAX_DECISIONS)


class AppliedDecision(BaseModel):
    talk_id: str
    tag: str
    decision: str


class CorrectionResponse(BaseModel):
    """What a correction request recorded and announced."""

    recorded: int = Field(description="Decisions recorded in tag_feedback and applied.")
    applied: list[AppliedDecision] = Field(default_factory=list)
    event: Literal["accepted", "deferred", "not_needed"] = Field(
        description="What happened to podium.talk.tagged (counts and recommendations follow)."
    )
    event_reason: str | None = None
    duplicate: bool = Field(default=False, description="A copy of a handled message.")
    errors: list[dict[str, str]] = Field(default_factory=list, description="Invalid decisions.")


def _answer(status: int, detail: str) -> JSONResponse:
    logger.info("tags hook refused: %d %s", status, detail)
    return JSONResponse(ErrorResponse(detail=detail).model_dump(), status_code=status)


def _invalid(error: ValidationError) -> JSONResponse:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]), "reason": str(e["msg"])}
        for e in error.errors(include_url=False, include_input=False)
    ]
    body = CorrectionResponse(recorded=0, event="not_needed", errors=errors)
    return JSONResponse(body.model_dump(), status_code=422)


@router.post(
    "/hooks/tags",
    summary="Record organisers' tag corrections (accept, reject, add)",
    response_model=CorrectionResponse,
    responses={
        401: {"model": ErrorResponse},
        404: {"model": ErrorResponse},
        409: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        422: {"model": CorrectionResponse},
        503: {"model": ErrorResponse},
    },
    openapi_extra=json_request_body(Corrections, "Decisions, signed like /hooks/talks."),
)
async def post_tags(request: Request, state: Gateway) -> JSONResponse:
    """Record decisions in `tag_feedback`, apply them to `talk_tags`, announce the change."""
    settings = state.settings
    try:
        body = await read_body(request, limit=settings.gateway.max_body_bytes)
        verified = check_signature(request, body, settings)
        claim_message(request, SCOPE, verified)
    except AlreadyHandled as handled:
        kept = CorrectionResponse.model_validate_json(
            handled.outcome or b'{"recorded":0,"event":"not_needed"}'
        )
        return JSONResponse(kept.model_copy(update={"duplicate": True}).model_dump(), 200)
    except HookRefused as refused:
        return _answer(refused.status_code, refused.detail)
    settled = False
    try:
        payload = parse_json(request, body, max_depth=settings.gateway.max_json_depth)
        try:
            corrections = Corrections.model_validate(payload)
        except ValidationError as error:
            return _invalid(error)
        resources = Resources(settings=settings, lake=state.lake, events=PostedEvents(state.poster))
        try:
            outcome = await run_in_threadpool(
                lambda: correct_tags(resources, corrections.decisions, logger=logger)
            )
        except Refused as refused:
            return _answer(http_status(refused), str(refused))
        except Exception:
            # Whatever broke the write, nothing is acknowledged and the retry is accepted.
            logger.exception("tags hook: lake write failed")
            return _answer(503, "the lake write failed; retry later")
        response = CorrectionResponse(
            recorded=outcome.recorded,
            applied=[AppliedDecision(**a) for a in outcome.applied],
            event=outcome.event,  # type: ignore[arg-type]
            event_reason=outcome.event_reason,
        )
        complete_message(request, SCOPE, verified, response.model_dump_json().encode())
        settled = True
        return JSONResponse(
            response.model_dump(), status_code=202 if outcome.event == "deferred" else 200
        )
    except HookRefused as refused:
        return _answer(refused.status_code, refused.detail)
    finally:
        if not settled:
            release_message(request, SCOPE, verified)
