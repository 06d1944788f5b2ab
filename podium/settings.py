"""The one settings object. Built on demand by `get_settings()`, never at import time.

Environment variables use the `PODIUM_` prefix and `__` for nesting, e.g.
`PODIUM_LAKE__URL=s3://bucket/podium` or `PODIUM_GATEWAY__SECRET=...`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic.types import NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from podium.dynamodb.config import DynamoDBSettings
from podium.exports.config import ExportSettings
from podium.images.config import ImageSettings
from podium.ops_config import OpsSettings
from podium.pretalx.config import PretalxSettings
from podium.recommend.config import RecommendSettings
from podium.review.config import PLACEHOLDER_PUSH_SECRET, ReviewSettings
from podium.settings_env import check_environment
from podium.tagging.config import TaggingSettings

# Secrets that ship with the embedded default; refused anywhere else.
PLACEHOLDER_SECRET = "podium-local-dev-secret"


class LakeSettings(BaseModel):
    """Where tables and blobs live."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    url: str = ""
    """Base URL of the lake: a local folder, file://..., or s3://bucket/prefix. Empty means
    <home>/lake."""
    s3_endpoint_url: str | None = None
    """Custom S3 endpoint (MinIO, moto); None for AWS."""
    s3_region: str = "us-east-1"
    """AWS region of the bucket."""
    s3_access_key_id: SecretStr | None = None
    """Access key; None uses the default AWS credential chain."""
    s3_secret_access_key: SecretStr | None = None
    """Secret key matching s3_access_key_id."""
    s3_allow_unsafe_rename: bool = False
    """Let Delta commit on S3 without any mutual exclusion: only safe with a single writer
    process; concurrent writers can then lose commits. Overrides s3_conditional_put."""
    s3_conditional_put: str = "etag"
    """How Delta commits stay atomic with concurrent writers on S3: 'etag' creates each commit
    file with a conditional write (If-None-Match), which AWS S3, MinIO, Cloudflare R2 and moto
    support; '' leaves delta-rs's own default."""
    write_retries: NonNegativeInt = 8
    """Retries of a Delta commit that lost a race with a writer."""
    checkpoint_interval: NonNegativeInt = 10
    """Commits between Delta checkpoints (table property `delta.checkpointInterval`), set on
    every table Podium creates and on an older table the first time it is opened. Opening a
    table reads every commit since its last checkpoint, one GET each on S3: delta-rs's default
    of 100 made every open slower as history grew (docs/production.md, "Lake history on S3").
    0 leaves each table's own setting alone."""
    compact_after_files: NonNegativeInt = 24
    """A MERGE that leaves a table with more data files than this compacts the table right
    after (every MERGE reads every file whose key range it cannot rule out, a few GETs each on
    S3). Racing writers stay safe: a compaction that loses a race is dropped, a MERGE that
    loses one to it is retried. 0: only the nightly `maintenance` compacts."""
    reuse_tables: bool = True
    """Bring a table this process opened before up to date (a listing of its log and a GET per
    newer commit) instead of opening it afresh (the checkpoint and up to ~10 commits: a dozen
    or more GETs on S3). Every operation still reads the table's latest version."""
    prune_merges: bool = True
    """Give every MERGE the keys of the rows it writes as a filter on the table, so that it
    reads only the data files whose key statistics can hold them, not every file (each a few
    GETs on S3), and MERGEs of different talks stop conflicting with each other."""
    compact_file_kib: PositiveInt = 1024
    """The data file size a compaction aims at, in KiB of rows in memory (files are smaller
    once compressed). Rows are written sorted by key, so each file covers a narrow key range
    that a MERGE of a few keys can skip."""
    file_cache_mib: NonNegativeInt = 64
    """Keep the Delta data files that reads fetch in memory, up to this many MiB per process
    (least recently used out first). A data file never changes under its name, and which
    files a read reads still comes from the table's latest version, so this only saves the
    GETs of files read before. 0: every read fetches its files."""


