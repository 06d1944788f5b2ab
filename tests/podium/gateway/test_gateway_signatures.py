"""podium.gateway.signatures: pure functions, nothing faked; `now` is passed in, not patched."""

import hashlib
import hmac

import pytest
from pydantic import SecretStr

from podium.gateway.signatures import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureError,
    sign,
    signed_headers,
    signed_message,
    verify,
)

BODY = b'{"talk_id": "t-1", "title": "Hello"}'
SECRET = "s3cret-for-tests"
NOW = 1_800_000_000


def _verify(signature: str | None, timestamp: str | None, *, body: bytes = BODY, now: float = NOW):
    verify(
        body=body, secret=SECRET, signature=signature, timestamp=timestamp, window_s=300, now=now
    )


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signed_message(BODY, NOW) == f"{NOW}.".encode() + BODY
    assert sign(BODY, SECRET, NOW) == "sha256=" + expected
    assert sign(BODY, SecretStr(SECRET), NOW) == sign(BODY, SECRET, NOW)


def test_signed_headers_verify() -> None:
    headers = signed_headers(BODY, SECRET, timestamp=NOW)
    assert headers["Content-Type"] == "application/json"
    _verify(headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER])


def test_signed_headers_default_to_now() -> None:
    headers = signed_headers(BODY, SECRET)
    verify(
        body=BODY,
        secret=SECRET,
        signature=headers[SIGNATURE_HEADER],
        timestamp=headers[TIMESTAMP_HEADER],
        window_s=5,
    )


def test_uppercase_hex_is_accepted() -> None:
    _verify("sha256=" + sign(BODY, SECRET, NOW).removeprefix("sha256=").upper(), str(NOW))


@pytest.mark.parametrize(
    ("signature", "timestamp", "body", "message"),
    [
        (None, str(NOW), BODY, "missing X-Podium-Signature"),
        ("", str(NOW), BODY, "missing X-Podium-Signature"),
        (sign(BODY, SECRET, NOW), None, BODY, "missing X-Podium-Timestamp"),
        (sign(BODY, SECRET, NOW), "yesterday", BODY, "unix seconds"),
        (sign(BODY, SECRET, NOW), "-5", BODY, "unix seconds"),
        (sign(BODY, SECRET, NOW), "١٢٣", BODY, "unix seconds"),  # non-ASCII digits
        (sign(BODY, SECRET, NOW).removeprefix("sha256="), str(NOW), BODY, "sha256=<hex>"),
        (sign(BODY, "other-secret", NOW), str(NOW), BODY, "does not match"),
        (sign(BODY, SECRET, NOW), str(NOW), BODY + b" ", "does not match"),
        (sign(BODY, SECRET, NOW - 1), str(NOW), BODY, "does not match"),  # timestamp swapped
        ("sha256=" + "0" * 64, str(NOW), BODY, "does not match"),
    ],
)
def test_bad_signatures_are_refused(
    signature: str | None, timestamp: str | None, body: bytes, message: str
) -> None:
    with pytest.raises(SignatureError, match=message):
        _verify(signature, timestamp, body=body)


@pytest.mark.parametrize("offset", [-301, 301, -86_400])
def test_timestamps_outside_the_window_are_refused(offset: int) -> None:
    ts = NOW + offset
    with pytest.raises(SignatureError, match="replay window"):
        _verify(sign(BODY, SECRET, ts), str(ts))


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_inside_the_window_pass(offset: int) -> None:
    ts = NOW + offset
    _verify(sign(BODY, SECRET, ts), str(ts))


def test_errors_never_contain_the_secret_or_the_expected_digest() -> None:
    expected = sign(BODY, SECRET, NOW)
    with pytest.raises(SignatureError) as caught:
        _verify("sha256=" + "f" * 64, str(NOW))
    assert SECRET not in str(caught.value)
    assert expected.removeprefix("sha256=") not in str(caught.value)
