"""Resume without re-paying: persisted step results and a journal of LM calls.

A fit, evaluate or predict gets a run folder named by a fingerprint of what determines
its result (architecture, starting variables, data, arguments, seed). Inside it:

* ``steps/`` holds the JSON result of every finished batch and optimizer update, keyed by
  the state before the step and the step's content. Run the same job again (the same
  script, or a Prefect retry of the flow run) and finished steps replay from disk.
* ``calls.jsonl`` journals every LM answer, keyed by the request and its occurrence
  number in the run, so a step that died half-way replays the calls it had already paid
  for. A line is appended and flushed per answer (a killed process keeps it) and the file
  is fsynced when a step ends, before the step's result is stored.

Folders live under ``$SYNAPREFECT_HOME/runs/<program>/<fingerprint>/``; pass
``resume=False`` to start fresh, or delete the folder (``clear_results``).
"""

import contextlib
import contextvars
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Awaitable, Callable

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.language_models.cache import ResponseCache
from synaprefect.utils.json_utils import stable_hash

__all__ = ["RunStore", "run_store_scope", "current_journal", "results_root",
           "clear_results"]

_store: contextvars.ContextVar["RunStore | None"] = contextvars.ContextVar(
    "synaprefect_run_store", default=None
)
# The step a call belongs to: occurrence numbers count within a step (and sample), so
# replaying whole steps (which makes no calls) never shifts the numbering of later steps.
_step: contextvars.ContextVar[str] = contextvars.ContextVar("synaprefect_step", default="")
_COMPLETE = "complete.json"
# Part of every run folder's name: a change of what a folder holds starts new folders.
STORE_FORMAT = 3


def results_root() -> Path:
    from synaprefect.config import synaprefect_home

    return synaprefect_home() / "runs"


def clear_results(program_name: str | None = None) -> None:
    """Delete persisted results: of one program, or of every program."""
    target = results_root() / program_name if program_name else results_root()
    shutil.rmtree(target, ignore_errors=True)


def _encode(value: Any, schemas: dict[str, dict]) -> Any:
    if isinstance(value, JsonDataModel):
        schema_key = stable_hash(value.get_schema())[:16]
        schemas.setdefault(schema_key, value.get_schema())
        return {"__data__": value.get_json(), "__schema__": schema_key}
    if isinstance(value, dict):
        return {"__dict__": [[_encode(k, schemas), _encode(v, schemas)]
                             for k, v in value.items()]}
    if isinstance(value, (list, tuple)):
        return [_encode(v, schemas) for v in value]
    return value


def encode(value: Any) -> dict:
    """JSON for step results and keys: data models keep their values, and their schemas
    go once into a table (a batch of predictions shares one schema)."""
    schemas: dict[str, dict] = {}
    encoded = _encode(value, schemas)
    return {"schemas": schemas, "value": encoded}


def _decode(value: Any, schemas: dict[str, dict]) -> Any:
    if isinstance(value, dict) and "__data__" in value:
        return JsonDataModel(json=value["__data__"], schema=schemas[value["__schema__"]])
    if isinstance(value, dict) and "__dict__" in value:
        return {_decode(k, schemas): _decode(v, schemas) for k, v in value["__dict__"]}
    if isinstance(value, list):
        return [_decode(v, schemas) for v in value]
    return value


def decode(document: dict) -> Any:
    return _decode(document["value"], document["schemas"])


class _CallJournal:
    """The LM answers of one run, one JSON line ``[key, answer]`` each, held in memory."""

    def __init__(self, path: Path):
        self.path = path
        self._answers: dict[str, Any] = {}
        self._file = None
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
                key, value = json.loads(line)
            except (ValueError, TypeError):  # torn, or not a [key, answer] line
                break
            if not line.endswith(b"\n"):
                break
            self._answers[key] = value
            kept += len(line)
        if kept < len(data):  # a line torn by a kill: cut it, later lines append cleanly
            with open(self.path, "r+b") as file:
                file.truncate(kept)

    def get(self, key: str) -> Any | None:
        return self._answers.get(key)

    def put(self, key: str, value: Any) -> None:
        line = json.dumps([key, value], ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(line)
            self._file.flush()
            self._answers[key] = value

    def sync(self) -> None:
        with self._lock:
            if self._file is not None:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


class RunStore:
    """The persisted results of one run."""

    def __init__(self, directory: Path, fresh: bool = False):
        """``fresh`` drops what the folder holds; a folder whose job finished is always
        started afresh: only unfinished work resumes."""
        if fresh or (directory / _COMPLETE).exists():
            shutil.rmtree(directory, ignore_errors=True)
        self.directory = directory
        self._steps = ResponseCache(directory / "steps")
        self._calls = _CallJournal(directory / "calls.jsonl")
        self._occurrences: dict[str, dict[str, int]] = {}
        self._lock = threading.Lock()
        self.replayed_steps = 0
        self.replayed_calls = 0
        self.replayed_usage: dict[str, float] = {}

    def start_attempt(self) -> None:
        """A new attempt (a retried flow run) numbers its calls from zero again."""
        with self._lock:
            self._occurrences.clear()
            self.replayed_usage = {}

    def finish(self) -> None:
        """Mark the job done: running it again computes afresh instead of replaying."""
        from synaprefect.utils.json_utils import atomic_write_json

        self.close()
        atomic_write_json(self.directory / _COMPLETE, {"complete": True})

    def close(self) -> None:
        """Close the journal's file (done or not, the job no longer writes to it)."""
        self._calls.close()

    async def step(self, key_material: Any, body: Callable[[], Awaitable[Any]],
                   meter: Callable[[], dict[str, float]] | None = None) -> Any:
        """The stored result of this step, or run ``body`` and store what it returns.

        With ``meter`` (figures such as cost and calls, read before and after ``body``),
        the step also stores what it spent, and a replay adds that to
        ``replayed_usage``: a budget then counts what the first run paid.
        """
        key = stable_hash(key_material)
        stored = self._steps.get(key)
        if stored is not None:
            self.replayed_steps += 1
            with self._lock:
                for name, value in stored.get("usage", {}).items():
                    self.replayed_usage[name] = self.replayed_usage.get(name, 0.0) + value
            return decode(stored["result"])
        with self._lock:  # a retried step numbers its calls from zero again
            self._occurrences[key] = {}
        before = meter() if meter is not None else {}
        token = _step.set(key)
        try:
            result = await body()
        finally:
            _step.reset(token)
        after = meter() if meter is not None else {}
        self._calls.sync()  # the step's answers are on disk before the step is
        self._steps.put(key, {"result": encode(result),
                              "usage": {k: after[k] - before[k] for k in after}})
        return result

    def call_key(self, material: Any) -> str:
        """The journal key of an LM request: its step, its content, and how many identical
        requests came before it in that step (repeated prompts keep distinct answers)."""
        from synaprefect.modules.recording import current_sample

        step = _step.get()
        base = stable_hash([step, current_sample(), material])
        with self._lock:
            counts = self._occurrences.setdefault(step, {})
            occurrence = counts.get(base, 0)
            counts[base] = occurrence + 1
        return stable_hash([base, occurrence])

    def recorded_call(self, key: str) -> Any | None:
        value = self._calls.get(key)
        if value is not None:
            with self._lock:
                self.replayed_calls += 1
        return value

    def record_call(self, key: str, value: Any) -> None:
        self._calls.put(key, value)


@contextlib.contextmanager
def run_store_scope(store: "RunStore | None"):
    token = _store.set(store)
    try:
        yield store
    finally:
        _store.reset(token)


def current_journal() -> "RunStore | None":
    return _store.get()
