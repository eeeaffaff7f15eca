"""``PrefectRuntime``: the ``Runtime`` calls as Prefect 3 flow runs, task runs and artifacts.

- ``flow`` and ``stage`` become async flow runs, built on the fly with ``prefect.flow``.
  Called inside another flow run (a synaprefect flow or the user's own ``@flow``) they
  become subflow runs: Prefect nests a flow called inside a flow run by itself.
- ``task`` becomes an async task run of ``prefect_tasks.task_for`` (one Prefect task per
  kind of run, the body and the run name its parameters), no cache key, retried only for
  transient errors (``runtime.should_retry_task``). Task runs nest: a task called inside
  a task run records the outer one as its parent.
- ``publish_*`` and ``progress`` create keyed artifacts (``orchestration.artifacts`` names
  the keys and reads them back), in the background (``orchestration.publishing``), all
  published before the outermost synaprefect flow run ends; outside any run they are
  skipped, since Prefect deprecates artifacts without a run.

Flows keep Prefect's heartbeat: an async flow run starts its heartbeat thread without
waiting for it, and turning it off per call (``temporary_settings``) costs more than it
saves.

Example:
```python
runtime = PrefectRuntime()

async def epoch():
    return await runtime.task("batch", lambda: train_batch(0), run_name="batch-0", retries=2)

await runtime.flow("fit", lambda: runtime.task("epoch", epoch, run_name="epoch-1"),
                   run_name="fit-qa", parameters={"epochs": 1})
```
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import keyword
import logging
import re
from collections import OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

import prefect
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.context import FlowRunContext, TaskRunContext
from prefect.futures import PrefectWrappedFuture
from prefect.logging import get_run_logger

from synaprefect.config import task_retries
from synaprefect.orchestration import finishing
from synaprefect.orchestration.api_clients import shared_clients
from synaprefect.orchestration.artifacts import artifact_key, json_markdown
from synaprefect.orchestration.embedded_api import job_ended, task_run_ended
from synaprefect.orchestration.prefect_tasks import shard_task, task_for
from synaprefect.orchestration.publishing import Publisher
from synaprefect.trainers.runtime import (
    Body,
    Runtime,
    T,
    counted_attempts,
    is_retryable_run,
    run_tags,
)
from synaprefect.version import __version__

__all__ = ["PrefectRuntime"]

_logger = logging.getLogger("synaprefect")

# The publisher of the outermost synaprefect flow run: its stages and tasks publish
# artifacts through it (progress artifacts are shared by all of them), and it is drained
# before that flow run ends.
_publisher: ContextVar[Publisher | None] = ContextVar("synaprefect_publisher", default=None)


class PrefectRuntime(Runtime):
    """Runs fit / evaluate / predict / search as Prefect flow runs (tracking on).

    Instances hold no state: create one wherever needed (``get_runtime()`` does).
    """

    tracking = True

    async def flow(
        self,
        name: str,
        body: Body[T],
        *,
        run_name: str,
        parameters: dict | None = None,
        retries: int = 0,
        task_runner: Any = None,
    ) -> T:
        """Run ``body`` as an async flow run ``run_name`` of flow ``name``; a subflow run
        when called inside a flow run. ``parameters`` (small JSON) are shown in the UI. A
        failed run is retried ``retries`` times, at once, as the same flow run; its stages
        run again as new subflow runs (nothing is persisted).

        Example:
        ```python
        history = await PrefectRuntime().flow("fit", train, run_name="fit-qa",
                                              parameters={"epochs": 3, "batch_size": 8})
        ```
        """
        parameters = {_parameter_name(key): value for key, value in (parameters or {}).items()}

        async def guarded_body() -> Any:
            try:
                async with finishing.scope(last=True):  # ends after its task runs
                    return await body()
            except Exception as error:
                context = FlowRunContext.get()  # this body runs as a flow run
                if retries and not is_retryable_run(error) and context is not None:
                    await _forbid_retries(context.flow_run)
                raise

        async def run_flow(**_: Any) -> Any:
            if _publisher.get() is not None:
                return await guarded_body()
            publisher = Publisher()
            token = _publisher.set(publisher)
            try:
                result = await guarded_body()
            except BaseException:
                publisher.cancel()
                raise
            finally:
                _publisher.reset(token)
            await publisher.drain()
            return result

        # The run's parameters come from the signature: declare the keys so that the UI
        # shows {"epochs": 3} rather than {"_": {"epochs": 3}}. (inspect reads a function's
        # __signature__; typeshed does not declare it.)
        run_flow.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY) for key in parameters]
        )
        prefect_flow = _LiveFlow(
            fn=run_flow,
            name=_flow_name(name),
            flow_run_name=_constant(run_name),
            retries=retries,
            retry_delay_seconds=0,
            # A fixed version spares Prefect hashing this module's source on every call.
            version=__version__,
            validate_parameters=False,
            persist_result=False,
            log_prints=False,
            **({"task_runner": task_runner} if task_runner is not None else {}),
        )
        try:
            async with shared_clients():
                if not run_tags():
                    return await prefect_flow(**parameters)
                with prefect.tags(*run_tags()):  # the flow run and the task runs inside it
                    return await prefect_flow(**parameters)
        finally:
            job_ended()

    async def stage(
        self, name: str, body: Body[T], *, run_name: str, parameters: dict | None = None
    ) -> T:
        """Run ``body`` as a subflow run of the current flow run (one tuner trial);
        outside any flow run, as a flow run of its own. ``parameters`` (small JSON, such
        as a trial's hyperparameters) are shown in the UI.

        Example: ``await runtime.stage("trial", run_trial, run_name="qa-trial-3")``
        """
        return await self.flow(name, body, run_name=run_name, parameters=parameters)

    async def task(
        self, name: str, body: Body[T], *, run_name: str, retries: int = 0, retry_delay: float = 0.0
    ) -> T:
        """Run ``body`` as a task run, retried up to ``retries`` times (``retry_delay``
        seconds apart) when it fails with a transient error. The last error propagates
        unchanged.

        Example:
        ```python
        scores = await runtime.task("batch", lambda: run_batch(7), run_name="batch-7",
                                    retries=3, retry_delay=1.0)
        ```
        """

        # Prefect calls the function once per attempt: count them to mark the last. The
        # value comes back before Prefect records the run's end (``finishing``).
        prefect_task = task_for(name, retries, retry_delay)
        attempts = counted_attempts(body, retries)
        run_ids: list[Any] = []

        async def attempt() -> T:
            run_ids.append(TaskRunContext.get().task_run.id)  # type: ignore[union-attr]
            return await attempts()

        async def start(early: Callable[[Body[T]], Body[T]]) -> T:
            try:
                return await prefect_task(body=early(attempt), run_name=run_name)
            finally:
                # Prefect's engine has given the run whose body ran a final state (Crashed
                # if cancelled): the embedded API's exit waits for it.
                if run_ids:
                    task_run_ended(run_ids[0])

        return await finishing.run(start)

    async def remote(self, name: str, request: dict, *, run_name: str) -> dict:
        """Submit the shard ``request`` to the flow run's task runner (a Dask worker with
        ``DaskTaskRunner``) as the task run ``run_name``, retried like other tasks, and
        wait for its JSON results.

        Example: ``results = await runtime.remote("test-batch", request, run_name="test-batch-3")``
        """
        retries, delay = task_retries()
        future = shard_task.with_options(
            name=name, task_run_name=_constant(run_name), retries=retries, retry_delay_seconds=delay
        ).submit(request)
        try:
            # The future's wait blocks: in a thread, so the other batches keep being sent.
            # (Prefect types an async task's future as one of a coroutine; result() is
            # the task's return value.)
            return await asyncio.to_thread(future.result)  # type: ignore[arg-type]
        except asyncio.CancelledError:
            # A failed job stops its batches still on the cluster. Prefect's futures have
            # no cancel(): the task runner's own future (Dask's, a thread pool's) has.
            if isinstance(future, PrefectWrappedFuture):
                future.wrapped_future.cancel()
            raise

    async def publish_json(self, key: str, value: Any, description: str = "") -> None:
        """Add a version of ``value`` under ``key`` (a markdown artifact holding a fenced
        JSON block; read it back with ``artifacts.read_json_history``).

        Example: ``await runtime.publish_json(variable_artifact_key("qa", "g/x"), state)``
        """
        markdown = json_markdown(value)  # now: the value may change after this returns
        await _publish(
            key,
            lambda: acreate_markdown_artifact(
                markdown=markdown, key=artifact_key(key), description=description
            ),
        )

    async def publish_table(self, key: str, rows: list[dict], description: str = "") -> None:
        """Add a version of the table ``rows`` (one dict per row) under ``key``.

        Example: ``await runtime.publish_table("qa-history", [{"epoch": 1, "reward": 0.5}])``
        """
        rows = copy.deepcopy(rows)
        await _publish(
            key,
            lambda: acreate_table_artifact(
                table=rows, key=artifact_key(key), description=description
            ),
        )

    async def publish_markdown(self, key: str, markdown: str, description: str = "") -> None:
        """Add a version of the markdown document under ``key``.

        Example: ``await runtime.publish_markdown("qa-summary", "# Done\\nreward 0.9")``
        """
        await _publish(
            key,
            lambda: acreate_markdown_artifact(
                markdown=markdown, key=artifact_key(key), description=description
            ),
        )

    async def progress(self, key: str, percent: float, description: str = "") -> None:
        """Set the progress artifact ``key`` to ``percent`` (0 to 100): one artifact for
        the outermost synaprefect flow run, created at the first call and updated at most
        every ``publishing.PROGRESS_INTERVAL`` seconds (its last value always arrives).
        Called in the user's own flow run instead, one artifact for that run, updated at
        each call.

        Example: ``await runtime.progress("qa-progress", 40.0, "epoch 2 of 5")``
        """
        if not _in_run(key):
            return
        percent = min(max(float(percent), 0.0), 100.0)
        publisher = _publisher.get()
        if publisher is None:  # in the user's own flow or task: awaited, one bar per run
            await _progress_outside_jobs(key, percent, description or None)
            return
        publisher.progress(
            artifact_key(key),
            percent,
            description or None,
            create=lambda p, d: acreate_progress_artifact(
                progress=p, key=artifact_key(key), description=d
            ),
            update=lambda artifact_id, p, d: aupdate_progress_artifact(
                artifact_id=artifact_id, progress=p, description=d
            ),
        )

    def log(self, message: str) -> None:
        """Log ``message`` to the current run's log (the ``synaprefect`` logger outside
        any run).

        Example: ``runtime.log("epoch 2: reward 0.81")``
        """
        if _inside_run():
            get_run_logger().info(message)
        else:
            super().log(message)


class _LiveFlow(prefect.Flow):
    """A flow whose function is a closure over live program state (locks, clients).

    A task runner sends the flow run's context, flow included, to its workers (Dask
    pickles it): this flow travels as a stand-in of the same name, which workers only
    read and never run.
    """

    def __reduce__(self):
        return (_stand_in_flow, (self.name,))


def _stand_in_flow(name: str) -> prefect.Flow:
    return prefect.Flow(fn=_runs_only_where_built, name=name)


def _runs_only_where_built() -> None:
    raise RuntimeError("A synaprefect flow runs only in the process that built it.")


def _constant(text: str) -> Callable[[], str]:
    # A callable run name is used as is; a string would go through str.format with the
    # run's parameters and break on braces in the name.
    return lambda: text


def _flow_name(name: str) -> str:
    # Prefect refuses flow names containing any of / % & > <.
    return re.sub(r"[/%&<>]", "-", name) or "synaprefect"


def _parameter_name(key: str) -> str:
    # Parameter names must be identifiers (they become the flow function's signature).
    name = re.sub(r"\W", "_", str(key))
    return f"_{name}" if not name or name[0].isdigit() or keyword.iskeyword(name) else name


def _inside_run() -> bool:
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _in_run(key: str) -> bool:
    # Prefect deprecates artifacts created outside a run: skip them, quietly.
    if _inside_run():
        return True
    _logger.debug("Artifact %r skipped: not inside a Prefect flow or task run.", key)
    return False


async def _publish(key: str, request: Callable[[], Any]) -> None:
    """``request()`` through the outermost flow run's publisher (in the background), or
    awaited at once inside the user's own flow; skipped outside any run."""
    if not _in_run(key):
        return
    publisher = _publisher.get()
    if publisher is None:
        await request()
    else:
        publisher.submit(artifact_key(key), request)  # in order per key Prefect stores


