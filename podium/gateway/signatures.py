"""HMAC-SHA256 request signatures of the directory app, the DynamoDB pipe and /hooks/push.

Two schemes are accepted; both are checked in constant time and both are replay-protected by
`ReplayGuard` (a message is handled once within the window: a copy that arrives while the
first is in flight is asked to retry, one that arrives after it completed gets its outcome
again, marked as a duplicate, without anything being recorded twice).

**Standard Webhooks** (preferred, https://www.standardwebhooks.com, signed with the
`standardwebhooks` library): three headers::

    webhook-id: <message id, 1-128 of A-Z a-z 0-9 _ ->
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64 HMAC-SHA256 of f"{id}.{timestamp}." + body>

The HMAC key is the shared secret's UTF-8 bytes (not a `whsec_` base64 key), so one secret
serves both schemes. Several space-separated `v1,` signatures are allowed (key rotation).

**Podium legacy** (kept so existing senders keep working): the signed string is the
timestamp, a dot, then the raw body bytes exactly as sent::

    message   = f"{timestamp}.".encode() + body
    signature = "sha256=" + hmac_sha256(secret, message).hexdigest()

sent as two headers::

    X-Podium-Timestamp: <unix seconds, an integer>
    X-Podium-Signature: sha256=<64 lowercase hex digits>

Signing the timestamp with the body means an old request cannot be replayed with a fresh
timestamp; the gateway refuses timestamps further than the replay window from its clock (in
either direction, so a skewed clock fails loudly instead of widening the window). A legacy
request has no message id: its signature stands in for one (same timestamp and body, same
signature), so an exact replay inside the window is caught too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

from pydantic import SecretStr
from standardwebhooks import Webhook

from podium.replay import Claimed, ReplayStore, Seen

SIGNATURE_HEADER = "X-Podium-Signature"
TIMESTAMP_HEADER = "X-Podium-Timestamp"
_PREFIX = "sha256="
WEBHOOK_ID_HEADER = "webhook-id"
WEBHOOK_TIMESTAMP_HEADER = "webhook-timestamp"
WEBHOOK_SIGNATURE_HEADER = "webhook-signature"
_MESSAGE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_MAX_SIGNATURES = 8


class SignatureError(ValueError):
    """The request's signature is missing, malformed, wrong or stale.

    The message says which, and never contains the secret or the expected signature.
    """


def _secret_bytes(secret: str | SecretStr) -> bytes:
    value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return value.encode()


def signed_message(body: bytes, timestamp: int) -> bytes:
    """The exact bytes that are signed: `b"<timestamp>." + body`."""
    return f"{int(timestamp)}.".encode() + body


def sign(body: bytes, secret: str | SecretStr, timestamp: int) -> str:
    """The `X-Podium-Signature` value for `body` sent at `timestamp`.

    Args:
        body: the raw request body, byte for byte as it will be sent.
        secret: the shared secret (`settings.gateway.secret`).
        timestamp: unix seconds, the value of the `X-Podium-Timestamp` header.

    Returns:
        "sha256=<hex>".
    """
    digest = hmac.new(_secret_bytes(secret), signed_message(body, timestamp), hashlib.sha256)
    return _PREFIX + digest.hexdigest()


def signed_headers(
    body: bytes, secret: str | SecretStr, *, timestamp: int | None = None
) -> dict[str, str]:
    """Headers a client sends with `body`: content type, timestamp and signature.

    Args:
        body: the raw request body.
        secret: the shared secret.
        timestamp: unix seconds; now when None.
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: sign(body, secret, ts),
    }


def verify(
    *,
    body: bytes,
    secret: str | SecretStr,
    signature: str | None,
    timestamp: str | None,
    window_s: int,
    now: float | None = None,
) -> None:
    """Check a request's signature and timestamp; raise `SignatureError` when either fails.

    Args:
        body: the raw request body as received.
        secret: the shared secret.
        signature: the `X-Podium-Signature` header, None when absent.
        timestamp: the `X-Podium-Timestamp` header, None when absent.
        window_s: largest accepted distance between the timestamp and `now`, seconds.
        now: the current unix time; `time.time()` when None.
    """
    if not signature:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    if not timestamp:
        raise SignatureError(f"missing {TIMESTAMP_HEADER} header")
    ts = _check_timestamp(TIMESTAMP_HEADER, timestamp, window_s=window_s, now=now)
    given = signature.strip()
    if not given.startswith(_PREFIX):
        raise SignatureError(f"{SIGNATURE_HEADER} must look like sha256=<hex>")
    expected = sign(body, secret, ts)
    # Constant-time over the whole header value: timing reveals nothing about the digest.
    if not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise SignatureError("signature does not match the body")


# ---- Standard Webhooks ---------------------------------------------------------------------


def _webhook(secret: str | SecretStr) -> Webhook:
    return Webhook(_secret_bytes(secret))


