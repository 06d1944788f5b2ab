"""Telling the reviewer a review is waiting: Amazon SES, a Slack-compatible incoming webhook,
or SMTP. Each is built from settings; errors never carry credentials or the webhook URL."""

from __future__ import annotations

import smtplib
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from podium.review.config import ReviewSettings


class NotifyError(RuntimeError):
    """A notification could not be delivered."""


class Notifier(Protocol):
    name: str

    def send(self, *, subject: str, body: str, to: list[str] | None = None) -> None:
        """Deliver one message; `to` replaces the configured recipients (e-mail notifiers)."""
        ...


def review_message(
    *, repo: str, branch: str, after: str, summary: str, link: str
) -> tuple[str, str]:
    """Subject and body of the "review waiting" message."""
    subject = f"[podium] review waiting: {repo} {branch} @ {after[:10]}"
    body = (
        f"A push to {repo} ({branch}) is waiting for your decision.\n"
        f"Approve or reject it here: {link}\n\n{summary}"
    )
    return subject, body


@dataclass
class SesNotifier:
    client: Any = field(repr=False)
    sender: str
    recipients: list[str]
    name: str = "ses"

    @classmethod
    def from_settings(cls, review: ReviewSettings) -> SesNotifier:
        import boto3

        kwargs = review.boto3_kwargs(endpoint_url=review.ses_endpoint_url)
        return cls(boto3.client("ses", **kwargs), review.notify_from, list(review.notify_to))

    def send(self, *, subject: str, body: str, to: list[str] | None = None) -> None:
        try:
            self.client.send_email(
                Source=self.sender,
                Destination={"ToAddresses": to or self.recipients},
                Message={
                    "Subject": {"Data": subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": body, "Charset": "UTF-8"}},
                },
            )
        except Exception as error:  # botocore's many error types all mean "not sent"
            raise NotifyError(f"SES send_email failed: {type(error).__name__}: {error}") from None


@dataclass
class SlackNotifier:
    url: str = field(repr=False)
    timeout_s: float = 30
    name: str = "slack"

    def send(self, *, subject: str, body: str, to: list[str] | None = None) -> None:
        # One channel: `to` cannot narrow who reads it (see docs/security.md).
        try:
            response = httpx.post(
                self.url, json={"text": f"*{subject}*\n{body}"}, timeout=self.timeout_s
            )
        except httpx.HTTPError as error:
            # The URL is the credential: name the error type only.
            raise NotifyError(f"Slack webhook unreachable: {type(error).__name__}") from None
        if response.status_code >= 300:
            raise NotifyError(f"Slack webhook answered HTTP {response.status_code}")


@dataclass
class SmtpNotifier:
    host: str
    port: int
    sender: str
    recipients: list[str]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout_s: float = 30
    name: str = "smtp"

    def send(self, *, subject: str, body: str, to: list[str] | None = None) -> None:
        message = EmailMessage()
        message["Subject"] = subject
        message["From"] = self.sender
        message["To"] = ", ".join(to or self.recipients)
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username and self.password:
                    smtp.login(self.username, self.password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            raise NotifyError(f"SMTP delivery failed: {type(error).__name__}") from None


def notifier_from_settings(review: ReviewSettings) -> Notifier | None:
    """The configured notifier; None when notifications are off."""
    if review.notifier == "ses":
        return SesNotifier.from_settings(review)
    if review.notifier == "slack":
        assert review.slack_webhook_url is not None  # the settings validator requires it
        return SlackNotifier(review.slack_webhook_url.get_secret_value(), review.notify_timeout_s)
    if review.notifier == "smtp":
        return SmtpNotifier(
            host=review.smtp_host,
            port=review.smtp_port,
            sender=review.notify_from,
            recipients=list(review.notify_to),
            username=review.smtp_username,
            password=review.smtp_password.get_secret_value() if review.smtp_password else None,
            starttls=review.smtp_starttls,
            timeout_s=review.notify_timeout_s,
        )
    return None
