"""Where a model looks for an answer it already paid for, before it sends a request.

A job (``fit``, ``evaluate``, ``predict``) installs a ``CallStore`` with ``use_call_store``;
models then ask it first, then their response cache, then the network (``ModelBase``).
Keys number identical requests *within a call scope*: every attempt of a retryable unit of
work (a task, a sample, a step) opens a fresh scope with ``call_scope``, so a retried
attempt numbers its requests from zero again and finds the answers of the attempt that
failed, whether the retry comes from a task, a batch, a flow or a rerun script.

Example:
```python
with use_call_store(journal), call_scope("batch", 3), call_scope("sample", 0):
    answer = await language_model(messages)   # replayed if this job already paid for it
```
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from synaprefect.utils.context import bound
from synaprefect.utils.json_utils import stable_hash

__all__ = ["CallStore", "use_call_store", "current_call_store", "call_scope", "call_key"]


class CallStore(Protocol):
    """The answers of one job, by call key."""

    def lookup(self, key: str) -> Any | None:
        """The answer stored under ``key``, or None."""

    def record(self, key: str, value: Any, usage: dict[str, float] | None = None) -> None:
        """Store ``value`` (JSON) under ``key``, with what it was paid (``{"cost",
        "calls", "tokens"}``; None when it cost nothing); it must survive a kill once
        this returns."""

    def record_broken(self, key: str, usage: dict[str, float]) -> None:
        """The call ``key`` cost ``usage`` without an answer: a broken answer (not
        following its schema), or the call's final failure (one call). Never replayed,
        but its price counts."""


@dataclass
class _Scope:
    path: tuple = ()
    counts: dict[str, int] = field(default_factory=dict)


_store: contextvars.ContextVar[CallStore | None] = contextvars.ContextVar(
    "synaprefect_call_store", default=None
)
_scope: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar(
    "synaprefect_call_scope", default=None
)


@contextlib.contextmanager
def use_call_store(store: CallStore | None) -> Iterator[CallStore | None]:
    """Make ``store`` the call store of the block (None: no store), numbering its calls
    in a root scope of their own."""
    with bound(_store, store), bound(_scope, _Scope()):
        yield store


def current_call_store() -> CallStore | None:
    return _store.get()


def call_scope(*parts: Any) -> AbstractContextManager[Any]:
    """Open a scope below the current one: requests are numbered from zero inside it."""
    parent = _scope.get()
    return bound(_scope, _Scope((parent.path if parent else ()) + tuple(parts)))


def call_key(material: Any) -> str | None:
    """The store key of a request: its scope, its content and how many identical requests
    came before it in that scope (a repeated prompt keeps distinct answers). None when no
    store is installed: nothing is numbered then."""
    scope = _scope.get()
    if _store.get() is None or scope is None:
        return None
    base = stable_hash([scope.path, material])
    occurrence = scope.counts.get(base, 0)
    scope.counts[base] = occurrence + 1
    return stable_hash([base, occurrence])
