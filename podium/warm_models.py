"""Models kept loaded for the life of a process: the warm executor and Dask backfill workers.

A model is built on first use and reused by every later run in the same process; changed model
settings build afresh. `loads()` counts real loads, so runs can report "0 model loads" honestly.
"""

from __future__ import annotations

import threading
from typing import Any

from podium.devices import resolve_device
from podium.images import build_image_backend
from podium.settings import Settings
from podium.tagging import build_tagger

_lock = threading.Lock()
_models: dict[tuple[str, str], Any] = {}
_loads = 0


def _get(kind: str, key: str, build: Any) -> tuple[Any, int]:
    global _loads
    with _lock:
        if (kind, key) not in _models:
            # Only one model of a kind stays loaded: settings changed, drop the old one.
            for old in [k for k in _models if k[0] == kind]:
                del _models[old]
            _models[(kind, key)] = build()
            _loads += 1
            return _models[(kind, key)], 1
        return _models[(kind, key)], 0


def tagger(settings: Settings) -> tuple[Any, int]:
    """The tagger for `settings.tagging`, and 1 if this call loaded it (else 0)."""
    section = settings.tagging
    return _get(
        "tagger",
        section.model_dump_json(),
        lambda: build_tagger(section, device=resolve_device(section.device)),
    )


def image_backend(settings: Settings) -> tuple[Any, int]:
    """The cover backend for `settings.images`, and 1 if this call loaded it (else 0)."""
    section = settings.images
    return _get(
        "images",
        section.model_dump_json(),
        lambda: build_image_backend(section, device=resolve_device(section.device)),
    )


def loads() -> int:
    """Models loaded by this process so far."""
    return _loads
