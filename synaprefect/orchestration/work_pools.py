"""Requests run as flow runs of a deployment on a Prefect work pool, and watched.

``run_on_work_pool`` runs any JSON request ``shard_flow`` knows (shards of
``orchestration.sharding``, and tuning trials: ``tuners.remote``). A run whose worker dies
stays ``Pending`` or ``Running`` forever, so runs prove they are alive: a running request
updates a progress artifact every ``heartbeat_seconds``. A run that beat and then stayed
silent for ``heartbeat_timeout`` seconds, or that a worker took but did not start within
``start_timeout`` seconds (starting may pull an image: it is not silence), is marked
``Crashed`` and run again, and so is a run that failed or crashed, up to
``max_attempts`` runs per request. Silence counts only while the API
takes writes: the driving run beats too, and a run's silence is counted in the seconds
the API took the driver's beats (``orchestration.heartbeats``), so a SQLite database
locked under load declares no run dead to be paid for again. A shard
run again on the same machine replays what its first run finished (the run store).

Example:
```python
# once: prefect deploy (deployments/prefect.yaml has `shard`), then N workers on the pool
results = await run_on_work_pool(requests, deployment="synaprefect-shard/shard")
```
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import Any
from uuid import UUID

import prefect
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.orchestration import PrefectClient, get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterKey,
)
from prefect.client.schemas.objects import Artifact
from prefect.client.schemas.responses import OrchestrationResult
from prefect.client.schemas.sorting import ArtifactSort
from prefect.context import FlowRunContext
from prefect.deployments import arun_deployment
from prefect.states import Cancelling, Crashed

from synaprefect.orchestration.artifacts import json_markdown, parse_json_markdown
from synaprefect.orchestration.heartbeats import Heartbeat, beating
from synaprefect.orchestration.prefect_runtime import PrefectRuntime
from synaprefect.trainers import shards as shard_jobs

__all__ = ["shard_flow", "run_on_work_pool", "SHARD_FLOW_NAME", "ShardError"]


SHARD_FLOW_NAME = "synaprefect-shard"
_RESULT_KEY = "synaprefect-shard-result"
_HEARTBEAT_KEY = "synaprefect-shard-heartbeat"
_DRIVER_HEARTBEAT_KEY = "synaprefect-shard-driver-heartbeat"


class ShardError(RuntimeError):
    """A request run on the work pool failed on every attempt."""


@prefect.flow(
    name=SHARD_FLOW_NAME, persist_result=False, log_prints=False, validate_parameters=False
)
async def shard_flow(request: dict, heartbeat_seconds: float = 2.0) -> None:
    """Run one request of ``run_on_work_pool`` (a shard of a sharded evaluate or
    predict, or a tuning trial) and publish its results.

    Deploy it on a work pool (``flows/shard.py``); ``evaluate_on_work_pool``,
    ``predict_on_work_pool`` and tuners searching with ``deployment=`` start its runs.

    Args:
        request: JSON: a shard (``trainers.shards.shard_request``: the program, the
            samples and the batch size) or a trial (``tuners.remote.trial_request``).
        heartbeat_seconds: How often the run shows it is alive (a progress artifact).
    """
    async with beating(heartbeat_seconds, _HEARTBEAT_KEY, "shard alive"):
        results = await shard_jobs.run_request(request)
    await acreate_markdown_artifact(
        markdown=json_markdown(results),
        key=_RESULT_KEY,
        description="results of this request (JSON)",
    )


@dataclasses.dataclass
class _Shard:
    index: int
    label: str
    request: dict
    run_id: UUID | None = None
    attempts: int = 0
    last_beat: Any = None
    beat_seen_at: float = 0.0  # on the pool's clock: when last_beat was first seen
    submitted_at: float = 0.0  # time.monotonic()
    collected: bool = False
    result: Any = None  # any JSON, null included


@dataclasses.dataclass
class _Pool:
    """Where requests run, and how their runs are watched."""

    deployment: str
    work_queue_name: str | None
    heartbeat_seconds: float
    heartbeat_timeout: float
    start_timeout: float
    driver: Heartbeat | None  # this run's beats, when it is a flow run

    def clock(self) -> float:
        """The seconds a run's silence is counted in: those the API took writes in."""
        return self.driver.api_seconds if self.driver is not None else time.monotonic()


async def _submit(pool: _Pool, shard: _Shard) -> None:
    shard.attempts += 1
    run = await arun_deployment(
        pool.deployment,
        parameters={"request": shard.request, "heartbeat_seconds": pool.heartbeat_seconds},
        timeout=0,
        work_queue_name=pool.work_queue_name,
        flow_run_name=f"{shard.label}-attempt-{shard.attempts}",
    )
    shard.run_id, shard.last_beat = run.id, None
    shard.submitted_at, shard.beat_seen_at = time.monotonic(), pool.clock()


async def _latest(client: PrefectClient, key: str, run_id: UUID) -> Artifact | None:
    found = await client.read_artifacts(
        artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])
        ),
        sort=ArtifactSort.CREATED_DESC,
        limit=1,
    )
    return found[0] if found else None


