"""Resume without re-paying: persisted step results and a journal of LM calls.

A fit, evaluate or predict gets a run folder named by a fingerprint of what determines
its result (architecture, prompts, starting variables, models and sampling settings,
data, options, seed; never concurrency, timeouts, retries or caching). Inside it:

* ``steps/`` holds the JSON result of every finished batch and optimizer update, keyed by
  the step's place in the job and its content. Run the same job again (the same script,
  or a Prefect retry of the flow run) and finished steps replay from disk.
* ``calls.jsonl`` journals every LM answer and its price (the job's ``CallStore``): a
  step, task or sample that died half-way replays the calls it had already paid for, and
  a budget still counts what they cost. A line is appended and flushed per answer (a
  killed process keeps it) and the file is fsynced when a step ends, before the step's
  result is stored.

Folders live under ``$SYNAPREFECT_HOME/runs/<program>/<fingerprint>/``. A finished job's
folder is removed (``config.set_kept_runs`` keeps the last few); pass ``resume=False`` to
start fresh, or ``clear_results`` / ``synaprefect runs prune`` to delete folders.
"""

import asyncio
import contextvars
import logging
import shutil
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.language_models.cache import ResponseCache
from synaprefect.language_models.call_store import call_scope
from synaprefect.language_models.usage import add_usage
from synaprefect.storage import Location, location, storage_root
from synaprefect.trainers.call_journal import CallJournal, broken_key
from synaprefect.utils.context import bound
from synaprefect.utils.json_utils import atomic_write_json, stable_hash

__all__ = [
    "RunStore",
    "results_root",
    "durable_root",
    "clear_results",
    "list_runs",
    "prune_runs",
    "encode",
    "decode",
]

logger = logging.getLogger("synaprefect.trainers")
_COMPLETE = "complete.json"
# Part of every run folder's name: a change of what a folder holds starts new folders.
STORE_FORMAT = 5


def results_root() -> Path:
    """The local folder of run stores (with remote storage: their write-through cache)."""
    from synaprefect.config import synaprefect_home

    return synaprefect_home() / "runs"


def durable_root() -> Location | None:
    """Where run stores are kept for good when the storage setting is not the local
    home (``SYNAPREFECT_STORAGE=s3://...``); None when it is."""
    root = storage_root()
    if root.is_local and Path(root.path).resolve() == results_root().parent.resolve():
        return None
    return root / "runs"


def _runs_root() -> Location:
    return durable_root() or location(results_root())


def clear_results(program_name: str | None = None) -> None:
    """Delete persisted results: of one program, or of every program."""
    for root in {
        location(results_root()).url: location(results_root()),
        _runs_root().url: _runs_root(),
    }.values():
        (root / program_name if program_name else root).remove()


def list_runs(program_name: str | None = None) -> list[dict]:
    """The run folders kept in the storage: ``{"program", "job", "path", "finished",
    "finished_at", "bytes"}`` each, newest finished first, then the unfinished ones
    (jobs that would resume).

    Example: ``[r["job"] for r in list_runs("qa") if not r["finished"]]``
    """
    root = _runs_root()
    programs = [root / program_name] if program_name else root.folders()
    runs = []
    for program in programs:
        for folder in program.folders():
            files = folder.files()
            finished_at = None
            if _COMPLETE in files:
                try:
                    finished_at = float((folder / _COMPLETE).read_json().get("finished_at", 0))
                except (ValueError, OSError, AttributeError):
                    finished_at = 0.0
            runs.append(
                {
                    "program": program.name,
                    "job": folder.name,
                    "path": folder.url,
                    "finished": _COMPLETE in files,
                    "finished_at": finished_at,
                    "bytes": sum(files.values()),
                }
            )
    return sorted(runs, key=lambda r: (not r["finished"], -(r["finished_at"] or 0.0)))


def prune_runs(
    program_name: str | None = None, keep: int = 0, unfinished: bool = False
) -> list[str]:
    """Delete the folders of finished jobs but the newest ``keep`` of each program (and,
    with ``unfinished=True``, also jobs that never finished: they will not resume).
    Returns the deleted paths or URLs.

    Example: ``prune_runs("qa", keep=2)``
    """
    removed: list[str] = []
    seen: dict[str, int] = {}
    root = _runs_root()
    for run in list_runs(program_name):
        if not run["finished"] and not unfinished:
            continue
        seen[run["program"]] = seen.get(run["program"], 0) + 1
        if run["finished"] and seen[run["program"]] <= keep:
            continue
        (root / run["program"] / run["job"]).remove()
        shutil.rmtree(results_root() / run["program"] / run["job"], ignore_errors=True)
        removed.append(run["path"])
    return removed


