"""HMAC-SHA256 request signatures of the directory app and the DynamoDB pipe.

The signed string is the timestamp, a dot, then the raw body bytes exactly as sent::

    message   = f"{timestamp}.".encode() + body
    signature = "sha256=" + hmac_sha256(secret, message).hexdigest()

sent as two headers::

    X-Podium-Timestamp: <unix seconds, an integer>
    X-Podium-Signature: sha256=<64 lowercase hex digits>

Signing the timestamp with the body means an old request cannot be replayed with a fresh
timestamp; the gateway refuses timestamps further than the replay window from its clock (in
either direction, so a skewed clock fails loudly instead of widening the window).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from pydantic import SecretStr

SIGNATURE_HEADER = "X-Podium-Signature"
TIMESTAMP_HEADER = "X-Podium-Timestamp"
_PREFIX = "sha256="


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
    stripped = timestamp.strip()
    if not stripped.isascii() or not stripped.isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds (an integer)")
    ts = int(stripped)
    current = time.time() if now is None else now
    if abs(current - ts) > window_s:
        raise SignatureError(f"{TIMESTAMP_HEADER} is outside the {window_s}s replay window")
    given = signature.strip()
    if not given.startswith(_PREFIX):
        raise SignatureError(f"{SIGNATURE_HEADER} must look like sha256=<hex>")
    expected = sign(body, secret, ts)
    # Constant-time over the whole header value: timing reveals nothing about the digest.
    if not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise SignatureError("signature does not match the body")