async def _check(client: PrefectClient, pool: _Pool, shard: _Shard) -> str | None:
    """Collect a finished shard's result; the reason to run it again, if any."""
    assert shard.run_id is not None  # _submit ran it
    run = await client.read_flow_run(shard.run_id)
    state = run.state
    assert state is not None  # arun_deployment creates runs Scheduled
    if state.is_completed():
        artifact = await _latest(client, _RESULT_KEY, run.id)
        if artifact is None or not isinstance(artifact.data, str):  # the markdown
            return f"run {run.name} completed without its result artifact"
        shard.result = parse_json_markdown(artifact.data)
        shard.collected = True
        return None
    if state.is_cancelled():  # somebody stopped it on purpose: so is the whole job
        raise ShardError(f"run {run.name} was cancelled, so the rest is stopped too.")
    if state.is_final():
        return f"run {run.name} ended {state.name}: {state.message or ''}".strip()
    if state.is_scheduled():  # no worker has taken it yet (Late included)
        waited = time.monotonic() - shard.submitted_at
        if waited > pool.start_timeout:  # running it again would wait the same: stop here
            raise ShardError(
                f"run {run.name} waited {waited:.0f} s and no worker took it: start one "
                "on the deployment's work pool (`prefect worker start --pool <pool>`), "
                "or raise `start_timeout`."
            )
        return None
    # Pending or running: a worker took it, and a worker that dies leaves it so forever.
    beat = await _latest(client, _HEARTBEAT_KEY, run.id)
    if beat is None:  # still starting (an image to pull, a process to import): no beats yet
        starting = time.monotonic() - shard.submitted_at
        if starting < pool.start_timeout:
            return None
        reason = f"run {run.name} taken by a worker but not started after {starting:.0f} s"
    else:
        if beat.updated != shard.last_beat:
            shard.last_beat, shard.beat_seen_at = beat.updated, pool.clock()
            return None
        silent = pool.clock() - shard.beat_seen_at
        if silent < pool.heartbeat_timeout:
            return None
        reason = (
            f"run {run.name} silent for {silent:.0f} s while the API took writes (its worker died?)"
        )
    # Not forced: a run that finished meanwhile keeps its state, and is collected next.
    outcome: OrchestrationResult[Any] = await client.set_flow_run_state(
        run.id, Crashed(message=reason)
    )
    return reason if outcome.status.value == "ACCEPT" else None


async def run_on_work_pool(
    requests: list[dict],
    *,
    deployment: str,
    labels: list[str] | None = None,
    heartbeat_seconds: float = 2.0,
    heartbeat_timeout: float = 60.0,
    max_attempts: int = 3,
    work_queue_name: str | None = None,
    poll_seconds: float = 1.0,
    start_timeout: float = 600.0,
) -> list[Any]:
    """Run each JSON request as a flow run of ``deployment`` (a deployment of
    ``shard_flow``) on its work pool, all at once; their results, in order.

    A run that fails or crashes, that beat and then stayed silent for
    ``heartbeat_timeout`` seconds while the API took this run's own beats, or that a
    worker took but did not start within ``start_timeout`` seconds, is marked
    ``Crashed`` and run again, up to ``max_attempts`` runs per request; then a
    ``ShardError`` names it. A run cancelled in Prefect raises a ``ShardError`` at once,
    and so does a run that no worker took within ``start_timeout`` seconds. Whenever this
    call ends early (an error, a cancellation), the runs still going are cancelled. Runs are named
    ``<label>-attempt-<n>`` (labels default to ``shard-<k>``).

    Example:
    ```python
    results = await run_on_work_pool(requests, deployment="synaprefect-shard/shard")
    ```
    """
    if heartbeat_timeout <= 2 * heartbeat_seconds:
        raise ValueError(
            f"`heartbeat_timeout` ({heartbeat_timeout}) must exceed twice "
            f"`heartbeat_seconds` ({heartbeat_seconds}), or live runs "
            "would be declared dead."
        )
    labels = labels or [f"shard-{index + 1}" for index in range(len(requests))]
    pending = [
        _Shard(index, label, request)
        for index, (label, request) in enumerate(zip(labels, requests, strict=True))
    ]
    done: list[_Shard] = []
    runtime = PrefectRuntime()
    async with get_client() as client, contextlib.AsyncExitStack() as stack:
        # This run beats the way shards do, and counts their silence only while the API
        # takes its own beats: a SQLite database locked under load (for a minute, seen)
        # silences every run, and says nothing about their workers.
        driver = None
        if FlowRunContext.get() is not None:
            driver = await stack.enter_async_context(
                beating(heartbeat_seconds, _DRIVER_HEARTBEAT_KEY, "driver alive")
            )
        pool = _Pool(
            deployment, work_queue_name, heartbeat_seconds, heartbeat_timeout, start_timeout, driver
        )
        try:
            for shard in pending:
                await _submit(pool, shard)
            while pending:
                await asyncio.sleep(poll_seconds)
                for shard in list(pending):
                    reason = await _check(client, pool, shard)
                    if shard.collected:
                        pending.remove(shard)
                        done.append(shard)
                    elif reason is not None:
                        if shard.attempts >= max_attempts:
                            raise ShardError(
                                f"{shard.label} failed {shard.attempts} times; last: {reason}."
                            )
                        runtime.log(f"{shard.label}: {reason}; running it again")
                        await _submit(pool, shard)
        except BaseException:
            # Nothing keeps running (and paying) for a job that is over.
            await _cancel_runs(client, [shard.run_id for shard in pending if shard.run_id])
            raise
    return [shard.result for shard in sorted(done, key=lambda shard: shard.index)]


async def _cancel_runs(client: PrefectClient, run_ids: list[UUID]) -> None:
    for run_id in run_ids:
        with contextlib.suppress(Exception):
            await client.set_flow_run_state(
                run_id, Cancelling(message="the job that started this run stopped")
            )
