"""Automatic, session-unique names (``generator``, ``generator_1``, ...)."""

import re
import threading
from collections import defaultdict

_lock = threading.Lock()
_counters: dict[str, int] = defaultdict(int)


def to_snake_case(name: str) -> str:
    """``ChainOfThought`` -> ``chain_of_thought``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return name.replace("-", "_").lower()


def auto_name(prefix: str) -> str:
    """Return ``prefix`` the first time, then ``prefix_1``, ``prefix_2``..."""
    prefix = to_snake_case(prefix)
    with _lock:
        count = _counters[prefix]
        _counters[prefix] += 1
    return prefix if count == 0 else f"{prefix}_{count}"


def reset_names() -> None:
    with _lock:
        _counters.clear()


def validate_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(
            f"{what} name must be a non-empty string without '/', got {name!r}. "
            "Pass e.g. name='my_module'."
        )
    return name
