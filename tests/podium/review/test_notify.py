"""Notifiers. Real: httpx to a local HTTP server (the Slack-compatible webhook), smtplib to a
minimal local SMTP server in a thread, boto3's SES client to a moto server over HTTP. Faked: the
receivers (they record what arrived)."""

from __future__ import annotations

import base64
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from podium.review.config import ReviewSettings
from podium.review.notify import (
    NotifyError,
    SesNotifier,
    SlackNotifier,
    notifier_from_settings,
    review_message,
)
from tests.podium.review.httpfakes import http_server
from tests.prefect_server import free_port

SUBJECT, BODY = review_message(
    repo="app",
    branch="main",
    after="a" * 40,
    summary="## Review\n- `x.py` modified",
    link="http://ui/runs/flow-run/123",
)


def test_review_message_carries_summary_and_link() -> None:
    assert SUBJECT == "[podium] review waiting: app main @ aaaaaaaaaa"
    assert "http://ui/runs/flow-run/123" in BODY and "`x.py` modified" in BODY


def test_slack_webhook() -> None:
    with http_server(lambda *a: (200, {"ok": True})) as server:
        url = f"{server.url}/services/T000/B000/secretpart"
        notifier = notifier_from_settings(ReviewSettings(notifier="slack", slack_webhook_url=url))
        assert isinstance(notifier, SlackNotifier) and "secretpart" not in repr(notifier)
        notifier.send(subject=SUBJECT, body=BODY)
    sent = server.requests[0].json()["text"]
    assert sent.startswith(f"*{SUBJECT}*") and "http://ui/runs/flow-run/123" in sent
    with http_server(lambda *a: (500, {})) as down:
        with pytest.raises(NotifyError) as caught:
            SlackNotifier(f"{down.url}/services/secretpart").send(subject="s", body="b")
    assert "HTTP 500" in str(caught.value) and "secretpart" not in str(caught.value)


@contextmanager
def smtp_server() -> Iterator[tuple[int, list[dict]]]:
    received: list[dict] = []

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            mail: dict = {"rcpt": [], "auth": None}
            self.wfile.write(b"220 fake ESMTP\r\n")
            while line := self.rfile.readline():
                command = line.decode().strip()
                verb = command.split(" ", 1)[0].upper()
                if verb == "EHLO":
                    self.wfile.write(b"250-fake\r\n250 AUTH PLAIN\r\n")
                elif verb == "AUTH":
                    mail["auth"] = base64.b64decode(command.split()[2]).split(b"\0")
                    self.wfile.write(b"235 ok\r\n")
                elif verb == "MAIL":
                    mail["from"] = command
                    self.wfile.write(b"250 ok\r\n")
                elif verb == "RCPT":
                    mail["rcpt"].append(command)
                    self.wfile.write(b"250 ok\r\n")
                elif verb == "DATA":
                    self.wfile.write(b"354 go\r\n")
                    data = b""
                    while not data.endswith(b"\r\n.\r\n"):
                        data += self.rfile.readline()
                    mail["data"] = data.decode()
                    received.append(mail)
                    self.wfile.write(b"250 queued\r\n")
                elif verb == "QUIT":
                    self.wfile.write(b"221 bye\r\n")
                    return
                else:
                    self.wfile.write(b"250 ok\r\n")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], received
    finally:
        server.shutdown()
        server.server_close()


def test_smtp() -> None:
    with smtp_server() as (port, received):
        review = ReviewSettings(
            notifier="smtp",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_username="podium",
            smtp_password="smtp-pass",
            smtp_starttls=False,
            notify_from="podium@example.org",
            notify_to=["lead@example.org"],
        )
        notifier = notifier_from_settings(review)
        assert notifier is not None
        notifier.send(subject=SUBJECT, body=BODY)
    mail = received[0]
    assert mail["auth"][1:] == [b"podium", b"smtp-pass"]
    assert "lead@example.org" in mail["rcpt"][0]
    assert f"Subject: {SUBJECT}" in mail["data"] and "http://ui/runs/flow-run/123" in mail["data"]
    closed = review.model_copy(update={"smtp_port": free_port()})
    with pytest.raises(NotifyError) as caught:
        notifier_from_settings(closed).send(subject="s", body="b")  # type: ignore[union-attr]
    assert "smtp-pass" not in str(caught.value)


def test_ses_through_a_moto_server() -> None:
    import boto3
    from moto.server import ThreadedMotoServer
    from moto.ses.models import ses_backends

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        review = ReviewSettings(
            notifier="ses",
            ses_endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            notify_from="podium@example.org",
            notify_to=["lead@example.org"],
        )
        boto3.client(
            "ses",
            region_name="us-east-1",
            endpoint_url=review.ses_endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).verify_email_identity(EmailAddress="podium@example.org")
        notifier = notifier_from_settings(review)
        assert isinstance(notifier, SesNotifier)
        notifier.send(subject=SUBJECT, body=BODY)
        sent = ses_backends["123456789012"]["us-east-1"].sent_messages
        assert sent[-1].subject == SUBJECT and "flow-run/123" in sent[-1].body
        assert sent[-1].destinations["ToAddresses"] == ["lead@example.org"]
        unverified = review.model_copy(update={"notify_from": "nobody@example.org"})
        with pytest.raises(NotifyError, match="SES send_email failed: MessageRejected"):
            notifier_from_settings(unverified).send(subject="s", body="b")  # type: ignore[union-attr]
    finally:
        server.stop()
