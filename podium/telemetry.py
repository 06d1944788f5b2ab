"""Podium never lets Prefect phone home: usage analytics are off in every process it starts.

Prefect's server sends a heartbeat to its makers unless `PREFECT_SERVER_ANALYTICS_ENABLED` is
false, and its client sends events unless `DO_NOT_TRACK` is set. `podium` sets both before it
imports Prefect (an ephemeral server started by `podium backfill` inherits them), and the local
stack puts them in every child's environment.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

ANALYTICS_OFF = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def analytics_off(env: MutableMapping[str, str] | None = None) -> MutableMapping[str, str]:
    """Turn analytics off in `env` (this process's environment by default); returns it."""
    target = os.environ if env is None else env
    target.update(ANALYTICS_OFF)
    return target
