"""Catching mistakes in the environment before they become silent defaults.

pydantic-settings ignores a `PODIUM_*` variable that names no field, so a typo such as
`PODIUM_LAKE_URL` (one underscore) would leave the lake at its local default without a word.
`check_environment` refuses every such variable and names the nearest valid one.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping
from typing import Any

from pydantic import BaseModel

from podium.errors import UserError

PREFIX = "PODIUM_"
DELIMITER = "__"

# `PODIUM_*` variables that are not settings: read by scripts, tests, CI or compose files
# (never by the settings object). Keep this list short and documented where each is used.
NOT_SETTINGS = frozenset(
    {
        "PODIUM_PROJECT_DIR",  # where workers find the project (prefect.yaml pull step)
        "PODIUM_PRETALX_HOME",  # the pinned pretalx of the live pretalx test (tests/setup)
        "PODIUM_RECORD_PRETALX",  # re-record the pretalx answers the fast tests replay
        "PODIUM_TEST_ARTIFACTS",  # where the browser test keeps its screenshots
        "PODIUM_IMAGE",  # infra/compose.yaml: image names and secrets it interpolates
        "PODIUM_GPU_IMAGE",
        "PODIUM_PREFECT_UI_URL",
        "PODIUM_POSTGRES_PASSWORD",
        "PODIUM_MINIO_ROOT_USER",
        "PODIUM_MINIO_ROOT_PASSWORD",
    }
)


class UnknownSettingError(UserError, ValueError):
    """A `PODIUM_*` variable that names no setting (its `str()` suggests the nearest one)."""


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The settings section a field holds (unwrapping `X | None`), or None for a leaf."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _is_mapping(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return origin in (dict, Mapping) or annotation is Any


def setting_names(model: type[BaseModel], prefix: str = PREFIX) -> Iterator[tuple[str, bool]]:
    """Every environment variable `model` reads: (NAME, whether NAME__<anything> is valid too)."""
    for name, field in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        section = _model_of(field.annotation)
        yield variable, _is_mapping(field.annotation)
        if section is not None:
            yield from setting_names(section, variable + DELIMITER)


def check_environment(model: type[BaseModel], environ: Mapping[str, str]) -> None:
    """Refuse `PODIUM_*` variables that `model` does not read.

    Raises:
        UnknownSettingError: naming the first unknown variable and the nearest valid one.
    """
    known: dict[str, bool] = dict(setting_names(model))
    open_prefixes = [name + DELIMITER for name, is_open in known.items() if is_open]
    unknown = []
    for variable in environ:
        upper = variable.upper()
        if not upper.startswith(PREFIX) or upper in NOT_SETTINGS or upper in known:
            continue
        if any(upper.startswith(p) for p in open_prefixes):
            continue
        unknown.append(variable)
    if not unknown:
        return
    variable = sorted(unknown)[0]
    nearest = difflib.get_close_matches(variable.upper(), list(known), n=1, cutoff=0.6)
    hint = f"; did you mean {nearest[0]}?" if nearest else " (see `podium.settings.Settings`)"
    more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
    raise UnknownSettingError(f"unknown setting {variable}{more}{hint}")
