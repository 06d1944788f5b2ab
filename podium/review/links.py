"""Signed approve/reject links: a verified identity on every decision made outside the UI.

Each named reviewer (`review.reviewers`) gets two links per review, one to approve and one to
reject. A link carries a token: the reviewer's name, the review's run id, repository and
commit, the decision and an expiry, with an HMAC-SHA256 over all of them under that reviewer's
key (their own `secret`, or `review.link_signing_key`). Changing any field, or presenting one
reviewer's token as another's, breaks the signature.

The gateway verifies a token (`verify`), then claims the review's decision in the lake with a
put-if-absent blob (`claim_decision`): of all links of one run, across every gateway replica,
exactly one is ever used; a second click of the same link, or any other link of that run, is
refused. Only then does it resume the run. The run, once resumed, reads the claim
(`find_decision`) and records the reviewer it names, never a name typed into a form.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import quote

from podium.errors import UserError
from podium.lake import Lake
from podium.review.config import Reviewer, ReviewSettings

Decision = Literal["approve", "reject"]
_CLAIMS = "review/link-decisions"
_VERSION = 1


class LinkError(UserError, ValueError):
    """A link that cannot be used; `reason` says why in one word (for the HTTP status)."""

    def __init__(
        self, reason: Literal["invalid", "expired", "used", "closed"], message: str
    ) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LinkClaims:
    """What a link says, all of it covered by the signature."""

    reviewer: str
    run_id: str
    repo: str
    commit: str
    decision: Decision
    expires: int  # unix seconds

    def payload(self) -> bytes:
        body = {"v": _VERSION, **asdict(self)}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> str:
    return _b64(hmac.new(key, b"podium-review-link\x00" + payload, hashlib.sha256).digest())


def sign(claims: LinkClaims, review: ReviewSettings) -> str:
    """The token of `claims`, signed with the named reviewer's key."""
    reviewer = review.reviewer(claims.reviewer)
    if reviewer is None:
        raise LinkError("invalid", f"no reviewer {claims.reviewer!r} in review.reviewers")
    payload = claims.payload()
    return f"{_b64(payload)}.{_mac(review.link_key(reviewer), payload)}"


def verify(token: str, review: ReviewSettings, *, now: float | None = None) -> LinkClaims:
    """The claims of a genuine, unexpired token.

    Raises:
        LinkError: `invalid` (malformed, unknown reviewer, wrong signature) or `expired`.
    """
    encoded, _, mac = token.strip().partition(".")
    try:
        payload = _unb64(encoded)
        body = json.loads(payload)
        if not isinstance(body, dict) or body.pop("v", None) != _VERSION:
            raise ValueError("version")
        claims = LinkClaims(**body)
    except (ValueError, TypeError):
        raise LinkError("invalid", "not a review link") from None
    reviewer = review.reviewer(claims.reviewer) if isinstance(claims.reviewer, str) else None
    # The same answer for an unknown reviewer and a wrong signature: no oracle for names.
    if reviewer is None or not hmac.compare_digest(
        mac.encode(), _mac(review.link_key(reviewer), claims.payload()).encode()
    ):
        raise LinkError("invalid", "the link's signature does not match")
    if claims.decision not in ("approve", "reject"):
        raise LinkError("invalid", "not a review link")
    if (time.time() if now is None else now) >= claims.expires:
        raise LinkError("expired", "this link has expired")
    return claims


def links_for(
    review: ReviewSettings, *, run_id: str, repo: str, commit: str, now: float | None = None
) -> dict[str, dict[Decision, str]]:
    """reviewer name -> {"approve": url, "reject": url}, each link signed for that reviewer."""
    ttl = review.link_ttl_s or review.timeout_s
    expires = int((time.time() if now is None else now) + ttl)
    base = review.links_base_url.rstrip("/") + "/reviews/decide?token="
    out: dict[str, dict[Decision, str]] = {}
    for reviewer in review.reviewers:
        out[reviewer.name] = {
            decision: base
            + quote(
                sign(LinkClaims(reviewer.name, run_id, repo, commit, decision, expires), review),
                safe="",
            )
            for decision in ("approve", "reject")
        }
    return out


def link_message(reviewer: Reviewer, links: dict[Decision, str]) -> str:
    """The lines of a notification that carry one reviewer's links."""
    return (
        f"Your links, {reviewer.name} (signed for you alone, single use; each asks you to "
        f"confirm):\n  approve: {links['approve']}\n  reject:  {links['reject']}\n"
    )


# ---- the single use, in the lake --------------------------------------------------------------


def _claim_blob(run_id: str) -> str:
    # Hashed: the run id comes from a token and must not shape a storage path.
    return f"{_CLAIMS}/{hashlib.sha256(run_id.encode()).hexdigest()}.json"


def claim_decision(
    *, lake: Lake, claims: LinkClaims, reviewer: Reviewer, comment: str, token: str
) -> dict[str, Any]:
    """Take the run's one decision for this link (put-if-absent in the lake).

    Raises:
        LinkError: `used` when this or another link of the run was already used.
    """
    record = {
        "run_id": claims.run_id,
        "repo": claims.repo,
        "commit": claims.commit,
        "reviewer": claims.reviewer,
        "identity": f"{reviewer.identity} (signed link)",
        "decision": claims.decision,
        "comment": comment,
        "token_sha256": hashlib.sha256(token.encode()).hexdigest(),
        "claimed_at": time.time(),
    }
    if not lake.create_blob(_claim_blob(claims.run_id), json.dumps(record).encode()):
        raise LinkError("used", "this review was already decided through a link")
    return record


def release_decision(*, lake: Lake, run_id: str, token: str) -> None:
    """Give the run's decision back when the run could not be resumed (so a retry works);
    only the claim this token made is removed."""
    found = find_decision(lake=lake, run_id=run_id)
    if found and found.get("token_sha256") == hashlib.sha256(token.encode()).hexdigest():
        lake.delete_blob(_claim_blob(run_id))


def find_decision(*, lake: Lake, run_id: str) -> dict[str, Any] | None:
    """The decision a link claimed for `run_id`, None when none was."""
    blob = _claim_blob(run_id)
    if not lake.blob_exists(blob):
        return None
    loaded: dict[str, Any] = json.loads(lake.get_blob(blob))
    return loaded


OPERATOR = "operator (Prefect UI/API)"


def decided_by(
    *, lake: Lake, run_id: str, decision: str, typed_name: str
) -> tuple[str, dict[str, Any] | None]:
    """Who made a decision that resumed `run_id`: the verified reviewer when a link claimed
    this very decision, else an operator of the Prefect UI or API (the name typed in the
    form is kept only as what they said, never as an identity)."""
    claim = find_decision(lake=lake, run_id=run_id)
    if claim is not None and claim["decision"] == decision and claim["reviewer"] == typed_name:
        return str(claim["identity"]), claim
    said = f', says "{typed_name[:100]}"' if typed_name else ""
    return f"{OPERATOR[:-1]}{said})", None
