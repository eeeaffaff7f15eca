"""A cache of what is derived from objects that are read and never changed, such as
schemas, found by the object's identity.

A batch's values share their schema objects (a data model class's schema, a
``Generator``'s output schema), so a compiled validator or a masked schema is made once
per schema object instead of once per sample, without hashing the schema each time.
"""

from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

__all__ = ["IdentityCache"]

T = TypeVar("T")


class IdentityCache(Generic[T]):
    """``cache.get(obj, *options)``: ``compute(obj, *options)``, made once per object
    and options while the object lives. Each entry holds its object, so that the
    object's ``id`` is not reused by another while the entry exists; past ``maxsize``
    entries the cache starts over.

    Example:
    ```python
    validators = IdentityCache(lambda schema: Draft202012Validator(schema))
    schema = Answer.get_schema()  # a new copy per call: keep the one object
    validators.get(schema) is validators.get(schema)  # True: made once
    ```
    """

    def __init__(self, compute: Callable[..., T], maxsize: int = 256) -> None:
        self._compute = compute
        self._maxsize = maxsize
        self._entries: dict[tuple, tuple[Any, T]] = {}

    def get(self, obj: Any, *options: Hashable) -> T:
        key = (id(obj), *options)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is obj:
            return entry[1]
        value = self._compute(obj, *options)
        if len(self._entries) >= self._maxsize:
            self._entries.clear()
        self._entries[key] = (obj, value)
        return value
