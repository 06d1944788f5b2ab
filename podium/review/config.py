"""Settings of git push reviews (a section of `podium.settings.Settings`).

Environment examples: `PODIUM_REVIEW__REPOS='[{"name": "api", "url": "https://github.com/o/api.git",
"aliases": ["o/api"]}]'`, `PODIUM_REVIEW__SUMMARY_BACKEND=bedrock`,
`PODIUM_REVIEW__GITHUB_WEBHOOK_SECRET=...`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.types import PositiveFloat, PositiveInt

# The embedded default's key of /hooks/push; refused in production like the gateway's.
PLACEHOLDER_PUSH_SECRET = "podium-local-push-secret"

DEFAULT_IGNORE_PATTERNS = [
    "vendor/**",
    "third_party/**",
    "node_modules/**",
    "dist/**",
    "*.min.js",
    "*.min.css",
    "*_pb2.py",
    "*_pb2_grpc.py",
    "*.pb.go",
    "*.generated.*",
    "*.map",
]


class WatchedRepo(BaseModel):
    """One repository whose pushes are reviewed."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    """Short name; events use the resource id podium.repo.<name>."""
    url: str
    """Where to clone from: https://, ssh://, git@host:path, file:// or a local path."""
    default_branch: str | None = None
    """Branch a new branch is compared against; None asks the remote's HEAD."""
    aliases: list[str] = Field(default_factory=list)
    """Other names webhooks use for it: GitHub full_name, GitLab path_with_namespace, other clone
    or web URLs."""

    def names(self) -> set[str]:
        """Every string a webhook may identify this repository by, normalised."""
        return {normalise_repo_name(n) for n in [self.name, self.url, *self.aliases]}


def normalise_repo_name(value: str) -> str:
    """Lower-case, without a trailing slash or `.git`, so URL spellings compare equal."""
    value = value.strip().rstrip("/").lower()
    return value[: -len(".git")] if value.endswith(".git") else value


class Reviewer(BaseModel):
    """A person who may approve or reject reviews through signed links."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")]
    """Short name, recorded with each decision this reviewer signs."""
    email: Annotated[str, Field(max_length=254)] = ""
    """Where the reviewer's links are sent (ses, smtp)."""
    secret: SecretStr | None = None
    """This reviewer's own link-signing key; None uses review.link_signing_key."""

    @property
    def identity(self) -> str:
        """How a decision records this reviewer: name, with the address when known."""
        return f"{self.name} <{self.email}>" if self.email else self.name


