"""``Job``: the run context of one ``fit``, ``evaluate`` or ``predict``.

A job owns what a run needs besides the program: the runtime (Prefect or plain asyncio),
the run store that makes it resumable (and is its LM call store), the keys of its steps,
the names of its task runs, the remote template of a task runner, and the busy guard.
The program's code reads it with ``current_job()``; outside a job there is none, and a
program called directly runs as plain coroutines.

Example:
```python
job = Job(program, "evaluate", get_runtime())
logs = await job.run(body, data=samples, targets=targets, options={"batch_size": 8})
```
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, cast

from synaprefect.language_models.base import result_settings
from synaprefect.language_models.call_store import call_scope, use_call_store
from synaprefect.modules.recording import (
    current_recorder,
    recording,
)
from synaprefect.modules.side_effects import use_task_runner
from synaprefect.trainers.replay import (
    STORE_FORMAT,
    RunStore,
    durable_root,
    encode,
    results_root,
)
from synaprefect.trainers.runtime import Runtime
from synaprefect.utils.context import bound
from synaprefect.utils.json_utils import stable_hash
from synaprefect.utils.memory import frozen_heap

if TYPE_CHECKING:
    from synaprefect.programs import Program
    from synaprefect.trainers.host import ProgramHost

__all__ = ["Job", "current_job", "run_task", "identity"]

_job: contextvars.ContextVar[Job | None] = contextvars.ContextVar("synaprefect_job", default=None)
# The prefix of task run names ("epoch-2-batch-3-"): a context variable, so batches that
# run at once (on a task runner) name their tasks apart.
_prefix: contextvars.ContextVar[str] = contextvars.ContextVar("synaprefect_task_prefix", default="")


def current_job() -> Job | None:
    return _job.get()


async def run_task(name: str, body: Callable[[], Awaitable[Any]], *, run_name: str) -> Any:
    """``body`` as a task of the current job (plain await outside a job)."""
    job = current_job()
    if job is None:
        return await body()
    return await job.task(name, body, run_name=run_name)


def identity(obj: Any) -> Any:
    """What an object contributes to result keys: its config without operational model
    settings, or, when it has none (code-backed modules, lambdas), its class and code."""
    try:
        return [type(obj).__qualname__, result_settings(obj.get_config())]
    except (NotImplementedError, AttributeError, TypeError):
        code = [v.__code__.co_code.hex() for v in vars(obj).values() if hasattr(v, "__code__")]
        try:
            source = inspect.getsource(type(obj))
        except (OSError, TypeError):
            source = type(obj).__qualname__
        return [type(obj).__qualname__, stable_hash(source), code]


class Job:
    """One fit / evaluate / predict of ``program`` on ``runtime``."""

    def __init__(self, program: ProgramHost, kind: str, runtime: Runtime, task_runner: Any = None):
        from synaprefect.config import task_retries

        self.program = program
        self.kind = kind
        self.runtime = runtime
        self.task_runner = task_runner
        self.store: RunStore | None = None
        self.remote_template: dict | None = None
        self.setup_key = ""
        self.published: dict[str, str] = {}  # artifact key -> digest of its last version
        self.retries, self.retry_delay = task_retries()

    # ---- tasks --------------------------------------------------------------------------

    @property
    def prefix(self) -> str:
        return _prefix.get()

    def naming(self, prefix: str) -> AbstractContextManager[str]:
        """Name the task runs of the block ``<prefix><task>``."""
        return bound(_prefix, prefix)

    async def task(self, name: str, body: Callable[[], Awaitable[Any]], *, run_name: str) -> Any:
        """Run ``body`` as a task run, retried with the job's task policy: only the
        innermost task retries a failure (``runtime.should_retry_task``). Each attempt
        numbers its LM calls from zero and records predictions apart, so a retried attempt
        replays the calls the failed one paid for and records each prediction once."""

        async def attempt() -> Any:
            parent = current_recorder()
            mine = parent.open_child() if parent is not None else None
            try:
                with call_scope("task", run_name), recording(mine):
                    return await body()
            except BaseException:
                if parent is not None and mine is not None:
                    parent.drop_child(mine)
                raise

        return await self.runtime.task(
            name, attempt, run_name=run_name, retries=self.retries, retry_delay=self.retry_delay
        )

    def _tool_tasks(self):
        """How side effects (tool calls) run: each one a task of its own, nested in the
        module's task, unless tasks are whole batches (``task_granularity="batch"``)."""
        if self.program.task_granularity == "batch":
            return None

        async def run(name: str, body: Callable[[], Awaitable[Any]], *, run_name: str):
            return await self.task(name, body, run_name=f"{self.prefix}{run_name}")

        return run

    # ---- steps --------------------------------------------------------------------------

    def step_key(self, kind: str, x: list, y: list | None, **where: Any) -> list | None:
        """The key of a step, computed before it runs (a retried step must find the key
        of its first attempt): its place, the program's variables and its data. The
        optimizer's state (predictions, candidates) is not hashed: within one job it is
        a function of the steps before, which the place names. O(batch + variables)."""
        if self.store is None:
            return None
        variables = [[v.path, v.value()] for v in self.program.variables]
        return [kind, self.setup_key, stable_hash(variables), encode(x), encode(y), where]

    async def replayable(self, key: list | None, body: Callable[[], Awaitable[Any]]) -> Any:
        """Run ``body``, or replay its persisted result when this job already did."""
        if self.store is None or key is None:
            return await body()
        return await self.store.step(key, body)

    # ---- the run ------------------------------------------------------------------------

    def _setup_digest(self) -> str:
        """What results depend on besides state and data: the library version, every
        module and the compile settings (never operational model settings)."""
        from synaprefect.version import __version__

        program = self.program
        parts: list[Any] = [__version__, [identity(m) for m in program._walk()]]
        if program.compiled:
            parts += [
                [identity(r) for r in program._rewards.rewards],
                program._rewards.weights,
                identity(program.optimizer) if program.optimizer else None,
            ]
        return stable_hash(parts)

    def _open_store(
        self, data: list, targets: list | None, options: dict, resume: bool
    ) -> RunStore:
        """The folder of this job's persisted results: same setup, starting state, data,
        options and seed give the same folder, so an unfinished job resumes."""
        from synaprefect.config import get_seed

        self.setup_key = self._setup_digest()
        state = [[v.path, v.value()] for v in self.program._state_variables()]
        fingerprint = stable_hash(
            [
                STORE_FORMAT,
                self.kind,
                self.setup_key,
                state,
                encode(data),
                encode(targets),
                options,
                get_seed(),
            ]
        )
        folder = f"{self.program.name}/{self.kind}-{fingerprint[:20]}"
        remote = durable_root()
        return RunStore(
            results_root() / folder,
            fresh=not resume,
            remote=remote / folder if remote is not None else None,
        )

    async def run(
        self,
        body: Callable[[], Awaitable[Any]],
        *,
        data: list,
        targets: list | None,
        options: dict,
        resume: bool = True,
        flow_retries: int = 0,
        **parameters: Any,
    ) -> Any:
        """Run ``body`` as the job's flow. Every attempt (Prefect flow retries included)
        starts from the same state, so finished steps replay from the run store."""
        program = self.program
        if self.task_runner is not None and not self.runtime.tracking:
            raise ValueError(
                f"{self.kind}(task_runner=...) runs batches as Prefect tasks on that "
                "runner, which needs tracking on: remove `tracking(False)` / "
                "`SYNAPREFECT_TRACKING=0`, or drop `task_runner`."
            )
        if program._busy is not None:
            raise RuntimeError(
                f"Program '{program.name}' is already running {program._busy}(); run "
                f"{self.kind}() after it, or on a copy (Program.load of a saved file)."
            )
        program._busy = self.kind
        try:
            with frozen_heap():
                await program._prepare_run(data[0])
                # Opening may delete a stale folder: blocking I/O, off the event loop.
                store = await asyncio.to_thread(self._open_store, data, targets, options, resume)
                self.store = store
                return await self._as_flow(store, body, flow_retries, parameters)
        finally:
            program._busy = None

    async def _as_flow(
        self,
        store: RunStore,
        body: Callable[[], Awaitable[Any]],
        flow_retries: int,
        parameters: dict,
    ) -> Any:
        program = self.program
        start = program.get_state_tree()
        if self.task_runner is not None:  # the state every remote batch starts from, once
            from synaprefect.trainers.shards import shard_template

            # A job's program is always a Program; the mixins that start jobs only know
            # themselves as a ProgramHost.
            self.remote_template = shard_template(cast("Program", program))

        async def attempt():
            program.set_state_tree(start)
            store.start_attempt()
            with bound(_job, self), use_call_store(store), use_task_runner(self._tool_tasks()):
                result = await body()
            if store.replayed_steps or store.replayed_calls:
                self.runtime.log(
                    f"{self.kind} of {program.name}: replayed "
                    f"{store.replayed_steps} finished steps and "
                    f"{store.replayed_calls} LM and tool calls from {store.url}"
                )
            program.replayed_steps = store.replayed_steps
            return result

        try:
            result: Any = await self.runtime.flow(
                program.name,
                attempt,
                run_name=f"{self.kind}-{program.name}",
                parameters={"kind": self.kind, **parameters},
                retries=flow_retries,
                task_runner=self.task_runner,
            )
        finally:
            store.close()
        await asyncio.to_thread(store.finish)
        return result
