"""Domain models. Validation lives here so every source and route shares it."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictStr,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)

MAX_TITLE = 300
MAX_DESCRIPTION = 20_000

MAX_ID = 200
# The identifier alphabet (talk_id, event_id): letters and digits of any script plus
# - _ . : @ + , ! ' ( ) & ; ~ and "/" only between non-empty segments, none of them "." or "..".
# Ids reach storage paths (always escaped, see `storage_segment`), SQL predicates (quoted) and
# Prefect resource ids; the alphabet keeps them printable, one line, and free of separators
# that a path or a shell would read. pyvideo's "<event>/<slug>" ids fit it.
ID_PUNCTUATION = "-_.:@+,!'()&;~"
ID_RULE = (
    f"1-{MAX_ID} characters: letters and digits (any script) and {ID_PUNCTUATION}, "
    'with "/" only between segments; no segment may be "." or ".."'
)
_ID_CHARS = re.compile(r"[^\W]|[" + re.escape(ID_PUNCTUATION) + "]")


def check_identifier(value: str) -> str:
    """`value` when it is a valid identifier (see `ID_RULE`), else ValueError naming the rule."""
    problem = _identifier_problem(value)
    if problem:
        raise ValueError(f"{problem}; an id must be {ID_RULE}")
    return value


def _identifier_problem(value: str) -> str | None:
    if not value or len(value) > MAX_ID:
        return f"id has {len(value)} characters"
    for segment in value.split("/"):
        if segment in ("", ".", ".."):
            return f"id has the path segment {segment!r}"
        for char in segment:
            # `\w` also matches "_" and excludes other punctuation; whitespace, controls, NUL,
            # "\\", "%", "#", "?" and quotes other than ' all fail here.
            if not _ID_CHARS.fullmatch(char):
                return f"id contains the character {char!r}"
    return None


def storage_segment(identifier: str) -> str:
    """`identifier` as one path segment: every character but [A-Za-z0-9._-] percent-encoded.

    Storage paths are built only from this, so no id can add a folder level or climb out of
    the lake, even one that bypassed validation (read back from an old table).
    """
    out = []
    for char in identifier:
        if char.isascii() and (char.isalnum() or char in "._-"):
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
    segment = "".join(out)
    if segment in ("", ".", ".."):  # only reachable for invalid ids: keep them one harmless name
        segment = segment.replace(".", "%2E") or "%00"
    return segment


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _strip_control(value: object) -> object:
    # NUL and other control characters (not tab/newline) in free text are dropped rather than
    # stored: they break terminals, CSV exports and C-based consumers, and carry no meaning.
    return _CONTROL.sub("", value) if isinstance(value, str) else value


Identifier = Annotated[
    StrictStr,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_ID),
    AfterValidator(check_identifier),
]
TagName = Annotated[
    StrictStr,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=80),
    BeforeValidator(_strip_control),
]
Name = Annotated[
    StrictStr,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    BeforeValidator(_strip_control),
]


def as_utc_when_naive(value: datetime | None) -> datetime | None:
    """A source time without an offset is read as UTC (the documented rule, see
    docs/security.md): comparing it with a zoned one would otherwise raise at commit time."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


SourceTime = Annotated[datetime | None, AfterValidator(as_utc_when_naive)]


class TalkState(StrEnum):
    """Where a talk is in the directory's review process."""

    submitted = "submitted"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"
    published = "published"
    deleted = "deleted"


class _Strict(BaseModel):
    # Unknown fields are an error, never silently dropped.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def normalise_tag(tag: str) -> str:
    """Tags compare case- and space-insensitively: ' Machine  Learning' -> 'machine learning'."""
    return " ".join(tag.lower().split())


class Slot(_Strict):
    """When and where a talk is scheduled: start and end (with a time zone) and the room."""

    start: datetime
    end: datetime
    room: Annotated[
        StrictStr,
        StringConstraints(strip_whitespace=True, max_length=200),
        BeforeValidator(_strip_control),
    ] = ""

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("a slot time needs a time zone (e.g. 2026-05-14T10:00:00+02:00)")
        return value

    @model_validator(mode="after")
    def _ends_after_start(self) -> Slot:
        if self.end <= self.start:
            raise ValueError("slot end must be after its start")
        return self

    def clashes_with(self, other: Slot) -> bool:
        """Whether the two slots overlap in time (touching end to start is no clash)."""
        return self.start < other.end and other.start < self.end