class ReviewSettings(BaseModel):
    """How pushes are reviewed: where repositories come from, how changes are summarised,
    who is told and how long a review may wait."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    repos: list[WatchedRepo] = Field(default_factory=list)
    """Watched repositories; pushes to others are ignored."""
    cache_dir: Path | None = None
    """Folder of cached clones; None means <home>/git-cache."""
    git_username: str = "x-access-token"
    """User name sent with git_token over HTTPS (GitHub accepts x-access-token)."""
    git_token: SecretStr | None = None
    """Token for cloning private repositories over HTTPS; sent as a header through git's
    environment, never on the command line or in logs."""
    git_timeout_s: PositiveFloat = 300
    """Longest a clone or fetch may take, seconds."""

    github_webhook_secret: SecretStr | None = None
    """Secret of GitHub webhooks (X-Hub-Signature-256); None disables /hooks/github."""
    gitlab_token: SecretStr | None = None
    """Secret token of GitLab webhooks (X-Gitlab-Token); None disables /hooks/gitlab."""
    push_secret: SecretStr | None = SecretStr(PLACEHOLDER_PUSH_SECRET)
    """HMAC-SHA256 secret of the generic /hooks/push body, its own key (never the directory
    app's); None disables /hooks/push. Required in production."""

    summary_backend: Literal["structural", "bedrock", "openai"] = "structural"
    """`structural` needs no model; `bedrock` uses the Converse API through boto3; `openai` any
    OpenAI-compatible /chat/completions endpoint."""
    model_id: str = ""
    """Model id: a Bedrock model or inference profile id, or the OpenAI-compatible server's model
    name. Required for the bedrock and openai backends."""
    endpoint_url: str | None = None
    """Bedrock runtime endpoint override, or the OpenAI-compatible base URL (…/v1). Required for
    openai."""
    api_key: SecretStr | None = None
    """Bearer key of the OpenAI-compatible endpoint."""
    bedrock_guardrail_id: str | None = None
    """Bedrock guardrail applied to review prompts (its id); None applies none. An intervention
    makes the review fall back to the structural summary."""
    bedrock_guardrail_version: str = "DRAFT"
    """Version of the Bedrock guardrail."""
    aws_region: str = "us-east-1"
    """Region of Bedrock and SES."""
    aws_access_key_id: SecretStr | None = None
    """AWS key for Bedrock and SES; None uses the default chain."""
    aws_secret_access_key: SecretStr | None = None
    """Secret matching aws_access_key_id."""
    token_budget: Annotated[int, Field(gt=500)] = 12_000
    """Approximate tokens of diff a model is shown."""
    max_output_tokens: PositiveInt = 1024
    """Most tokens a model may answer with."""
    llm_timeout_s: PositiveFloat = 120
    """Longest a model call may take."""
    ignore_patterns: list[str] = Field(default_factory=lambda: list(DEFAULT_IGNORE_PATTERNS))
    """Glob patterns of generated and vendored files kept out of model prompts (they are still
    listed in the summary)."""
    scanners: bool = True
    """Run checkov, cfn-lint and bandit on the changed files before and after a push and report
    the findings it introduced or fixed (their virtualenv comes from scripts/scanners.sh; when it
    is absent the summary says so)."""
    scanner_venv: Path | None = None
    """The scanners' virtualenv; None means .venv-scanners at the project root."""
    scanner_timeout_s: PositiveFloat = 60
    """Longest any one scanner may run on a push, seconds."""
    scanner_server: bool = True
    """Run the scanners in one long-lived process per host (imports paid once, each scan a fork
    of it), started by the first push that needs it; false runs each scanner one-shot. A server
    that is missing or dies falls back to one-shot runs."""
    scanner_server_idle_s: PositiveFloat = 900
    """The long-lived scanner process exits after this many seconds without a scan."""
    large_change_lines: PositiveInt = 1500
    """Changed lines above which a push is flagged as very large."""

    notifier: Literal["none", "ses", "slack", "smtp"] = "none"
    """How the reviewer is told a review is waiting."""
    notify_to: list[str] = Field(default_factory=list)
    """Reviewer e-mail addresses (ses, smtp)."""
    notify_from: str = ""
    """Sender address (ses, smtp)."""
    ses_endpoint_url: str | None = None
    """SES endpoint override (a local or moto server); None for AWS."""
    slack_webhook_url: SecretStr | None = None
    """Slack-compatible incoming webhook URL (it is a secret)."""
    smtp_host: str = "localhost"
    """SMTP server host."""
    smtp_port: int = 587
    """SMTP server port."""
    smtp_username: str | None = None
    """SMTP login; None skips login."""
    smtp_password: SecretStr | None = None
    """SMTP password."""
    smtp_starttls: bool = True
    """Upgrade the SMTP session with STARTTLS."""
    notify_timeout_s: PositiveFloat = 30
    """Longest a notification may take."""

    reviewers: list[Reviewer] = Field(default_factory=list)
    """Named reviewers: each gets signed, expiring, single-use approve and reject links in the
    notification, verified by the gateway (docs/security.md). Empty: decisions are made in the
    Prefect UI only, recorded as an operator's."""
    link_signing_key: SecretStr | None = None
    """Key that signs the links of reviewers without a secret of their own."""
    link_ttl_s: Annotated[int | None, Field(gt=0)] = None
    """Seconds a signed link stays valid; None: as long as the review waits (timeout_s)."""
    links_base_url: str = "http://127.0.0.1:8787"
    """The gateway's address as reviewers reach it; links point to
    <links_base_url>/reviews/decide."""
    suspend: Literal["auto", "never"] = "auto"
    """`auto` suspends a waiting review (its process exits; the run is resumed by its worker)
    when it runs from a deployment in a process work pool; otherwise, and with `never`, it pauses
    in its process."""

    timeout_s: PositiveInt = 3600
    """How long a review waits for a decision before it is recorded as expired."""
    poll_interval_s: PositiveInt = 10
    """How often a paused review checks for a decision, seconds."""

    @model_validator(mode="after")
    def _backend_complete(self) -> ReviewSettings:
        if self.summary_backend != "structural" and not self.model_id:
            raise ValueError(f"review.summary_backend={self.summary_backend} needs review.model_id")
        if self.summary_backend == "openai" and not self.endpoint_url:
            raise ValueError("review.summary_backend=openai needs review.endpoint_url")
        if self.notifier in ("ses", "smtp") and not (self.notify_to and self.notify_from):
            raise ValueError(f"review.notifier={self.notifier} needs notify_to and notify_from")
        if self.notifier == "slack" and self.slack_webhook_url is None:
            raise ValueError("review.notifier=slack needs review.slack_webhook_url")
        names = [r.name for r in self.repos]
        if len(names) != len(set(names)):
            raise ValueError("review.repos has duplicate names")
        people = [r.name for r in self.reviewers]
        if len(people) != len(set(people)):
            raise ValueError("review.reviewers has duplicate names")
        unsigned = [r.name for r in self.reviewers if r.secret is None]
        if unsigned and self.link_signing_key is None:
            raise ValueError(
                f"review.reviewers {', '.join(unsigned)} have no secret and "
                "review.link_signing_key is unset"
            )
        return self

    def reviewer(self, name: str) -> Reviewer | None:
        """The named reviewer, None when there is no such reviewer."""
        return next((r for r in self.reviewers if r.name == name), None)

    def link_key(self, reviewer: Reviewer) -> bytes:
        """The key that signs `reviewer`'s links."""
        key = reviewer.secret or self.link_signing_key
        assert key is not None  # the validator requires one
        return key.get_secret_value().encode()

    def repo(self, name: str) -> WatchedRepo:
        """The watched repository called `name`; KeyError when it is not watched."""
        for repo in self.repos:
            if repo.name == name:
                return repo
        raise KeyError(f"repository {name!r} is not watched")

    def find_repo(self, candidates: list[str]) -> WatchedRepo | None:
        """The watched repository any of `candidates` (names, URLs) identifies, if any."""
        wanted = {normalise_repo_name(c) for c in candidates if c}
        for repo in self.repos:
            if repo.names() & wanted:
                return repo
        return None

    def boto3_kwargs(self, *, endpoint_url: str | None) -> dict[str, Any]:
        """Keyword arguments for a boto3 client (Bedrock, SES): region, endpoint, keys.

        Without explicit keys boto3's default credential chain applies.
        """
        kwargs: dict[str, Any] = {"region_name": self.aws_region}
        if endpoint_url:
            kwargs["endpoint_url"] = endpoint_url
        if self.aws_access_key_id and self.aws_secret_access_key:
            kwargs["aws_access_key_id"] = self.aws_access_key_id.get_secret_value()
            kwargs["aws_secret_access_key"] = self.aws_secret_access_key.get_secret_value()
        return kwargs

    def cache_path(self, home: Path) -> Path:
        """Folder of cached clones."""
        return self.cache_dir or (home / "git-cache")