class PrefectSettings(BaseModel):
    """How Podium reaches its Prefect server."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    api_url: str = "http://127.0.0.1:4200/api"
    """Prefect API URL the gateway posts events to and the CLI talks to."""
    ui_url: str = "http://127.0.0.1:4200"
    """Base URL of the Prefect UI, for links."""
    api_key: SecretStr | None = None
    """API key for Prefect Cloud or an authenticated server."""
    auth_string: SecretStr | None = None
    """`user:password` of a self-hosted Prefect server protected with
    PREFECT_SERVER_API_AUTH_STRING: sent as HTTP Basic auth by the gateway and the CLI, and
    passed on as PREFECT_API_AUTH_STRING to the processes Podium starts."""
    event_retries: NonNegativeInt = 2
    """Retries when posting an event to the Prefect server. Kept short: a talk whose event is
    deferred is already in the lake, and warm executors find it in the ledger within
    `enrich.warm_ledger_check_s`."""
    event_backoff_s: NonNegativeFloat = 0.25
    """First backoff between event retries (doubles)."""
    event_timeout_s: PositiveFloat = 3.0
    """Seconds one event post may take before it is retried."""


class GatewaySettings(BaseModel):
    """The webhook gateway."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    host: str = "127.0.0.1"
    """Address the gateway binds to."""
    port: int = 8787
    """Port the gateway listens on."""
    secret: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    """Shared HMAC-SHA256 secret of the directory app and the DynamoDB pipe."""
    max_body_bytes: PositiveInt = 1024 * 1024
    """Largest request body accepted (413 above)."""
    replay_window_s: PositiveInt = 300
    """How old a signed request's timestamp may be, seconds."""
    max_json_depth: Annotated[int, Field(gt=0, le=1000)] = 32
    """Deepest nesting of JSON arrays/objects a hook body may have (422 above)."""
    read_cache_s: NonNegativeFloat = 1.0
    """Read routes (recommendations, related talks, exports) answer from an in-memory index that
    a poller thread per process rebuilds when the Delta versions of the tables they read move; it
    looks this often, so an answer is at most this plus one build stale on any replica. 0 reads
    the lake on every request."""
    inbox: bool = False
    """Answer talk hooks once their changes are in an append-only inbox blob in the lake
    (durable; one blob per group of concurrent requests) and fold the inbox into talks and the
    ledger off the request path, one replica at a time (podium/inbox.py). Off: each group of
    requests waits for its Delta commit."""
    inbox_fold_interval_s: PositiveFloat = 0.25
    """How often a gateway looks at the inbox for blobs other replicas appended (its own
    appends wake it at once), seconds."""
    inbox_lease_s: PositiveFloat = 10.0
    """How long the inbox fold lease lasts unless renewed; a replica that died holding it is
    taken over after this, seconds."""


class EnrichSettings(BaseModel):
    """Batching and retry policy of the enrich flow."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    batch_size: PositiveInt = 64
    """Talks per tagging/image batch."""
    max_attempts: PositiveInt = 3
    """Attempts before a talk's enrichment is marked failed."""
    max_passes: PositiveInt = 20
    """Passes one enrich run makes over newly pending talks before it ends (talks submitted while
    it works are taken with the models already loaded)."""
    lease_seconds: PositiveFloat = 120.0
    """How long a claimed batch stays with its run without a renewal; the run renews it every
    third of this while it works, so when it runs out the run is dead and others take the batch."""
    max_batch_s: PositiveFloat = 21_600.0
    """How long a run keeps renewing the lease of one batch (its heartbeat lasts as long as the
    batch, up to this); a run stuck longer loses the batch one lease later. Longer than the
    slowest batch (a CPU diffusion batch of covers)."""
    max_clock_skew_s: PositiveFloat = 30.0
    """Largest difference between a run's clock and the lake store's clock (measured with a probe
    blob before claiming) at which it still claims work; leases are judged by that one clock.
    Keep it well under lease_seconds."""
    warm_history_refresh_s: NonNegativeFloat = 10.0
    """Least seconds between two background refreshes of a warm executor's tagging history (each
    refresh that finds changes refits the tagger's calibration)."""
    warm_cover_batch_size: PositiveInt = 16
    """Covers per batch in a warm run; before each cover batch the run tags any talk submitted
    meanwhile, so a new talk waits for at most one such batch."""
    warm_ledger_check_s: PositiveFloat = 3.0
    """Seconds between a warm executor's checks of the ledger for claimable talks no event
    announced (a deferred event, a dropped event stream); also checked at start and after every
    reconnect of the stream."""
    warm_recycle_rss_mib: NonNegativeInt = 6144
    """A warm executor whose resident memory is above this after a run stops taking work and exits
    with code 75 once the run is done, and its supervisor (a Kubernetes Deployment, compose,
    `podium up`, the production stack) starts a fresh one: its models load again while other
    replicas and the ledger keep the talks. Why: native memory of the run path still grows slowly
    (docs/memory-soak.md). Below the manifest's 8 GiB limit; 0 never recycles."""
    crash_on_talk: str = ""
    """Fault injection for tests only: enriching this talk id kills the process (SIGKILL), as an
    out-of-memory kill or a fatal CUDA error would. Leave empty."""


