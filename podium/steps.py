"""How a named step runs: directly in the core and tests; a flow makes each a Prefect task so it
shows in the UI. One definition, shared by the resources and the use-cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
Step = Callable[[str, Callable[[], Any]], Any]


def direct(name: str, action: Callable[[], T]) -> T:
    """Run a named step as it is."""
    return action()
