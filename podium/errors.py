"""Errors a person caused or can fix (a bad file, an unknown id, missing config).

Every such error derives from `UserError`, whose `str()` is a one-line report; the CLIs print
it one way (`error: …`, exit code 1) through `exit_with`. The gateway turns request problems
into HTTP answers itself: status codes live only there.
"""

from __future__ import annotations

import sys
from typing import NoReturn


class UserError(Exception):
    """A problem to report to a person in one line (its `str()`), not a crash."""


# What the CLIs report in one line instead of a traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError, TimeoutError)


def one_line(error: BaseException | str) -> str:
    """The first line of an error's message (its type's name when it has none)."""
    text = str(error)
    return text.splitlines()[0] if text.strip() else type(error).__name__


def exit_with(error: BaseException | str) -> NoReturn:
    """Print `error: <one line>` on stderr and exit with code 1: every CLI's way to fail."""
    sys.stderr.write(f"error: {one_line(error)}\n")
    sys.stderr.flush()
    raise SystemExit(1)