# The progress bars of runs that are not synaprefect jobs (the user's own flow or task
# run): (run id, key) -> artifact id, so that a run's later calls update its bar. The
# oldest are forgotten: a long-lived process runs many flows.
_bars_outside_jobs: OrderedDict[tuple[str, str], Any] = OrderedDict()
_MAX_BARS_OUTSIDE_JOBS = 256


async def _progress_outside_jobs(key: str, percent: float, description: str | None) -> None:
    # The caller checked that it runs inside a flow run or a task run.
    flow_run, task_run = FlowRunContext.get(), TaskRunContext.get()
    if flow_run is not None and flow_run.flow_run is not None:
        run = flow_run.flow_run.id
    else:
        assert task_run is not None
        run = task_run.task_run.id
    bar = (str(run), key)
    artifact_id = _bars_outside_jobs.get(bar)
    if artifact_id is not None:
        await aupdate_progress_artifact(
            artifact_id=artifact_id, progress=percent, description=description
        )
        return
    _bars_outside_jobs[bar] = await acreate_progress_artifact(
        progress=percent, key=artifact_key(key), description=description
    )
    while len(_bars_outside_jobs) > _MAX_BARS_OUTSIDE_JOBS:
        _bars_outside_jobs.popitem(last=False)


async def _forbid_retries(flow_run: Any) -> None:
    """Prefect's server decides retries from the run's stored policy: set it to none, so
    an error no retry can fix (a bad key, bad input) fails the run at once."""
    from prefect.client.orchestration import get_client

    policy = flow_run.empirical_policy.model_copy(update={"retries": 0})
    async with get_client() as client:
        await client.update_flow_run(flow_run.id, empirical_policy=policy)