def _encode(value: Any, schemas: dict[str, dict], keys: dict[int, str]) -> Any:
    if isinstance(value, JsonDataModel):
        schema = value.get_schema()
        # A batch's samples share schema objects: hash each object once per encode().
        schema_key = keys.get(id(schema))
        if schema_key is None:
            schema_key = keys[id(schema)] = stable_hash(schema)[:16]
            schemas.setdefault(schema_key, schema)
        return {"__data__": value.get_json(), "__schema__": schema_key}
    if isinstance(value, dict):
        return {
            "__dict__": [
                [_encode(k, schemas, keys), _encode(v, schemas, keys)] for k, v in value.items()
            ]
        }
    if isinstance(value, (list, tuple)):
        return [_encode(v, schemas, keys) for v in value]
    return value


def encode(value: Any) -> dict:
    """JSON for step results and keys: data models keep their values, and their schemas
    go once into a table (a batch of predictions shares one schema)."""
    schemas: dict[str, dict] = {}
    encoded = _encode(value, schemas, {})
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


# The LM answers used inside the current step, ``[answer, usage]`` by call key: what
# the step cost, and what it uploads with it to remote storage.
_step_answers: contextvars.ContextVar[dict | None] = contextvars.ContextVar(
    "synaprefect_step_answers", default=None
)