class DerivedSettings(BaseModel):
    """Counts and recommendations kept current warm, in the warm executors
    (`podium.use_cases.derived`, `deployments/warm_derived.py`)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    warm: bool = True
    """Whether each warm executor also updates tag counts and rebuilds the affected events'
    recommendations in process, seconds after talks are tagged (coalesced; safe with any number
    of executors). The aggregate-tags and build-recommendations deployments stay the safety net
    either way."""
    check_s: PositiveFloat = 2.0
    """Seconds between a warm refresher's checks of the lake for counts or recommendations behind
    their sources (a tagged event it did not hear of)."""
    duty: Annotated[float, Field(gt=0, le=1)] = 1.0
    """At most this share of the time a warm refresher spends refreshing in a burst (after a
    refresh of d seconds it waits d * (1 - duty) / duty), so that it leaves the warm executor's
    tagger more of its cores; 1 (default) refreshes back to back (measured: 0.5 doubled the
    counts' lag and did not speed tagging up)."""


class ReplaySettings(BaseModel):
    """Where gateway replicas remember the webhook message ids they handled (podium/replay.py)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    url: SecretStr | None = None
    """A Redis URL (redis:// or rediss://, password included if any) for the shared replay store;
    None keeps it in the lake (replay/ blobs, no extra service)."""
    in_flight_lease_s: PositiveFloat = 120.0
    """How long a message id stays claimed by a request still being handled; past it, the claim
    is its dead replica's and a retry may take it over."""

    @model_validator(mode="after")
    def _redis_url(self) -> ReplaySettings:
        if self.url is not None:
            scheme = self.url.get_secret_value().split("://", 1)[0]
            if scheme not in ("redis", "rediss"):
                raise ValueError(
                    f"PODIUM_REPLAY__URL must be a redis:// or rediss:// URL, got {scheme}://"
                )
        return self


class LimitsSettings(BaseModel):
    """Per-talk limits every source applies (the hooks and the stream reader); a talk over one
    is rejected as a record with a reason naming the limit (see docs/security.md)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    max_tags_per_talk: Annotated[int, Field(gt=0, le=200)] = 50
    """Most speaker tags one talk may carry."""
    max_event_ids_per_talk: Annotated[int, Field(gt=0, le=200)] = 50
    """Most event ids one talk may list."""
    max_speakers_per_talk: Annotated[int, Field(gt=0, le=1000)] = 50
    """Most speakers one talk may name."""
    max_future_skew_s: NonNegativeFloat = 86_400.0
    """How far ahead of this process's clock a source time (updated_at, a stream removal's time)
    may be; further is rejected, since a far-future updated_at would make every later edit of the
    talk stale."""


class Settings(BaseSettings):
    """Everything Podium can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="PODIUM_",
        env_nested_delimiter="__",
        extra="ignore",
        use_attribute_docstrings=True,
    )

    environment: Literal["local", "production"] = "local"
    """`local` is the embedded default; `production` refuses placeholder secrets, a local lake
    and the embedded Prefect server."""
    home: Path = Path(".podium")
    """State folder of the embedded default (Prefect DB, local lake, caches)."""
    lake: LakeSettings = Field(default_factory=LakeSettings)
    """Tables and blobs."""
    prefect: PrefectSettings = Field(default_factory=PrefectSettings)
    """Prefect."""
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    """Gateway."""
    enrich: EnrichSettings = Field(default_factory=EnrichSettings)
    """Enrichment."""
    tagging: TaggingSettings = Field(default_factory=TaggingSettings)
    """Tagging."""
    images: ImageSettings = Field(default_factory=ImageSettings)
    """Cover images."""
    recommend: RecommendSettings = Field(default_factory=RecommendSettings)
    """Recommendations."""
    review: ReviewSettings = Field(default_factory=ReviewSettings)
    """Git reviews."""
    pretalx: PretalxSettings = Field(default_factory=PretalxSettings)
    """The pretalx source."""
    exports: ExportSettings = Field(default_factory=ExportSettings)
    """Schedule exports (frab, iCalendar, JSON)."""
    dynamodb: DynamoDBSettings = Field(default_factory=DynamoDBSettings)
    """The original directory's DynamoDB table (stream source and sink)."""
    ops: OpsSettings = Field(default_factory=OpsSettings)
    """Metrics, traces, logs and probes."""
    replay: ReplaySettings = Field(default_factory=ReplaySettings)
    """The gateways' shared replay store."""
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    """Per-talk input limits of every source."""
    derived: DerivedSettings = Field(default_factory=DerivedSettings)
    """Warm tag counts and recommendations in the warm executors."""

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment == "local":
            return self
        _refuse_embedded_parts(self)
        if self.gateway.secret.get_secret_value() == PLACEHOLDER_SECRET:
            raise ValueError(
                "PODIUM_GATEWAY__SECRET is the local placeholder; set a real secret in production"
            )
        push = self.review.push_secret
        if push is None or push.get_secret_value() == PLACEHOLDER_PUSH_SECRET:
            raise ValueError(
                "PODIUM_REVIEW__PUSH_SECRET is unset or the local placeholder; /hooks/push needs "
                "its own real secret in production"
            )
        # One key per purpose: a leaked key of one sender must not sign for another.
        named = {
            "PODIUM_GATEWAY__SECRET": self.gateway.secret,
            "PODIUM_REVIEW__PUSH_SECRET": push,
            "PODIUM_REVIEW__GITHUB_WEBHOOK_SECRET": self.review.github_webhook_secret,
            "PODIUM_REVIEW__GITLAB_TOKEN": self.review.gitlab_token,
        }
        seen: dict[str, str] = {}
        for name, secret in named.items():
            if secret is None:
                continue
            value = secret.get_secret_value()
            if value in seen:
                raise ValueError(f"{name} is the same as {seen[value]}; use one secret per sender")
            seen[value] = name
        return self

    @property
    def lake_url(self) -> str:
        """The lake's base URL, defaulting to a folder under `home`."""
        return self.lake.url or str((self.home / "lake").resolve())


def _refuse_embedded_parts(settings: Settings) -> None:
    """`production` runs on shared parts: a lake every replica reaches and its own Prefect
    server, never the local folder or the embedded server of the local default."""
    url = settings.lake_url
    if "://" not in url or url.startswith("file://"):
        raise ValueError(
            f"PODIUM_LAKE__URL is a local folder ({url}); production needs a shared lake "
            "(s3://bucket/prefix)"
        )
    host = (urlsplit(settings.prefect.api_url).hostname or "").lower()
    if host in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        raise ValueError(
            f"PODIUM_PREFECT__API_URL points at the embedded Prefect server "
            f"({settings.prefect.api_url}); production needs its own Prefect server"
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read from the environment on first use.

    Raises:
        UnknownSettingError: a `PODIUM_*` variable names no setting (a typo would otherwise
            be ignored); the message names the nearest valid one.
    """
    check_environment(Settings, os.environ)
    return Settings()
