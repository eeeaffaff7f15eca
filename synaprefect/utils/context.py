"""Context variables set for the length of a block."""

import contextlib
import contextvars
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["bound"]

T = TypeVar("T")


@contextlib.contextmanager
def bound(variable: contextvars.ContextVar[T], value: T) -> Iterator[T]:
    """Set ``variable`` to ``value`` inside the block (and the tasks it starts).

    Example: ``with bound(_phase, "reward"): ...``
    """
    token = variable.set(value)
    try:
        yield value
    finally:
        variable.reset(token)
