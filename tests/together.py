"""Races in tests: run calls in threads of their own, released at the same moment."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

A = TypeVar("A")
T = TypeVar("T")


def all_at_once(call: Callable[[A], T], args: Sequence[A], timeout_s: float = 120) -> list[T]:
    """`call(arg)` for each of `args`, each in its own thread, all held at one barrier and then
    released together; their results in the order of `args`. A call that raised re-raises
    here; one still running after `timeout_s` is an AssertionError."""
    start = threading.Barrier(len(args))
    errors: list[BaseException] = []
    slots: dict[int, T] = {}

    def run(index: int, arg: A) -> None:
        start.wait()
        try:
            slots[index] = call(arg)
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i, arg)) for i, arg in enumerate(args)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout_s)
    if any(thread.is_alive() for thread in threads):
        raise AssertionError(f"a racing call still ran after {timeout_s} s")
    if errors:
        raise errors[0]
    return [slots[i] for i in range(len(args))]
