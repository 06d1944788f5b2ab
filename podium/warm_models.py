"""Models kept loaded for the life of a process: the warm executor and Dask backfill workers.

A model is built on first use and reused by every later run in the same process; changed model
settings build afresh. `loads()` counts real loads, so runs can report "0 model loads" honestly.
The tagger's neighbour history is kept here too (`history`, `refresh_history`): loaded once,
then refreshed by what changed, its calibration warmed before a run sees it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from podium import metrics
from podium.devices import resolve_device
from podium.images import build_image_backend
from podium.settings import Settings
from podium.tagging import build_tagger
from podium.warm_history import RefreshStats, WarmHistory

log = logging.getLogger(__name__)

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
            metrics.MODEL_LOADS.labels(kind).inc()
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


_histories: dict[tuple[str, str], WarmHistory] = {}
_refreshing = threading.Lock()  # one background refresh at a time
_last_refresh = 0.0


def history(settings: Settings, encoder: Any, lake: Any = None) -> WarmHistory:
    """This process's warm history of the settings' lake for `encoder` (made on first use)."""
    from podium.embedding_cache import encoder_identity
    from podium.lake import Lake

    key = (settings.lake_url, encoder_identity(encoder))
    with _lock:
        if key not in _histories:
            _histories.clear()  # one lake and one encoder per process
            _histories[key] = WarmHistory(lake or Lake.from_settings(settings), encoder)
        return _histories[key]


def refresh_history(settings: Settings, lake: Any = None) -> RefreshStats | None:
    """Refresh the tagger's warm history and warm its calibration before publishing it.

    The warm-up tags a throwaway talk (nothing written): that fits the tagger's head and
    calibrates its thresholds on the new snapshot, so the next run finds them cached. None
    when there is no vocabulary yet (nothing to calibrate against).
    """
    from podium.models import Talk
    from podium.vocabulary import VocabularyError, load_vocabulary

    model, _ = tagger(settings)
    encoder = getattr(model, "encoder", None)
    if encoder is None:
        return None
    warm_history = history(settings, encoder, lake)
    try:
        vocabulary = load_vocabulary(lake=warm_history.lake)
    except VocabularyError:
        return None
    probe = Talk(talk_id="warm-up", title="Warming up the history", description="A warm-up.")
    stats = warm_history.refresh(
        warm=lambda snapshot: model.tag([probe], vocabulary=vocabulary, history=snapshot)
    )
    if stats.changed:
        log.info(
            "history refreshed: %d talks (%d re-read, %d removed, %d vectors fetched) in %.2f s %s",
            stats.rows, stats.reread, stats.removed, stats.embedded, stats.seconds,
            {k: round(v, 2) for k, v in stats.steps.items()},
        )  # fmt: skip
    return stats


def refresh_history_soon(settings: Settings, *, min_interval_s: float, lake: Any = None) -> bool:
    """Start `refresh_history` in a background thread unless one runs or one ran recently.

    Returns whether a refresh was started. Runs keep using the published snapshot meanwhile.
    """
    global _last_refresh
    if time.monotonic() - _last_refresh < min_interval_s or not _refreshing.acquire(False):
        return False
    _last_refresh = time.monotonic()

    def run() -> None:
        try:
            refresh_history(settings, lake)
        except Exception:  # noqa: BLE001 - the next refresh tries again; runs keep the old one
            log.exception("refreshing the warm history failed")
        finally:
            _refreshing.release()

    threading.Thread(target=run, name="warm-history", daemon=True).start()
    return True


def wait_for_refresh(timeout_s: float = 600.0) -> None:
    """Block until no background refresh runs (tests, and a clean executor stop)."""
    if _refreshing.acquire(timeout=timeout_s):
        _refreshing.release()