def standard_headers(
    body: bytes,
    secret: str | SecretStr,
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers (plus the JSON content type) for `body`.

    Args:
        body: the raw request body (UTF-8 JSON).
        secret: the shared secret.
        msg_id: the message id; a fresh random one when None. A retry of the same message
            must reuse it (it is then answered as a duplicate once the first one completed,
            and accepted if the first failed).
        timestamp: unix seconds; now when None.
    """
    ts = int(time.time()) if timestamp is None else int(timestamp)
    message = msg_id or "msg_" + secrets.token_urlsafe(18)
    signature = _webhook(secret).sign(
        msg_id=message, timestamp=datetime.fromtimestamp(ts, UTC), data=body.decode("utf-8")
    )
    return {
        "Content-Type": "application/json",
        WEBHOOK_ID_HEADER: message,
        WEBHOOK_TIMESTAMP_HEADER: str(ts),
        WEBHOOK_SIGNATURE_HEADER: signature,
    }


# Unix seconds have 10 digits until the year 2286; 12 leave room and keep `int()` cheap and
# inside Python's digit limit (a 5,000-digit header used to raise ValueError: a 500).
MAX_TIMESTAMP_DIGITS = 12


def _check_timestamp(header: str, value: str, *, window_s: int, now: float | None) -> int:
    """The header's unix seconds; `SignatureError` (a 401) for anything else, never a crash."""
    stripped = value.strip()
    if not stripped.isascii() or not stripped.isdigit():
        raise SignatureError(f"{header} must be unix seconds (an integer)")
    if len(stripped) > MAX_TIMESTAMP_DIGITS:
        raise SignatureError(
            f"{header} has {len(stripped)} digits; unix seconds have at most {MAX_TIMESTAMP_DIGITS}"
        )
    ts = int(stripped)
    current = time.time() if now is None else now
    if abs(current - ts) > window_s:
        raise SignatureError(f"{header} is outside the {window_s}s replay window")
    return ts


def _verify_standard(
    *,
    body: bytes,
    secret: str | SecretStr,
    headers: Mapping[str, str],
    window_s: int,
    now: float | None,
) -> tuple[str, int]:
    msg_id = headers.get(WEBHOOK_ID_HEADER) or ""
    signatures = headers.get(WEBHOOK_SIGNATURE_HEADER)
    timestamp = headers.get(WEBHOOK_TIMESTAMP_HEADER)
    if not signatures:
        raise SignatureError(f"missing {WEBHOOK_SIGNATURE_HEADER} header")
    if not timestamp:
        raise SignatureError(f"missing {WEBHOOK_TIMESTAMP_HEADER} header")
    if not _MESSAGE_ID.fullmatch(msg_id):
        raise SignatureError(f"{WEBHOOK_ID_HEADER} must be 1-128 characters of A-Z a-z 0-9 _ -")
    ts = _check_timestamp(WEBHOOK_TIMESTAMP_HEADER, timestamp, window_s=window_s, now=now)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise SignatureError("body is not UTF-8, so it cannot carry a valid signature") from None
    expected = base64.b64decode(
        _webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, UTC), text).split(",", 1)[1]
    )
    matched = False
    for item in signatures.split(" ")[:_MAX_SIGNATURES]:
        version, _, encoded = item.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        # Every candidate is compared (no early exit) so timing says nothing about which.
        matched |= hmac.compare_digest(given, expected)
    if not matched:
        raise SignatureError("no webhook-signature matches the body")
    return msg_id, ts


