"""The write-pretalx use case: Podium's tags back to the pretalx events (opt-in)."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from podium.pretalx.write_back import TagWriteBackReport, write_back_tags
from podium.resources import Resources

log = logging.getLogger(__name__)


def write_pretalx(
    resources: Resources, *, urls: list[str], logger: Any = log
) -> list[TagWriteBackReport]:
    """Write organiser-accepted (and, when enabled, confident model) tags to each event.

    Does nothing unless `pretalx.write_back` is set: the token must be read-write and the
    organisers must have asked for it.
    """
    settings = resources.settings.pretalx
    if not settings.write_back:
        logger.info("pretalx write-back is off (PODIUM_PRETALX__WRITE_BACK): nothing to do")
        return []
    assert resources.pretalx is not None  # set in Resources.__post_init__
    factory = resources.pretalx

    def one(url: str) -> TagWriteBackReport:
        with factory(url) as client:
            return write_back_tags(lake=resources.lake, client=client, settings=settings)

    reports = []
    for url in urls:
        report: TagWriteBackReport = resources.step("write-pretalx-event", partial(one, url))
        logger.info("write-pretalx %s: %s", url, report.as_dict())
        reports.append(report)
    return reports
