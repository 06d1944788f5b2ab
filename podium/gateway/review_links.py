"""`GET|POST /reviews/decide`: a named reviewer's signed approve/reject link.

`GET` only shows what the link would do and asks to confirm: mail scanners and chat unfurlers
fetch links, and a fetch must never decide a review. `POST` (the confirm button, a `token` and
an optional `comment` form field) verifies the token (`podium.review.links.verify`), checks
the review is still pending, claims the run's one decision in the lake (put-if-absent, so the
single use holds across every gateway replica), and resumes the run through the Prefect API
with the decision. The run then records the reviewer the claim names.

Answers: 200 decided; 401 a link whose signature does not match (tampered, or one reviewer's
link presented as another's); 410 expired; 409 already used, or the review is no longer
waiting; 404 when no reviewers are configured; 503 when Prefect did not take the resume (the
claim is given back, so the same link works again).
"""

from __future__ import annotations

import html
import logging
from typing import Annotated, Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from podium.events import EventPoster
from podium.gateway.state import Gateway, gateway_state
from podium.lake import Lake
from podium.review.links import LinkClaims, LinkError, claim_decision, release_decision, verify
from podium.review.records import find_review
from podium.settings import Settings

logger = logging.getLogger("podium.gateway.reviews")

router = APIRouter(prefix="/reviews", tags=["reviews"])

_STATUS = {"invalid": 401, "expired": 410, "used": 409, "closed": 409}
_RESUME_TIMEOUT_S = 10.0
_MAX_FORM_BYTES = 16 * 1024


def _page(status: int, title: str, text: str, form: str = "") -> HTMLResponse:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='referrer' content='no-referrer'>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{form}</body></html>"
    )
    headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
    return HTMLResponse(body, status_code=status, headers=headers)


def _refused(error: LinkError) -> HTMLResponse:
    return _page(_STATUS[error.reason], "Link refused", str(error))


def _check_pending(lake: Lake, claims: LinkClaims) -> None:
    row = find_review(lake, repo=claims.repo, commit=claims.commit)
    if row is None or str(row.get("flow_run_id")) != claims.run_id:
        raise LinkError("invalid", "no such review")
    if row["status"] != "pending":
        raise LinkError("closed", f"this review is {row['status']} already")


def _resume(poster: EventPoster, claims: LinkClaims, comment: str) -> tuple[int, str] | None:
    """Resume the run with the decision; None when Prefect accepted, else (status, why)."""
    url = f"{poster.api_url.rstrip('/')}/flow_runs/{claims.run_id}/resume"
    run_input = {"decision": claims.decision, "comment": comment, "reviewer": claims.reviewer}
    try:
        response = httpx.post(
            url,
            json={"run_input": run_input},
            headers=poster.auth_headers(),
            timeout=_RESUME_TIMEOUT_S,
        )
    except httpx.HTTPError as error:
        return 503, f"Prefect unreachable ({type(error).__name__}); try the link again shortly"
    if response.status_code == 404:
        return 409, "the review's run no longer exists"
    if response.status_code >= 300:
        logger.warning(
            "resume of %s refused: HTTP %s %s",
            claims.run_id,
            response.status_code,
            response.text[:300],
        )
        return 503, f"Prefect answered HTTP {response.status_code}; try the link again shortly"
    result: dict[str, Any] = response.json()
    if result.get("status") != "ACCEPT":
        reason = (result.get("details") or {}).get("reason") or result.get("status")
        return 409, f"Prefect did not resume the run: {reason}"
    return None


def _settings(request: Request) -> Settings:
    return gateway_state(request).settings


@router.get("/decide", response_class=HTMLResponse, summary="Confirm a signed review link")
def confirm(
    request: Request, state: Gateway, token: Annotated[str, Query(max_length=4096)]
) -> HTMLResponse:
    """Show what the link decides and a button to confirm it; decides nothing itself."""
    review = _settings(request).review
    if not review.reviewers:
        return _page(404, "Not found", "review links are not configured")
    try:
        claims = verify(token, review)
        _check_pending(state.lake, claims)
    except LinkError as error:
        return _refused(error)
    verb = "Approve" if claims.decision == "approve" else "Reject"
    form = (
        "<form method='post'>"
        f"<input type='hidden' name='token' value='{html.escape(token, quote=True)}'>"
        "<p><label>Comment <textarea name='comment' maxlength='4000'></textarea></label></p>"
        f"<button type='submit'>{verb} as {html.escape(claims.reviewer)}</button></form>"
    )
    text = f"{verb} the deployment of {claims.repo} at {claims.commit[:12]}?"
    return _page(200, f"{verb} review", text, form)


@router.post("/decide", response_class=HTMLResponse, summary="Decide a review by signed link")
async def decide(request: Request, state: Gateway) -> HTMLResponse:
    """Verify the link, use it up and resume the review with its decision (an
    `application/x-www-form-urlencoded` body with `token` and an optional `comment`)."""
    review = _settings(request).review
    if not review.reviewers:
        return _page(404, "Not found", "review links are not configured")
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        return _page(413, "Too large", "the form is too large")
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=4, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return _page(400, "Bad request", "not a form")
    token = (fields.get("token") or [""])[0]
    comment = (fields.get("comment") or [""])[0][:4000]
    if not token:
        return _page(400, "Bad request", "the form has no token")
    lake, poster = state.lake, state.poster
    try:
        claims = verify(token, review)
        reviewer = review.reviewer(claims.reviewer)
        assert reviewer is not None  # verify() found it
        await run_in_threadpool(_check_pending, lake, claims)
        await run_in_threadpool(
            claim_decision,
            lake=lake,
            claims=claims,
            reviewer=reviewer,
            comment=comment,
            token=token,
        )
    except LinkError as error:
        logger.info("review link refused: %s", error.reason)
        return _refused(error)
    failure = await run_in_threadpool(_resume, poster, claims, comment)
    if failure is not None:
        await run_in_threadpool(release_decision, lake=lake, run_id=claims.run_id, token=token)
        logger.warning("review link for run %s not applied: %s", claims.run_id, failure)
        return _page(failure[0], "Not applied", failure[1])
    done = "approved" if claims.decision == "approve" else "rejected"
    logger.info("review run %s %s by %s (signed link)", claims.run_id, done, claims.reviewer)
    return _page(200, f"Review {done}", f"{claims.repo}@{claims.commit[:12]} {done} by you.")
