"""Models kept loaded for the life of a process: the warm executor and Dask backfill workers.

A model is built on first use and reused by every later run in the same process; changed model
settings build afresh. `loads()` counts real loads, so runs can report "0 model loads" honestly.
The tagger's neighbour history is kept here too, in the same one cache of the process: the warm
path's (`history`, `refresh_history`: loaded once, then refreshed by what changed, its
calibration warmed before a run sees it) and a backfill run's (`run_history`: read once per
run and worker process).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from podium import metrics
from podium.devices import resolve_device
from podium.embedding_cache import EmbeddingCache, encoder_identity
from podium.embeddings import Encoder
from podium.images import ImageSettings, build_image_backend
from podium.lake import Lake
from podium.settings import Settings
from podium.tagging import Tagger, TaggingSettings, TagHistory, build_tagger, load_history
from podium.warm_history import RefreshStats, WarmHistory

log = logging.getLogger(__name__)

T = TypeVar("T")
S = TypeVar("S", TaggingSettings, ImageSettings)

_lock = threading.Lock()
# The process's one cache: (kind, key) -> a model or a history, one of each kind at a time.
_kept: dict[tuple[str, str], Any] = {}
_loads = 0


def _get(kind: str, key: str, build: Callable[[], T], *, model: bool = True) -> tuple[T, int]:
    """The kept value of `kind` for `key`, and 1 if this call built it (else 0).

    Only one value of a kind stays: a new key (changed settings, another run) drops the old
    one. A model's build counts as a load (`loads()`, the `MODEL_LOADS` metric).
    """
    global _loads
    with _lock:
        if (kind, key) not in _kept:
            for old in [k for k in _kept if k[0] == kind]:
                del _kept[old]
            _kept[(kind, key)] = build()
            if model:
                _loads += 1
                metrics.MODEL_LOADS.labels(kind).inc()
            return _kept[(kind, key)], 1
        return _kept[(kind, key)], 0


def _model(kind: str, section: S, build: Callable[..., T]) -> tuple[T, int]:
    # The model a settings section describes, kept by its settings: `build(section, device=)`.
    return _get(
        kind,
        section.model_dump_json(),
        lambda: build(section, device=resolve_device(section.device)),
    )


def tagger(settings: Settings) -> tuple[Tagger, int]:
    """The tagger for `settings.tagging`, and 1 if this call loaded it (else 0)."""
    return _model("tagger", settings.tagging, build_tagger)


def image_backend(settings: Settings) -> tuple[Any, int]:
    """The cover backend for `settings.images`, and 1 if this call loaded it (else 0)."""
    return _model("images", settings.images, build_image_backend)


def loads() -> int:
    """Models loaded by this process so far."""
    return _loads


_refreshing = threading.Lock()  # one background refresh at a time
_last_refresh = 0.0


def history(settings: Settings, encoder: Encoder, lake: Lake | None = None) -> WarmHistory:
    """This process's warm history of the settings' lake for `encoder` (made on first use)."""
    key = f"{settings.lake_url}\n{encoder_identity(encoder)}"  # one lake and encoder a process
    value, _ = _get(
        "history",
        key,
        lambda: WarmHistory(lake or Lake.from_settings(settings), encoder),
        model=False,
    )
    return value


def run_history(lake: Lake, encoder: Encoder, run_key: str) -> TagHistory:
    """A backfill run's history, read once per worker process and run (`run_key`).

    The history (speaker and organiser tags) does not change while the run writes model tags;
    the tagger masks each talk's own row.
    """
    value, _ = _get(
        "run-history",
        run_key,
        lambda: load_history(lake=lake, encoder=encoder, cache=EmbeddingCache(lake)),
        model=False,
    )
    return value


def refresh_history(settings: Settings, lake: Lake | None = None) -> RefreshStats | None:
    """Refresh the tagger's warm history and warm its calibration before publishing it.

    The warm-up tags a throwaway talk (nothing written): that fits the tagger's head and
    calibrates its thresholds on the new snapshot, so the next run finds them cached. None
    when there is no vocabulary yet (nothing to calibrate against).
    """
    from podium.models import Talk
    from podium.vocabulary import VocabularyError, load_vocabulary

    model, _ = tagger(settings)
    warm_history = history(settings, model.encoder, lake)
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


def refresh_history_soon(
    settings: Settings, *, min_interval_s: float, lake: Lake | None = None
) -> bool:
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
