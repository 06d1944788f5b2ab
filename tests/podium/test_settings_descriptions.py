"""Every setting is described (the house rule), now that the descriptions are attribute
docstrings: pydantic reads them from the source when a class is built
(`use_attribute_docstrings`), so a section that forgets the option, or a field written without a
docstring, would silently lose its description. Real: the settings classes and their JSON schema."""

from __future__ import annotations

import typing
from collections.abc import Iterator

from pydantic import BaseModel

from podium.ops_config import OpsSettings
from podium.settings import Settings


def _models(annotation: object) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def _fields(model: type[BaseModel], path: str = "") -> Iterator[tuple[str, str | None]]:
    for name, field in model.model_fields.items():
        yield path + name, field.description
        for section in _models(field.annotation):
            yield from _fields(section, f"{path}{name}.")


def test_every_setting_has_a_description() -> None:
    fields = dict(_fields(Settings))
    assert len(fields) > 200 and "tagging.threshold" in fields and "review.repos.url" in fields
    assert [name for name, text in fields.items() if not text] == []
    assert all(text for _, text in _fields(OpsSettings))


def test_a_wrapped_docstring_is_the_description_in_the_schema() -> None:
    threshold = Settings.model_json_schema()["$defs"]["TaggingSettings"]["properties"]["threshold"]
    words = " ".join(threshold["description"].split())  # the docstring's line breaks are soft
    assert words.startswith("Score threshold for a model tag when there is no history to calibrate")
    assert words.endswith("at the earlier 0.35, which predates lexical evidence: docs/tagging.md).")
    assert (threshold["minimum"], threshold["maximum"], threshold["default"]) == (0, 1, 0.59)
