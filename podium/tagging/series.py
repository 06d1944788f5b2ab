"""Conference series: the unit of an honest split.

Talks of `pycon-us-2016` and `pycon-us-2017` share speakers, organisers, wording and tagging
habits, so a split that puts one edition on each side measures memory, not transfer to a new
conference. Folds are therefore made of whole *series*.

The rule (`series_of`), applied to an event id:

1. lower-case it and trim spaces;
2. drop every year token: four digits 1990-2099 standing alone between separators
   (`-`, `_`, `.`, space) or glued to the end of a word (`pycon2010` -> `pycon`);
3. drop a trailing `group`/`meetup`/`meetups` word (`pydata-warsaw-group` -> `pydata-warsaw`);
4. collapse separators to single `-` and trim them at the ends;
5. map known renames onto one name (`RENAMES`: `pycon-ireland` -> `pycon-ie`,
   `flask-conf` -> `flaskcon`, ...).

An id that is nothing but a year stays as it was (it names no series of its own).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

_YEAR = re.compile(r"(?:(?<=^)|(?<=[-_. ])|(?<=[a-z]))(?:19[89]\d|20\d\d)(?=$|[-_. ])")
_SEPARATORS = re.compile(r"[-_. ]+")
_TRAILING_GROUP = re.compile(r"-(?:group|meetups?)$")

# Same conference under two ids in pyvideo (renamed, or spelled two ways).
RENAMES = {
    "pycon-ireland": "pycon-ie",
    "flask-conf": "flaskcon",
    "pyconweb": "python-web-conf",
    "write-the-docs-prague": "writethedocs-eu",
}


def series_of(event_id: str) -> str:
    """The conference series of an event id (see the module docstring for the rule)."""
    raw = event_id.strip().lower()
    name = _YEAR.sub("", raw)
    name = _SEPARATORS.sub("-", name).strip("-")
    name = _TRAILING_GROUP.sub("", name).strip("-")
    if not name:
        return raw
    return RENAMES.get(name, name)


def group_folds(groups: Sequence[str], folds: int) -> np.ndarray:
    """Fold number of each row, whole groups per fold, sizes balanced, deterministic.

    Groups are placed largest first into the currently smallest fold (ties by name), so the
    split does not depend on row order.

    Raises:
        ValueError: fewer than 2 folds, or fewer groups than folds.
    """
    sizes: dict[str, int] = {}
    for group in groups:
        sizes[group] = sizes.get(group, 0) + 1
    if folds < 2:
        raise ValueError("folds must be at least 2")
    if len(sizes) < folds:
        raise ValueError(f"{len(sizes)} groups cannot make {folds} disjoint folds")
    load = [0] * folds
    fold_of: dict[str, int] = {}
    for group in sorted(sizes, key=lambda g: (-sizes[g], g)):
        target = min(range(folds), key=lambda f: (load[f], f))
        fold_of[group] = target
        load[target] += sizes[group]
    return np.asarray([fold_of[g] for g in groups], dtype=np.int64)


def series_folds(events: Sequence[str], folds: int) -> np.ndarray:
    """Fold number of each row such that no conference series is on two sides."""
    return group_folds([series_of(e) for e in events], folds)
