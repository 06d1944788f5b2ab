"""The one table from the core's `Problem` kinds to HTTP statuses.

The core (`podium.jsonbody`, `podium.review.payloads`, …) refuses a body with a `Refused` that
names its kind; only the gateway speaks HTTP, so only this module knows which status answers it.
"""

from __future__ import annotations

from types import MappingProxyType

from podium.errors import Problem, Refused

HTTP_STATUS: MappingProxyType[Problem, int] = MappingProxyType(
    {
        Problem.UNAUTHENTICATED: 401,
        Problem.MALFORMED: 400,
        Problem.UNPROCESSABLE: 422,
        Problem.NOT_FOUND: 404,
        Problem.CONFLICT: 409,
    }
)


def http_status(refused: Refused | Problem) -> int:
    """The HTTP status that answers a refusal (or a bare problem kind)."""
    problem = refused.problem if isinstance(refused, Refused) else refused
    return HTTP_STATUS[problem]
