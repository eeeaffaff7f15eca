"""The journal of a job's LM answers: ``calls.jsonl`` in its run folder (``trainers.replay``).

One JSON line per answer, appended and flushed as it is paid (a killed process keeps it),
fsynced by the run store when a step ends. A line torn by a kill is cut when the journal
is opened again. An answer that came back broken (not following its schema) is paid for
but never replayed: its line holds a null answer under a key of its own
(``broken_key(<call key>)``, unique to that payment), so that its price still counts.
A call that failed for good is journaled the same way, priced one call.

Example:
```python
journal = CallJournal(run_folder / "calls.jsonl")
journal.put(key, answer, {"cost": 0.0004, "calls": 1.0, "tokens": 312})
answer, usage = journal.get(key)
journal.put(broken_key(key), None, {"cost": 0.0004, "calls": 0.0, "tokens": 298})
journal.broken(key)  # [("<key>!broken-5f0c...", {"cost": 0.0004, ...})]
```
"""

import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any, TextIO

__all__ = ["CallJournal", "broken_key"]

_BROKEN = "!broken-"


def broken_key(key: str) -> str:
    """The journal key of one broken answer to the call ``key``: unique to that payment,
    so that two processes (or machines) paying for the same call never share one."""
    return f"{key}{_BROKEN}{uuid.uuid4().hex}"


def _call_key_of(key: str) -> str:
    # The call a broken answer's key belongs to (any other key: itself).
    return key.rpartition(_BROKEN)[0] or key


class CallJournal:
    """The LM answers of one run, one JSON line ``[key, answer, usage]`` each, held in
    memory. ``usage`` is what the answer was paid (``{"cost", "calls", "tokens"}``), or
    null for an answer that cost this job nothing (a response-cache hit)."""

    def __init__(self, path: Path):
        self.path = path
        self._entries: dict[str, tuple[Any, dict | None]] = {}
        self._broken: dict[str, dict[str, dict]] = {}  # call key -> {own key: price}
        self._file: TextIO | None = None
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        kept = 0
        for line in data.splitlines(keepends=True):
            try:
                key, value, usage = json.loads(line)
            except (ValueError, TypeError):  # torn, or not a [key, answer, usage] line
                break
            if not line.endswith(b"\n"):
                break
            self._keep(key, value, usage)
            kept += len(line)
        if kept < len(data):  # a line torn by a kill: cut it, later lines append cleanly
            with open(self.path, "r+b") as file:
                file.truncate(kept)

    def _keep(self, key: str, value: Any, usage: dict | None) -> None:
        if _BROKEN in key:  # a broken answer's price
            self._broken.setdefault(_call_key_of(key), {})[key] = usage or {}
        else:
            self._entries[key] = (value, usage)

    def get(self, key: str) -> tuple[Any, dict | None] | None:
        return self._entries.get(key)

    def knows(self, key: str) -> bool:
        """Whether a line of ``key`` (an answer's or a broken answer's) is journaled."""
        with self._lock:
            return key in self._entries or key in self._broken.get(_call_key_of(key), ())

    def broken(self, key: str) -> list[tuple[str, dict]]:
        """The broken answers paid for the call ``key``: ``(their key, their price)``."""
        with self._lock:
            return list(self._broken.get(key, {}).items())

    def put(self, key: str, value: Any, usage: dict | None) -> None:
        """Journal ``value`` (None: a broken answer, under a ``broken_key``) and its price."""
        # One small buffered write per answer, on the caller's loop: a thread hop would
        # cost more than the write; the fsync (slow) happens off the loop, once per step.
        line = json.dumps([key, value, usage], ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._keep(key, value, usage)  # kept in memory even if the write fails
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(line + "\n")
            self._file.flush()

    def sync(self) -> None:
        with self._lock:
            if self._file is not None:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