def verify_request(
    *,
    body: bytes,
    secret: str | SecretStr,
    headers: Mapping[str, str],
    window_s: int,
    now: float | None = None,
) -> Verified:
    """Verify either scheme (Standard Webhooks when `webhook-signature` is present).

    Args:
        body: the raw request body as received.
        secret: the shared secret of this route.
        headers: the request headers (case-insensitive mapping, e.g. Starlette's).
        window_s: largest accepted distance between the timestamp and `now`, seconds.
        now: the current unix time; `time.time()` when None.

    Returns:
        The message id to remember for replay protection and the signed timestamp.

    Raises:
        SignatureError: missing, malformed, wrong or stale; the message never holds the secret.
    """
    if headers.get(WEBHOOK_SIGNATURE_HEADER) is not None:
        msg_id, ts = _verify_standard(
            body=body, secret=secret, headers=headers, window_s=window_s, now=now
        )
        return Verified(message_id=f"id:{msg_id}", timestamp=ts, digest=_digest(body))
    signature = headers.get(SIGNATURE_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    verify(
        body=body,
        secret=secret,
        signature=signature,
        timestamp=timestamp,
        window_s=window_s,
        now=now,
    )
    assert signature is not None and timestamp is not None  # verify() checked both
    ts = _check_timestamp(TIMESTAMP_HEADER, timestamp, window_s=window_s, now=now)
    return Verified(
        message_id="sig:" + signature.strip().lower(), timestamp=ts, digest=_digest(body)
    )


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Verified:
    """What a verified request is remembered by."""

    message_id: str
    timestamp: int
    digest: str = ""  # SHA-256 of the signed body: a reused id with another body is refused


class Claim(Enum):
    """What `ReplayGuard.claim` found for a message id."""

    FIRST = "first"  # not seen inside the window: this request handles the message
    IN_FLIGHT = "in_flight"  # another request with this id and body is being handled now
    DONE = "done"  # a request with this id and body completed (its outcome is kept)
    REUSED = "reused"  # the id belongs to a message with another body: refused

    def __bool__(self) -> bool:
        return self is Claim.FIRST


class ReplayGuard:
    """Message ids seen inside the replay window and what became of them, in a `ReplayStore`
    shared by every replica and kept across restarts (podium/replay.py).

    An id is first *in flight* (`claim` returned `Claim.FIRST`); its request then either
    `complete`s it, keeping a small outcome (the answer a retry of a completed message gets:
    the gateway answers it 2xx `duplicate` without recording anything again), or `release`s it
    when it recorded nothing (503, refused body), so the sender's retry with the same id is
    accepted. A copy that arrives while the id is in flight gets `Claim.IN_FLIGHT` (the caller
    answers 409 with Retry-After: the first may still fail and release the id). A message
    that reuses an id with a different body gets `Claim.REUSED` (409, never recorded).

    `claim` is atomic across replicas: of concurrent requests with one id, exactly one gets
    `Claim.FIRST`. An in-flight claim lasts `lease_s`; a replica that died holding one lets
    the sender's retry take it over after that. Outcomes are kept only up to
    `max_outcome_bytes` each (larger ones are dropped and the retry gets a bare `duplicate`).
    """

    def __init__(
        self,
        store: ReplayStore,
        *,
        window_s: int,
        lease_s: float = 120.0,
        max_outcome_bytes: int = 4096,
    ) -> None:
        self.store = store
        self.window_s = window_s
        self.lease_s = lease_s
        self.max_outcome_bytes = max_outcome_bytes
        # This process's own open claims (key -> handle), to settle them; not shared state:
        # what other replicas see is in the store.
        self._handles: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(scope: str, verified: Verified) -> str:
        return f"{scope}\x00{verified.message_id}"

    def admit(self, scope: str, verified: Verified, *, now: float | None = None) -> Claimed:
        """The store's verdict on (`scope`, message id) for this body, with the kept answer
        of a completed one."""
        key = self._key(scope, verified)
        current = time.time() if now is None else now
        # A message is replayable until its timestamp is window_s in the past.
        claimed = self.store.claim(
            key,
            digest=verified.digest,
            expires_at=verified.timestamp + self.window_s + 1,
            lease_s=self.lease_s,
            now=current,
        )
        if claimed.seen is Seen.FIRST:
            with self._lock:
                self._handles[(key, verified.digest)] = claimed.handle
        return claimed

    def claim(self, scope: str, verified: Verified, *, now: float | None = None) -> Claim:
        """`Claim.FIRST` (truthy) the first time (`scope`, message id) is seen inside the
        window; `Claim.IN_FLIGHT`, `Claim.DONE` or `Claim.REUSED` (falsy) after that."""
        return Claim(self.admit(scope, verified, now=now).seen.value)

    def _handle(self, scope: str, verified: Verified) -> tuple[str, str | None]:
        key = self._key(scope, verified)
        with self._lock:
            return key, self._handles.pop((key, verified.digest), None)

    def complete(self, scope: str, verified: Verified, outcome: bytes | None = None) -> None:
        """Mark a claimed id handled; later copies get `Claim.DONE` and this outcome."""
        key, handle = self._handle(scope, verified)
        if handle is not None:
            keep = outcome is not None and len(outcome) <= self.max_outcome_bytes
            self.store.complete(key, handle, outcome if keep else None)

    def release(self, scope: str, verified: Verified) -> None:
        """Forget a claimed id whose request recorded nothing (its retry must be accepted)."""
        key, handle = self._handle(scope, verified)
        if handle is not None:
            self.store.release(key, handle)


class DeliveryClaims:
    """Deliveries being handled right now, so two concurrent copies of one git delivery never
    both pass the lake's "already received" check (which is a read, then a later write).

    Only in-flight deliveries are held (the caller answers a concurrent copy 409 with
    Retry-After); a completed delivery is remembered by its marker in the lake, and its retry
    is answered 200 `ignored` ("delivery already received")."""

    def __init__(self) -> None:
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def claim(self, key: str) -> bool:
        """True when no other request holds `key`; the caller must `release` it after."""
        with self._lock:
            if key in self._held:
                return False
            self._held.add(key)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._held.discard(key)
