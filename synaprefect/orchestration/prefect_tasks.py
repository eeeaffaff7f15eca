"""The Prefect tasks behind ``PrefectRuntime.task`` and ``PrefectRuntime.remote``.

A synaprefect task run calls its body (a closure) under a run name, both passed as the
task's parameters, so one ``prefect.Task`` serves every run of a kind: building one
costs about a millisecond, a tenth of what the run itself costs. Runs are retried only
for transient errors (``runtime.should_retry_task``), never cached, never persisted.
Prefect's "Finished in state Completed()" line is dropped for them (``_QuietCompletions``).

Example: ``await task_for("batch", 2, 1.0)(body=run_batch, run_name="batch-3")``
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import prefect
from prefect.cache_policies import NONE

from synaprefect.trainers.runtime import Body, should_retry_task, tracking
from synaprefect.trainers.shards import run_shard

__all__ = ["task_for", "shard_task"]


class _QuietCompletions(logging.Filter):
    """Drops Prefect's "Finished in state Completed()" line of synaprefect's own task
    runs: a fit of 20 steps makes about 90, each repeats the state the UI shows, and
    each is a log record sent to the API. Failed and retried runs still log."""

    def __init__(self) -> None:
        super().__init__()
        self.task_names: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.INFO
            and getattr(record, "task_name", None) in self.task_names
            and record.getMessage().startswith("Finished in state Completed")
        )


_quiet_completions = _QuietCompletions()


def _retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    # Prefect hands over a Failed state whose data is the exception the body raised.
    return isinstance(state.data, BaseException) and should_retry_task(state.data)


async def _run_body(body: Body[Any], run_name: str) -> Any:
    return await body()


@functools.lru_cache(maxsize=256)
def task_for(name: str, retries: int, retry_delay: float) -> prefect.Task:
    """The task whose runs are named ``name`` in Prefect; call it with ``body`` (an async
    callable of no arguments) and ``run_name``.

    Example: ``await task_for("epoch", 0, 0.0)(body=run_epoch, run_name="qa-epoch-1")``
    """
    _quiet_completions.task_names.add(name)
    task_logger = logging.getLogger("prefect.task_runs")
    if _quiet_completions not in task_logger.filters:
        task_logger.addFilter(_quiet_completions)
    return prefect.task(
        name=name,
        task_run_name="{run_name}",  # formatted once: braces in the name stay as they are
        retries=retries,
        retry_delay_seconds=retry_delay,
        retry_condition_fn=_retry_if_transient,
        # The default policy hashes the inputs and the source; a closure over program
        # state has no stable hash, and results are not persisted anyway.
        cache_policy=NONE,
        persist_result=False,
        log_prints=False,
    )(_run_body)


# Module-level, so that a task runner ships it to other processes by reference.
@prefect.task(
    name="shard",
    cache_policy=NONE,
    persist_result=False,
    log_prints=False,
    retry_condition_fn=_retry_if_transient,
)
async def shard_task(request: dict) -> dict:
    """A shard request (``trainers.shards``) run where the task runner puts it."""
    # The task run is what Prefect tracks; the shard's own job inside it stays plain
    # asyncio (no nested flow runs on a Dask worker).
    with tracking(False):
        return await run_shard(request)
