"""Errors a person caused or can fix (a bad file, an unknown id, missing config).

Every such error derives from `UserError`, whose `str()` is a one-line report; the CLIs print
it one way (`error: …`, exit code 1) through `exit_with`.

A request or body the core refuses raises a `Refused` that names its `Problem` kind; the gateway
alone maps a kind to an HTTP status (`podium.gateway.problems`), so status codes live only there.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import NoReturn


class UserError(Exception):
    """A problem to report to a person in one line (its `str()`), not a crash."""


class Problem(StrEnum):
    """Why the core refused a request or a body, without saying how a transport answers it."""

    UNAUTHENTICATED = "unauthenticated"  # signature or token missing or wrong
    MALFORMED = "malformed"  # not UTF-8, not JSON, or not the shape the route expects
    UNPROCESSABLE = "unprocessable"  # JSON that breaks our safety rules (depth, keys, numbers)
    NOT_FOUND = "not_found"  # the request names something that does not exist (a talk)
    CONFLICT = "conflict"  # the request contradicts the current state (reject a speaker's tag)


class Refused(ValueError):
    """A request or body refused as a whole; `problem` says why, `str()` says what in words."""

    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = Problem(problem)


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
