"""The replay store: webhook message ids handled inside the signature window, shared by every
gateway replica and kept across restarts, each with the digest of the body it was signed over.

A signed message may be delivered again: a sender's retry, or a captured request replayed by
someone else. Within the signature window (`gateway.replay_window_s`) every copy of one
message id must reach the same verdict on every replica, after a restart too, so the memory
lives in a shared store, never in one process:

- the first copy **claims** the id (an atomic put-if-absent) and is handled; it then
  **completes** it, keeping a small answer for later copies, or **releases** it when it
  recorded nothing (a refused body, a failed write), so the sender's retry is accepted;
- a later copy with the same body finds it in flight (ask to retry) or done (the first
  answer again, nothing recorded twice);
- a copy with the same id and a *different* body is refused: the id is taken by another
  message (the gateway answers 409), it is never answered 200 and dropped;
- an in-flight claim whose holder died (its lease ran out) is taken over, one claimer only;
- entries expire when their window ends: Redis by its TTL, the lake by `sweep`.

Two backends, one protocol (`ReplayStore`), chosen by `replay.url` (`replay_store` builds it):

- `LakeReplayStore` (the default; no extra service): one folder per message id under
  `replay/` in the lake, one blob per *generation* `<n>.json`. Claiming creates the next
  generation with an exclusive create (a local hard link of a complete file, or an S3
  conditional put with If-None-Match), so exactly one claimer wins; only the winner writes
  its generation afterwards (complete, release). The newest generation is the entry.
- `RedisReplayStore` (`replay.url=redis://...`): one key per message id with the entry as
  JSON and the window as TTL; claim, complete and release are small Lua scripts (atomic
  put-if-absent-or-dead, compare-and-set by claim token).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Protocol

from podium.lake import Lake
from podium.settings import Settings

PREFIX = "replay"


class Seen(Enum):
    """What claiming a message id found."""

    FIRST = "first"  # the id is this request's now: handle the message
    IN_FLIGHT = "in_flight"  # another request holds it with the same body, right now
    DONE = "done"  # a request with the same body completed; its answer is kept
    REUSED = "reused"  # held or done by a message with a different body: refuse


@dataclass(frozen=True)
class Entry:
    """One message id's record."""

    digest: str  # SHA-256 of the signed body
    state: str  # "in_flight", "done" or "released"
    token: str  # the claim that wrote it
    lease_until: float  # an in-flight claim past this is its dead holder's: taken over
    expires_at: float  # the end of the message's signature window
    outcome: str | None = None  # base64 of the first answer (done only)

    def live(self, now: float) -> bool:
        if self.expires_at < now or self.state == "released":
            return False
        return self.state == "done" or self.lease_until >= now

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> Entry:
        return cls(**json.loads(data))

    @property
    def answer(self) -> bytes | None:
        return None if self.outcome is None else base64.b64decode(self.outcome)


@dataclass(frozen=True)
class Claimed:
    """The verdict on a message id, and the handle to settle it with (when `FIRST`)."""

    seen: Seen
    handle: str = ""  # opaque, for `complete` / `release`
    outcome: bytes | None = None  # DONE: the first answer kept (None when none was)


class ReplayStore(Protocol):
    """Message ids inside their window, with their body digest, shared by every replica."""

    def claim(
        self, key: str, *, digest: str, expires_at: float, lease_s: float, now: float
    ) -> Claimed:
        """Claim `key` for a message with body `digest`, or say what holds it."""

    def complete(self, key: str, handle: str, outcome: bytes | None) -> None:
        """The claim's message was handled: later copies get `outcome` (DONE)."""

    def release(self, key: str, handle: str) -> None:
        """The claim's message recorded nothing: the id is free again (its retry is new)."""

    def sweep(self, *, now: float | None = None) -> int:
        """Remove entries whose window ended; returns how many (0 where the store expires
        them itself)."""

    def close(self) -> None:
        """Release connections."""


def _verdict(entry: Entry, digest: str) -> Claimed:
    if entry.digest != digest:
        return Claimed(Seen.REUSED)
    if entry.state == "done":
        return Claimed(Seen.DONE, outcome=entry.answer)
    return Claimed(Seen.IN_FLIGHT)


def _encode(outcome: bytes | None) -> str | None:
    return None if outcome is None else base64.b64encode(outcome).decode()


