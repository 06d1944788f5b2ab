"""Stops the local stack's process groups when `podium up` dies, however it dies.

`podium up` starts this first, in its own session, and writes each child's process group id to
its stdin. A parent that exits for any reason (SIGKILL included) closes the pipe; on EOF this
stops every group it was told about (SIGTERM, then SIGKILL after a grace period) and exits.
A stack stopped normally has already stopped its groups, so this finds nothing left.

    python -m deployments.watchdog GRACE_S [MARK]   (pgids on stdin, one a line)

With MARK it also stops every process whose environment carries the stack's mark (a flow run
a worker started in a session of its own).
"""

from __future__ import annotations

import signal
import sys

from deployments.local_stack import stop_groups


def main() -> None:
    grace_s = float(sys.argv[1]) if len(sys.argv) > 1 else 5.0
    mark = sys.argv[2] if len(sys.argv) > 2 else None
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # only EOF ends the watch
    groups = [int(line) for line in sys.stdin if line.strip().isdigit()]
    stop_groups(groups, grace_s=grace_s, mark=mark)


if __name__ == "__main__":
    main()
