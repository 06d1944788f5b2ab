"""Settings of the pretalx source (a section of `podium.settings.Settings`)."""

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.types import NonNegativeInt, PositiveFloat


class PretalxSettings(BaseModel):
    """How Podium reads a pretalx server's REST API."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    token: SecretStr | None = None
    """API token of an organiser account (Authorization: Token ...); without one only public,
    scheduled submissions are visible."""
    events: list[str] = Field(default_factory=list)
    """Events the sync-pretalx deployment imports, as pretalx://host/event
    (pretalx+http://host:port/event for a server without TLS)."""
    token_hosts: list[str] = Field(default_factory=list)
    """Hosts (`host` or `host:port`) the token may be sent to; empty means the hosts of `events`.
    A pretalx URL on any other host is refused before any request while a token is set (a run
    parameter or a command line cannot redirect the token)."""
    page_size: Annotated[int, Field(gt=0, le=1000)] = 100
    """Submissions per API page."""
    timeout_s: PositiveFloat = 30.0
    """Timeout of one API request."""
    retries: NonNegativeInt = 3
    """Retries of a request that failed with 429, 5xx or a network error."""
    write_back: bool = False
    """Opt-in: the write-pretalx flow writes organiser-accepted tags back to the events in
    `events` as pretalx tags (needs a read-write token); tags are only added, never removed."""
    write_back_model_tags: bool = False
    """Also write Podium's model tags scoring at least `write_back_min_score`."""
    write_back_min_score: Annotated[float, Field(ge=0, le=1)] = 0.8
    """Lowest model-tag score written back."""
    write_back_color: Annotated[str, Field(pattern=r"^#([0-9A-Fa-f]{3}){1,2}$")] = "#3b82f6"
    """Colour of the tags Podium creates in pretalx."""
    write_back_public: bool = False
    """Whether the tags Podium creates are public in pretalx."""
    detail_fetch_limit: NonNegativeInt = 25
    """Up to this many changed submissions are fetched one by one; more take one full expanded
    listing."""

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