class LakeReplayStore:
    """The replay store in the lake's blobs (see the module docs); works on every lake."""

    def __init__(self, lake: Lake, *, tries: int = 16) -> None:
        self.lake = lake
        self.tries = tries

    @staticmethod
    def _folder(key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{PREFIX}/{digest[:2]}/{digest}"

    def _newest(self, folder: str) -> tuple[int, Entry | None]:
        names = [p.rsplit("/", 1)[-1] for p in self.lake.list_blobs(folder)]
        generations = sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())
        if not generations:
            return 0, None
        newest = generations[-1]
        return newest, self._read(f"{folder}/{newest:08d}.json")

    def _read(self, path: str) -> Entry:
        # A local lake rewrites a blob in place (complete, release): a read in that instant
        # may see it half written. S3 replaces an object whole.
        for attempt in range(20):
            try:
                return Entry.from_json(self.lake.get_blob(path))
            except (ValueError, TypeError):
                if attempt == 19:
                    raise
                time.sleep(0.01)
        raise AssertionError("unreachable")

    def claim(
        self, key: str, *, digest: str, expires_at: float, lease_s: float, now: float
    ) -> Claimed:
        folder = self._folder(key)
        token = uuid.uuid4().hex
        entry = Entry(digest, "in_flight", token, now + lease_s, expires_at)
        generation = 1
        for _ in range(self.tries):
            path = f"{folder}/{generation:08d}.json"
            if self.lake.create_blob(path, entry.to_json()):
                return Claimed(Seen.FIRST, handle=f"{path}\n{token}")
            newest, found = self._newest(folder)
            if found is not None and found.live(now):
                return _verdict(found, digest)
            generation = newest + 1  # dead (expired, released, its holder gone): take over
        raise RuntimeError(f"replay store: could not claim a message id in {self.tries} tries")

    def _rewrite(self, handle: str, **changes: object) -> None:
        path, token = handle.split("\n", 1)
        entry = self._read(path)
        if entry.token == token:  # only the claim's own generation, which only it writes
            data = asdict(entry) | changes
            self.lake.put_blob(path, Entry(**data).to_json(), content_type="application/json")

    def complete(self, key: str, handle: str, outcome: bytes | None) -> None:
        self._rewrite(handle, state="done", outcome=_encode(outcome))

    def release(self, key: str, handle: str) -> None:
        self._rewrite(handle, state="released")

    def sweep(self, *, now: float | None = None) -> int:
        """Delete the folders of message ids whose window ended (the maintenance flow)."""
        now = time.time() if now is None else now
        folders: dict[str, list[str]] = {}
        for path in self.lake.list_blobs(PREFIX):
            folders.setdefault(path.rsplit("/", 1)[0], []).append(path)
        removed = 0
        for folder, paths in folders.items():
            _, newest = self._newest(folder)
            if newest is not None and newest.expires_at >= now:
                continue
            for path in paths:
                self.lake.delete_blob(path)
            removed += 1
        return removed

    def close(self) -> None:
        pass


_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then
  local e = cjson.decode(current)
  local now = tonumber(ARGV[3])
  if e.state == 'done' or (e.state == 'in_flight' and tonumber(e.lease_until) >= now) then
    return current
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

_COMPLETE = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current).token == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
  return 1
end
return 0
"""

_RELEASE = """
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current).token == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisReplayStore:
    """The replay store in Redis: one key per message id, its window as TTL."""

    def __init__(self, url: str, *, namespace: str = "podium:replay:") -> None:
        import redis  # imported here: only this backend needs the client

        self.client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self.namespace = namespace
        self._claim = self.client.register_script(_CLAIM)
        self._complete = self.client.register_script(_COMPLETE)
        self._release = self.client.register_script(_RELEASE)

    def _key(self, key: str) -> str:
        return self.namespace + hashlib.sha256(key.encode()).hexdigest()

    def claim(
        self, key: str, *, digest: str, expires_at: float, lease_s: float, now: float
    ) -> Claimed:
        token = uuid.uuid4().hex
        entry = Entry(digest, "in_flight", token, now + lease_s, expires_at)
        ttl_ms = max(1000, int((expires_at - now) * 1000))
        found = self._claim(keys=[self._key(key)], args=[entry.to_json(), ttl_ms, now])
        if found is None:
            return Claimed(Seen.FIRST, handle=token)
        return _verdict(Entry.from_json(found), digest)

    def complete(self, key: str, handle: str, outcome: bytes | None) -> None:
        current = self.client.get(self._key(key))
        if current is None:
            return
        entry = Entry.from_json(current)
        done = Entry(**(asdict(entry) | {"state": "done", "outcome": _encode(outcome)}))
        self._complete(keys=[self._key(key)], args=[done.to_json(), handle])

    def release(self, key: str, handle: str) -> None:
        self._release(keys=[self._key(key)], args=[handle])

    def sweep(self, *, now: float | None = None) -> int:
        return 0  # every key carries its window as TTL: Redis removes it

    def close(self) -> None:
        self.client.close()


def replay_store(settings: Settings, lake: Lake) -> ReplayStore:
    """The replay store `settings.replay.url` names: Redis for redis:// or rediss:// URLs,
    the lake's blobs when unset."""
    url = settings.replay.url
    if url is None:
        return LakeReplayStore(lake)
    return RedisReplayStore(url.get_secret_value())
