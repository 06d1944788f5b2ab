"""A small client of pretalx's REST API: token auth, pagination, retries, one-line errors.

The token is sent only to hosts the settings name (`pretalx.token_hosts`, by default the hosts
of `pretalx.events`): a URL on another host is refused before any request, so a run parameter
or a command line cannot send it elsewhere. Within a server, a `next` link pointing anywhere
else is refused, so a misconfigured or hostile server cannot collect it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from podium.errors import UserError
from podium.pretalx.config import PretalxSettings

# What the mapping needs nested; the current API returns ids and codes otherwise.
EXPAND = "speakers,tags,track,submission_type"
# The cheap listing that finds new, changed and vanished submissions. pretalx saves a state
# change (withdraw, accept, ...) and tag or speaker changes without touching `updated`, so
# those fields are listed too (as ids: a few bytes each).
LIST_FIELDS = "code,updated,state,track,tags,speakers"


class PretalxError(UserError, RuntimeError):
    """The pretalx server could not be read; `str()` is one line for people, without secrets.

    `transient` says whether trying again later may help (network, 429, 5xx) or not (a wrong
    URL, token or slug).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class PretalxRef:
    """One event on one pretalx server, from `pretalx://host[:port][/prefix]/event`."""

    base_url: str  # scheme://host[:port][/prefix], no trailing slash
    slug: str

    @property
    def source(self) -> str:
        """The checkpoint key of this event: host and event, independent of the scheme."""
        base = urlsplit(self.base_url)
        return f"pretalx:{base.netloc}{base.path}/{self.slug}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/events/{self.slug}/"

    def __str__(self) -> str:
        return f"{self.base_url}/{self.slug}"


def is_pretalx_url(text: str) -> bool:
    return text.startswith(("pretalx://", "pretalx+http://", "pretalx+https://"))


def parse_pretalx_url(text: str) -> PretalxRef:
    """`pretalx://host/event` (HTTPS), or `pretalx+http://host:port/event` for a server
    without TLS (a local one). Anything before the event is a path prefix of the instance."""
    scheme, sep, rest = text.partition("://")
    schemes = {"pretalx": "https", "pretalx+https": "https", "pretalx+http": "http"}
    if not sep or scheme not in schemes:
        raise PretalxError(f"{text!r}: expected pretalx://host/event")
    host, _, path = rest.partition("/")
    parts = [p for p in path.split("/") if p]
    if not host or not parts:
        raise PretalxError(f"{text!r}: expected pretalx://host/event (the event's slug is missing)")
    slug = parts[-1]
    if not all(c.isalnum() or c in "-_." for c in slug):
        raise PretalxError(f"{text!r}: {slug!r} is not an event slug")
    prefix = "/".join(parts[:-1])
    base = f"{schemes[scheme]}://{host}" + (f"/{prefix}" if prefix else "")
    return PretalxRef(base_url=base, slug=slug)


