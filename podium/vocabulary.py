"""The directory's tag vocabulary, kept in the lake so a change takes effect on the next run."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from podium.errors import UserError
from podium.lake import Lake
from podium.models import TagDefinition, Vocabulary

VOCABULARY_BLOB = "config/vocabulary.json"


class VocabularyError(UserError, ValueError):
    """The vocabulary is missing or invalid."""


def parse_vocabulary(text: str, *, origin: str = "vocabulary") -> Vocabulary:
    """A vocabulary from JSON: {"tags": [{"name", "description", "synonyms"}]} or a name list."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise VocabularyError(f"{origin}: not JSON ({error.msg})") from None
    if isinstance(data, list):
        data = {"tags": [{"name": n} if isinstance(n, str) else n for n in data]}
    try:
        return Vocabulary.model_validate(data)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        where = f"{where}: " if where else ""  # a wrong top-level type has no field path
        raise VocabularyError(f"{origin}: {where}{first['msg']}") from None


def read_vocabulary_file(path: Path) -> Vocabulary:
    if not path.is_file():
        raise VocabularyError(f"{path}: no such file")
    return parse_vocabulary(path.read_text(encoding="utf-8"), origin=str(path))


def save_vocabulary(*, lake: Lake, vocabulary: Vocabulary) -> None:
    """Store the vocabulary; the next tagging run uses it, no restart needed."""
    lake.put_blob(VOCABULARY_BLOB, vocabulary.model_dump_json(indent=2).encode())


def load_vocabulary(*, lake: Lake) -> Vocabulary:
    """The vocabulary in the lake, or a clear error when none was set."""
    if not lake.blob_exists(VOCABULARY_BLOB):
        raise VocabularyError(
            "no tag vocabulary in the lake yet: run `podium vocabulary set FILE` first"
        )
    return parse_vocabulary(lake.get_blob(VOCABULARY_BLOB).decode(), origin=VOCABULARY_BLOB)


def add_tags(*, lake: Lake, definitions: list[TagDefinition]) -> Vocabulary:
    """Add tags to the vocabulary in the lake (one an organiser accepted); known names kept.

    A tag already in the vocabulary (by name) is left as it is. Like `save_vocabulary`, the
    blob is rewritten whole: two concurrent edits of the vocabulary are last-writer-wins.
    """
    vocabulary = load_vocabulary(lake=lake)
    names = set(vocabulary.names)
    new = [d for d in definitions if d.name not in names]
    if not new:
        return vocabulary
    updated = Vocabulary(tags=[*vocabulary.tags, *new])
    save_vocabulary(lake=lake, vocabulary=updated)
    return updated