class Talk(_Strict):
    """A talk as the directory knows it."""

    talk_id: Identifier
    title: Annotated[
        StrictStr,
        StringConstraints(strip_whitespace=True, max_length=MAX_TITLE),
        BeforeValidator(_strip_control),
    ]
    description: Annotated[
        StrictStr, StringConstraints(max_length=MAX_DESCRIPTION), BeforeValidator(_strip_control)
    ] = ""
    # Bounded per source by `podium.sources.InputPolicy` (settings.limits), which names the
    # limit in its reason; tag counting caps what the lake holds (podium/tag_counts.py).
    speakers: list[Name] = Field(default_factory=list)
    tags: list[TagName] = Field(default_factory=list, description="Tags the speaker chose.")
    event_ids: list[Identifier] = Field(default_factory=list)
    language: Annotated[
        StrictStr,
        StringConstraints(strip_whitespace=True, max_length=20),
        BeforeValidator(_strip_control),
    ] = "en"
    state: TalkState = TalkState.submitted
    submitted_at: SourceTime = None
    updated_at: SourceTime = None
    slot: Slot | None = Field(
        default=None, description="Where the talk is scheduled, when its source has a schedule."
    )
    # Position in the source's own order (a DynamoDB stream SequenceNumber), set by the parser;
    # not content, so it stays out of dumps and hashes. See podium/ordering.py.
    _sequence: int | None = PrivateAttr(default=None)

    @field_validator("title")
    @classmethod
    def _title_not_empty(cls, value: str) -> str:
        if not value:
            raise ValueError("title must not be empty")
        return value

    @field_validator("tags")
    @classmethod
    def _normalise_tags(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(normalise_tag(t) for t in value))

    @computed_field  # type: ignore[prop-decorator]
    @property
    def content_hash(self) -> str:
        """Hash of what enrichment reads: an unchanged hash means no re-enrichment."""
        material = {
            "title": self.title,
            "description": self.description,
            "speakers": self.speakers,
            "tags": sorted(self.tags),
            "language": self.language,
        }
        blob = json.dumps(material, ensure_ascii=False, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:32]

    def record_hash(self) -> str:
        """Hash of the whole record (content plus state, events): decides whether to rewrite."""
        # A talk without a slot hashes as it did before slots existed, so stored talks are not
        # rewritten just because the model gained the field.
        exclude = {"submitted_at", "updated_at"} | ({"slot"} if self.slot is None else set())
        blob = self.model_dump_json(exclude=exclude).encode()
        return hashlib.sha256(blob).hexdigest()[:32]


class Event(_Strict):
    """An event (conference, meetup) talks are recommended for."""

    event_id: Identifier
    name: Name
    description: Annotated[
        StrictStr, StringConstraints(max_length=MAX_DESCRIPTION), BeforeValidator(_strip_control)
    ] = ""
    tags: list[TagName] = Field(default_factory=list)
    starts_on: date | None = None
    ends_on: date | None = None

    @field_validator("tags")
    @classmethod
    def _normalise_tags(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(normalise_tag(t) for t in value))

    @model_validator(mode="after")
    def _dates_in_order(self) -> Event:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


TagSource = Literal["speaker", "model", "organiser"]


class TagAssignment(_Strict):
    """One tag on one talk, with where it came from."""

    talk_id: Identifier
    tag: TagName
    score: float = Field(ge=0.0, le=1.0)
    source: TagSource
    model: str = Field(default="", description="Model version for source=model.")
    content_hash: str = Field(default="", description="Talk content the tag was computed from.")
    tagged_at: datetime


class Recommendation(_Strict):
    """One precomputed row of an event's recommendation table."""

    event_id: Identifier
    rank: int = Field(ge=1)
    talk_id: Identifier
    score: float
    matched_tags: list[str] = Field(default_factory=list)
    components: dict[str, float] = Field(default_factory=dict)
    model_version: str = ""
    computed_at: datetime


class TagDefinition(_Strict):
    """One tag of the directory's vocabulary."""

    name: TagName
    description: str = Field(default="", description="A short natural description of the tag.")
    synonyms: list[TagName] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return normalise_tag(value)


class Vocabulary(_Strict):
    """The tags Podium may assign."""

    tags: list[TagDefinition] = Field(min_length=1)

    @property
    def names(self) -> list[str]:
        return [t.name for t in self.tags]

    def content_hash(self) -> str:
        """Changes whenever a tag, description or synonym changes (label-cache key)."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]