class PretalxClient:
    """Reads one pretalx server.

    Args:
        ref: the event (and server) to read.
        settings: token, page size, timeout, retries.
        transport: an httpx transport (tests replay recorded responses through one).
    """

    def __init__(
        self,
        ref: PretalxRef,
        settings: PretalxSettings,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.ref = ref
        self.settings = settings
        if settings.token is not None:
            _check_token_host(ref, settings)
        headers = {"Accept": "application/json", "User-Agent": "podium-pretalx-source"}
        if settings.token is not None:
            headers["Authorization"] = f"Token {settings.token.get_secret_value()}"
        self._origin = _origin(ref.base_url)
        self._http = httpx.Client(
            headers=headers,
            timeout=settings.timeout_s,
            transport=transport,
            follow_redirects=False,
        )
        self.requests = 0  # how many requests this client made (reports, tests)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PretalxClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- resources ------------------------------------------------------------------------

    def event(self) -> dict[str, Any]:
        """The event object (`/api/events/<slug>/`)."""
        return self._get_json(self.ref.api_url, {})

    def tracks(self) -> list[dict[str, Any]]:
        return list(self._pages(self.ref.api_url + "tracks/", {}))

    def slots(self) -> list[dict[str, Any]]:
        """The talk slots of the latest published schedule, rooms expanded; empty when the
        event has no schedule endpoint (a server before API v2)."""
        params = {"expand": "room", "page_size": "1000"}
        try:
            return list(self._pages(self.ref.api_url + "slots/", params))
        except _NotFound:
            return []

    def submission_index(self) -> list[dict[str, Any]]:
        """Every submission's code, `updated`, state, track, tag ids and speaker codes (one
        small page per 1000)."""
        params = {"fields": LIST_FIELDS, "page_size": "1000"}
        return list(self._pages(self.ref.api_url + "submissions/", params))

    def submissions(self) -> Iterator[dict[str, Any]]:
        """Every submission, expanded."""
        params = {"expand": EXPAND, "page_size": str(self.settings.page_size)}
        yield from self._pages(self.ref.api_url + "submissions/", params)

    def submission(self, code: str) -> dict[str, Any] | None:
        """One submission, expanded; None when it no longer exists."""
        url = self.ref.api_url + f"submissions/{code}/"
        try:
            return self._get_json(url, {"expand": EXPAND})
        except _NotFound:
            return None

    # ---- HTTP -----------------------------------------------------------------------------

    def _pages(self, url: str, params: dict[str, str]) -> Iterator[dict[str, Any]]:
        next_url: str | None = url
        query: dict[str, str] | None = params
        while next_url:
            page = self._get_json(next_url, query)
            query = None  # `next` carries the query already
            if isinstance(page, list):  # an unpaginated endpoint
                yield from page
                return
            results = page.get("results")
            if not isinstance(results, list):
                raise PretalxError(f"{self._where(next_url)}: not a page of results")
            yield from results
            next_url = page.get("next")
            if next_url and _origin(next_url) != self._origin:
                raise PretalxError(
                    f"{self._where(url)}: the next page points to another server "
                    f"({_origin(next_url)}); refusing to send the token there"
                )

    # ---- writes (the write-back of tags; a read-write token) ---------------------------------

    def tags(self) -> list[dict[str, Any]]:
        """The event's tags: {"id", "tag", "color", "is_public", ...}."""
        return list(self._pages(self.ref.api_url + "tags/", {"page_size": "1000"}))

    def create_tag(self, name: str, *, color: str, public: bool) -> dict[str, Any]:
        """Create a tag (POST /tags/); not retried on a lost answer: the next run lists the
        tags again before creating any, so a tag is never made twice by one writer."""
        body = {"tag": name, "color": color, "is_public": public}
        return self._send("POST", self.ref.api_url + "tags/", body, retry=False)  # type: ignore[no-any-return]

    def set_submission_tags(self, code: str, tag_ids: list[int]) -> dict[str, Any]:
        """Set a submission's tags (PATCH, idempotent, so retried like a read)."""
        url = self.ref.api_url + f"submissions/{code}/"
        return self._send("PATCH", url, {"tags": tag_ids}, retry=True)  # type: ignore[no-any-return]

    def _send(self, method: str, url: str, body: dict[str, Any], *, retry: bool) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt((self.settings.retries if retry else 0) + 1),
            wait=_backoff,
            retry=retry_if_exception_type(_Retryable),
            sleep=time.sleep,
            reraise=True,
        )
        try:
            return retrying(self._get_json_once, url, None, method, body)
        except _Retryable as failed:
            raise failed.error from None

    def _get_json(self, url: str, params: dict[str, str] | None) -> Any:
        retrying = Retrying(
            stop=stop_after_attempt(self.settings.retries + 1),
            wait=_backoff,
            retry=retry_if_exception_type(_Retryable),
            sleep=time.sleep,
            reraise=True,
        )
        try:
            return retrying(self._get_json_once, url, params)
        except _Retryable as failed:
            raise failed.error from None

    def _get_json_once(
        self,
        url: str,
        params: dict[str, str] | None,
        method: str = "GET",
        body: dict[str, Any] | None = None,
    ) -> Any:
        self.requests += 1
        try:
            response = self._http.request(method, url, params=params, json=body)
        except httpx.TransportError as error:
            raise _Retryable(
                PretalxError(
                    f"{self._where(url)}: cannot reach the server ({type(error).__name__})",
                    transient=True,
                )
            ) from None
        status = response.status_code
        if status in (200, 201):
            try:
                return response.json()
            except ValueError:
                raise PretalxError(f"{self._where(url)}: the answer is not JSON") from None
        if status == 404:
            raise _NotFound(f"{self._where(url)}: not found (is the event slug right?)")
        if status in (401, 403):
            need = "" if method == "GET" else " with write access to submissions and tags"
            raise PretalxError(
                f"{self._where(url)}: {status} {response.reason_phrase}; check "
                f"PODIUM_PRETALX__TOKEN (an organiser token of this event{need})"
            )
        if status == 400:
            raise PretalxError(f"{self._where(url)}: 400 {_detail(response)}")
        transient = status == 429 or status >= 500
        failure = PretalxError(f"{self._where(url)}: HTTP {status}", transient=transient)
        if not transient:
            raise failure
        retry_after = response.headers.get("Retry-After", "")
        raise _Retryable(failure, float(retry_after) if retry_after.isdigit() else 0.0)

    def _where(self, url: str) -> str:
        return "pretalx " + url.split("?", 1)[0]


class _Retryable(Exception):
    """A failed request worth another try: the error to raise if none is left."""

    def __init__(self, error: PretalxError, retry_after_s: float = 0.0) -> None:
        super().__init__(str(error))
        self.error, self.retry_after_s = error, retry_after_s


def _backoff(state: RetryCallState) -> float:
    """0.5 s, 1 s, 2 s, …, or longer when the server asked to wait (Retry-After, at most 60 s)."""
    failed = state.outcome.exception() if state.outcome else None
    asked = failed.retry_after_s if isinstance(failed, _Retryable) else 0.0
    return max(0.5 * 2 ** (state.attempt_number - 1), min(asked, 60.0))


class _NotFound(PretalxError):
    """404: an unknown event, or a submission deleted meanwhile."""


def _check_token_host(ref: PretalxRef, settings: PretalxSettings) -> None:
    """Refuse, before any request, a server the token is not meant for."""
    host = urlsplit(ref.base_url).netloc.lower()
    allowed = settings.allowed_hosts()
    if host not in allowed:
        named = ", ".join(sorted(allowed)) or "none"
        raise PretalxError(
            f"pretalx host {host!r} is not one the token may be sent to (allowed: {named}); "
            "add it to PODIUM_PRETALX__TOKEN_HOSTS or PODIUM_PRETALX__EVENTS"
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _detail(response: httpx.Response) -> str:
    """pretalx's validation message, one line and short (it names fields, never secrets)."""
    try:
        text = str(response.json())
    except ValueError:
        text = response.text
    return " ".join(text.split())[:300]
