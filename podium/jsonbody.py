"""Strict JSON for untrusted request bodies: bounded nesting, no duplicate keys, no huge numbers.

`json.loads` recurses once per nesting level (a body of 100k `[` raises RecursionError), turns
an integer literal over 4,300 digits into a bare ValueError, accepts NaN/Infinity, and lets the
last of two equal keys win silently. `loads_strict` refuses each of these with a `JsonRefused`
that names its `Problem`: MALFORMED (not JSON) or UNPROCESSABLE (JSON that breaks our rules).

The nesting depth is measured before parsing, by a linear scan without recursion.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from podium.errors import Problem, Refused

DEFAULT_MAX_DEPTH = 32
MAX_INT_DIGITS = 100

# A JSON string literal (unrolled-loop form: linear, no backtracking), removed before counting
# brackets so that "[[[" inside a title is not nesting.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JsonRefused(Refused):
    """A body refused as a whole; `problem` is MALFORMED or UNPROCESSABLE."""


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON `text` (0 for a scalar); no recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if not brackets:
        return 0
    return max(accumulate(_STEP[c] for c in brackets))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise JsonRefused(Problem.UNPROCESSABLE, f"duplicate key {key[:60]!r} in one object")
        out[key] = value
    return out


def _parse_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_INT_DIGITS:
        raise JsonRefused(
            Problem.UNPROCESSABLE,
            f"integer literal of {len(literal)} digits; at most {MAX_INT_DIGITS} accepted",
        )
    return int(literal)


def _parse_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JsonRefused(Problem.UNPROCESSABLE, f"number {literal[:40]} is out of range")
    return value


def _refuse_constant(name: str) -> Any:
    raise JsonRefused(Problem.MALFORMED, f"{name} is not valid JSON")


def parse_text(text: str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """`json.loads` with the rules of `loads_strict`, for files: syntax errors stay
    `json.JSONDecodeError` (callers word them), rule violations raise `JsonRefused`."""
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JsonRefused(
            Problem.UNPROCESSABLE, f"JSON nests {depth} levels deep; at most {max_depth} accepted"
        )
    return json.loads(
        text,
        object_pairs_hook=_no_duplicates,
        parse_int=_parse_int,
        parse_float=_parse_float,
        parse_constant=_refuse_constant,
    )


def loads_strict(body: bytes | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """Parse an untrusted JSON body.

    Args:
        body: the raw body (UTF-8) or its text.
        max_depth: deepest nesting of arrays/objects accepted.

    Returns:
        The parsed value.

    Raises:
        JsonRefused: MALFORMED when the body is not UTF-8 or not JSON (NaN and Infinity
            included); UNPROCESSABLE when it nests deeper than `max_depth`, repeats a key
            within one object, has an integer of more than `MAX_INT_DIGITS` digits or a number
            beyond float range.
    """
    if isinstance(body, bytes):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonRefused(Problem.MALFORMED, "body is not UTF-8") from None
    else:
        text = body
    try:
        return parse_text(text, max_depth=max_depth)
    except JsonRefused:
        raise
    except json.JSONDecodeError as error:
        raise JsonRefused(
            Problem.MALFORMED,
            f"body is not JSON: {error.msg} at line {error.lineno} column {error.colno}",
        ) from None
    except (ValueError, RecursionError) as error:  # belt and braces: never a 500
        raise JsonRefused(Problem.MALFORMED, f"body is not JSON: {type(error).__name__}") from None
