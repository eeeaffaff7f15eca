"""The journal of a job's LM answers: ``calls.jsonl`` in its run folder (``trainers.replay``).

One JSON line per answer, appended and flushed as it is paid (a killed process keeps it),
fsynced by the run store when a step ends. A line torn by a kill is cut when the journal
is opened again.

Example:
```python
journal = CallJournal(run_folder / "calls.jsonl")
journal.put(key, answer, {"cost": 0.0004, "calls": 1.0, "tokens": 312})
answer, usage = journal.get(key)
```
"""

import json
import os
import threading
from pathlib import Path
from typing import Any, TextIO

__all__ = ["CallJournal"]


class CallJournal:
    """The LM answers of one run, one JSON line ``[key, answer, usage]`` each, held in
    memory. ``usage`` is what the answer was paid (``{"cost", "calls", "tokens"}``), or
    null for an answer that cost this job nothing (a response-cache hit)."""

    def __init__(self, path: Path):
        self.path = path
        self._entries: dict[str, tuple[Any, dict | None]] = {}
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
            self._entries[key] = (value, usage)
            kept += len(line)
        if kept < len(data):  # a line torn by a kill: cut it, later lines append cleanly
            with open(self.path, "r+b") as file:
                file.truncate(kept)

    def get(self, key: str) -> tuple[Any, dict | None] | None:
        return self._entries.get(key)

    def put(self, key: str, value: Any, usage: dict | None) -> None:
        # One small buffered write per answer, on the caller's loop: a thread hop would
        # cost more than the write; the fsync (slow) happens off the loop, once per step.
        line = json.dumps([key, value, usage], ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._entries[key] = (value, usage)  # kept in memory even if the write fails
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
