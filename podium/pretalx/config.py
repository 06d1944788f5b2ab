"""Settings of the pretalx source (a section of `podium.settings.Settings`)."""

from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr


class PretalxSettings(BaseModel):
    """How Podium reads a pretalx server's REST API."""

    token: SecretStr | None = Field(
        default=None,
        description="API token of an organiser account (Authorization: Token ...); without one "
        "only public, scheduled submissions are visible.",
    )
    events: list[str] = Field(
        default_factory=list,
        description="Events the sync-pretalx deployment imports, as pretalx://host/event "
        "(pretalx+http://host:port/event for a server without TLS).",
    )
    token_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts (`host` or `host:port`) the token may be sent to; empty means the "
        "hosts of `events`. A pretalx URL on any other host is refused before any request "
        "while a token is set (a run parameter or a command line cannot redirect the token).",
    )
    page_size: int = Field(default=100, gt=0, le=1000, description="Submissions per API page.")
    timeout_s: float = Field(default=30.0, gt=0, description="Timeout of one API request.")
    retries: int = Field(
        default=3,
        ge=0,
        description="Retries of a request that failed with 429, 5xx or a network error.",
    )
    write_back: bool = Field(
        default=False,
        description="Opt-in: the write-pretalx flow writes organiser-accepted tags back to the "
        "events in `events` as pretalx tags (needs a read-write token); tags are only added, "
        "never removed.",
    )
    write_back_model_tags: bool = Field(
        default=False,
        description="Also write Podium's model tags scoring at least `write_back_min_score`.",
    )
    write_back_min_score: float = Field(
        default=0.8, ge=0, le=1, description="Lowest model-tag score written back."
    )
    write_back_color: str = Field(
        default="#3b82f6",
        pattern=r"^#([0-9A-Fa-f]{3}){1,2}$",
        description="Colour of the tags Podium creates in pretalx.",
    )
    write_back_public: bool = Field(
        default=False, description="Whether the tags Podium creates are public in pretalx."
    )
    detail_fetch_limit: int = Field(
        default=25,
        ge=0,
        description="Up to this many changed submissions are fetched one by one; more take "
        "one full expanded listing.",
    )

    def allowed_hosts(self) -> set[str]:
        """Lower-case `host[:port]`s the token may go to (see `token_hosts`)."""
        if self.token_hosts:
            return {h.strip().lower() for h in self.token_hosts if h.strip()}
        hosts = set()
        for url in self.events:
            _, sep, rest = url.partition("://")
            if sep:
                hosts.add(urlsplit("//" + rest).netloc.lower())
        return hosts