class RunStore:
    """The persisted results of one job; its ``CallStore`` too (``lookup``/``record``).

    ``directory`` is local: the journal appended per answer, and the steps. With
    ``remote`` (a folder of the storage setting, e.g. on S3), each finished step and the
    answers paid inside it are also written there as whole objects when the step ends,
    and a store opened on another machine reads them back: a job killed anywhere
    resumes anywhere, re-paying at most the steps in flight.
    """

    def __init__(self, directory: Path, fresh: bool = False, remote: Location | None = None):
        """``fresh`` drops what the folder holds; a folder whose job finished is always
        started afresh: only unfinished work resumes."""
        self.remote = remote
        if remote is not None and (fresh or (remote / _COMPLETE).exists()):
            remote.remove()
            fresh = True
        if fresh or (directory / _COMPLETE).exists():
            shutil.rmtree(directory, ignore_errors=True)
        self.directory = directory
        self._steps = ResponseCache(directory / "steps")
        self._calls = CallJournal(directory / "calls.jsonl")
        self._lock = threading.Lock()
        self.replayed_steps = 0
        self.replayed_calls = 0
        self.replayed_usage: dict[str, float] = {}
        # Journal answers and steps whose cost ``replayed_usage`` has (reset with it by
        # ``start_attempt``), and the answers this process paid (its models' counters
        # have them, for good), with the answers' prices of the steps it stored.
        self._counted: set[str] = set()
        self._paid_here: set[str] = set()
        self._stored_here: dict[str, dict[str, dict]] = {}
        if remote is not None:
            self._pull(remote)

    @property
    def url(self) -> str:
        return self.remote.url if self.remote is not None else str(self.directory)

    def _pull(self, remote: Location) -> None:
        """Copy what remote storage holds and this machine lacks (another machine ran
        the job before)."""
        for name, document in (remote / "steps").read_all("step").items():
            key = name[: -len(".json")]
            if self._steps.get(key) is None:
                self._steps.put(key, document)
        for answers in (remote / "calls").read_all("answers").values():
            for key, (value, usage) in answers.items():
                if not self._calls.knows(key):
                    self._calls.put(key, value, usage)
        self._calls.sync()

    def start_attempt(self) -> None:
        """A new attempt (a retried flow run) counts what it replays afresh."""
        with self._lock:
            self.replayed_usage = {}
            self.replayed_steps = self.replayed_calls = 0
            self._counted = set()

    def finish(self) -> None:
        """Mark the job done, then apply retention (``config.kept_runs``): running it
        again computes afresh instead of replaying."""
        from synaprefect.config import kept_runs

        self.close()
        marker = {"complete": True, "finished_at": time.time()}
        try:
            if self.remote is not None:  # the storage's copy is the one that counts
                (self.remote / _COMPLETE).write_json(marker)
            atomic_write_json(self.directory / _COMPLETE, marker)
            if self.remote is not None:
                shutil.rmtree(self.directory, ignore_errors=True)  # storage keeps it
            prune_runs(self.directory.parent.name, keep=kept_runs())
        except OSError as error:  # housekeeping: the job's result stands
            logger.warning(
                "Run state of %s not cleaned up (%s: %s); `synaprefect runs --prune` removes it.",
                self.url,
                type(error).__name__,
                error,
            )

    def close(self) -> None:
        """Close the journal's file (done or not, the job no longer writes to it)."""
        self._calls.close()

    async def step(self, key_material: Any, body: Callable[[], Awaitable[Any]]) -> Any:
        """The stored result of this step, or run ``body`` and store what it returns,
        with what its LM answers cost (paid now or replayed from the journal). A replay
        adds that to ``replayed_usage``: a budget then counts what the first run paid.
        """
        key = stable_hash(key_material)
        stored = self._steps.get(key)
        if stored is not None:
            self.replayed_steps += 1
            with self._lock:
                prices = self._stored_here.get(key)
                if prices is None:  # stored by an earlier process: its price as a whole
                    self._count(key, stored.get("usage", {}))
                else:  # stored here: count only what another process paid
                    for own, price in prices.items():
                        self._count(own, price)
            return decode(stored["result"])
        answers: dict[str, Any] = {}
        try:
            # Every attempt numbers its calls from zero; its answers go with the step.
            with call_scope("step", key), bound(_step_answers, answers):
                result = await body()
        except BaseException:
            remote = self.remote
            if remote is not None and answers:  # what it paid, for another machine
                await asyncio.to_thread(_upload_answers, remote, key, answers)
            raise
        usage: dict[str, float] = {}
        for _, paid in answers.values():
            add_usage(usage, paid or {})
        document = {"result": encode(result), "usage": usage}
        with self._lock:  # before it is stored: an identical step replays what it paid
            self._stored_here[key] = {
                own: price for own, (_, price) in answers.items() if price is not None
            }
        await asyncio.to_thread(self._persist, key, document, answers)
        return result

    def _persist(self, key: str, document: dict, answers: dict) -> None:
        # Answers before their step, the storage before the local copy: a step is never
        # stored without its answers, nor stored here but missing from the storage.
        self._calls.sync()
        if self.remote is not None:
            if answers:
                (self.remote / "calls" / f"{key}.json").write_json(answers)
            (self.remote / "steps" / f"{key}.json").write_json(document)
        self._steps.put(key, document)

    # ---- CallStore ----------------------------------------------------------------------

    def lookup(self, key: str) -> Any | None:
        entry = self._calls.get(key)
        if entry is None:
            return None
        with self._lock:
            self.replayed_calls += 1
        self._price(key, entry)
        return entry[0]

    def record(self, key: str, value: Any, usage: dict[str, float] | None = None) -> None:
        # Known to this process first: if the file write fails, a retry still replays it.
        if usage is not None:
            with self._lock:
                self._paid_here.add(key)
        self._price(key, (value, usage))
        self._calls.put(key, value, usage)

    def record_broken(self, key: str, usage: dict[str, float]) -> None:
        """The call ``key`` cost ``usage`` without an answer (a broken answer, or its
        final failure, one call): never replayed, it counts in the step's price and in
        the budget of a job that resumes."""
        own = broken_key(key)
        with self._lock:  # paid here, before the write: a failed write must not recount it
            self._paid_here.add(own)
        try:
            self._calls.put(own, None, usage)
        finally:
            self._price(key, None)

    def _price(self, key: str, answer: tuple[Any, dict | None] | None) -> None:
        """Count the ``answer`` to ``key`` and the broken answers paid for it: all in the
        current step's answers; once in ``replayed_usage`` those paid by an earlier
        process, or by an earlier attempt whose ``replayed_usage`` was reset."""
        priced = [(key, *answer)] if answer is not None else []
        priced += [(own, None, price) for own, price in self._calls.broken(key)]
        answers = _step_answers.get()
        with self._lock:
            for own, value, price in priced:
                if answers is not None:
                    answers[own] = [value, price]
                if price is not None:
                    self._count(own, price)

    def _count(self, key: str, price: dict) -> None:
        # Under ``_lock``. What this process paid is in its models' counters already.
        if key not in self._counted and key not in self._paid_here:
            self._counted.add(key)
            add_usage(self.replayed_usage, price)


def _upload_answers(remote: Location, key: str, answers: dict) -> None:
    try:
        (remote / "calls" / f"{key}.json").write_json(answers)
    except OSError:  # the step's own error matters more; the local journal has them
        pass
