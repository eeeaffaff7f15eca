"""Evaluate, predict and tuning trials on a Prefect work pool.

``evaluate_on_work_pool`` (and ``predict_on_work_pool``) is a flow run that splits the
data into shards of whole batches (``trainers.shards``), runs each shard as a flow run of
a deployment of ``shard_flow`` (``run_deployment``) on whichever worker of the pool takes
it, and gathers the results in order: the scores equal an in-process ``evaluate``.

Programs, variables, model settings and samples travel as JSON flow-run parameters;
results come back as a JSON artifact of the shard's run, through the Prefect API, so
workers need no shared disk. Each worker reads its own provider keys.

``run_on_work_pool`` is the mechanism underneath, for any JSON request ``shard_flow``
knows (shards, and tuning trials: ``tuners.remote``). A run whose worker dies stays
``Pending`` or ``Running`` forever, so runs prove they are alive: a running request
updates a progress artifact every ``heartbeat_seconds``. A run taken by a worker and then
silent for ``heartbeat_timeout`` seconds (starting a run takes a worker a few seconds:
keep it well above that) is marked ``Crashed`` and run again, and so is a run that failed
or crashed, up to ``max_attempts`` runs per request. Silence counts only while the API
takes writes: the driving run beats too, and while its own beats do not get through (a
SQLite database locked under load), no run is declared dead and paid for again. A shard
run again on the same machine replays what its first run finished (the run store).

Example:
```python
# once: prefect deploy (deployments/prefect.yaml has `shard`), then N workers on the pool
scores = await evaluate_on_work_pool(program, x_test, y_test, shards=4, batch_size=16,
                                     deployment="synaprefect-shard/shard")
```
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any
from uuid import UUID

import numpy as np
import prefect
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    aupdate_progress_artifact,
)
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
from synaprefect.orchestration.prefect_runtime import PrefectRuntime
from synaprefect.trainers import shards as shard_jobs
from synaprefect.trainers.reporting import publish_evaluation

if TYPE_CHECKING:
    from synaprefect.programs import Program

__all__ = [
    "shard_flow",
    "run_on_work_pool",
    "evaluate_on_work_pool",
    "predict_on_work_pool",
    "SHARD_FLOW_NAME",
    "ShardError",
]

_logger = logging.getLogger("synaprefect.orchestration")

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
    async with _heartbeat(heartbeat_seconds):
        results = await shard_jobs.run_request(request)
    await acreate_markdown_artifact(
        markdown=json_markdown(results),
        key=_RESULT_KEY,
        description="results of this request (JSON)",
    )


@dataclasses.dataclass
class _Beat:
    """When a heartbeat was last written (``time.monotonic()``)."""

    written_at: float


@contextlib.asynccontextmanager
async def _heartbeat(
    seconds: float, key: str = _HEARTBEAT_KEY, description: str = "shard alive"
) -> AsyncIterator[_Beat]:
    artifact_id = await acreate_progress_artifact(progress=0.0, key=key, description=description)
    started = time.monotonic()
    beat_state = _Beat(written_at=started)

    async def beat() -> None:
        while True:
            await asyncio.sleep(seconds)
            # The value only has to change: the driver watches the `updated` time.
            elapsed = time.monotonic() - started
            try:
                await aupdate_progress_artifact(
                    artifact_id=artifact_id,
                    progress=min(99.0, elapsed / 60.0),
                    description=f"alive after {elapsed:.0f} s",
                )
            except Exception as error:  # one API hiccup must not silence the run
                _logger.warning(
                    "Heartbeat not sent (%s: %s); retrying.", type(error).__name__, error
                )
            else:
                beat_state.written_at = time.monotonic()

    task = asyncio.create_task(beat())
    try:
        yield beat_state
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


@dataclasses.dataclass
class _Shard:
    index: int
    label: str
    request: dict
    run_id: UUID | None = None
    attempts: int = 0
    last_beat: Any = None
    beat_seen_at: float = 0.0
    submitted_at: float = 0.0
    collected: bool = False
    result: Any = None  # any JSON, null included


async def _submit(
    shard: _Shard, deployment: str, heartbeat_seconds: float, work_queue_name: str | None
) -> None:
    shard.attempts += 1
    run = await arun_deployment(
        deployment,
        parameters={"request": shard.request, "heartbeat_seconds": heartbeat_seconds},
        timeout=0,
        work_queue_name=work_queue_name,
        flow_run_name=f"{shard.label}-attempt-{shard.attempts}",
    )
    shard.run_id, shard.last_beat = run.id, None
    shard.beat_seen_at = shard.submitted_at = time.monotonic()


async def _latest(client: PrefectClient, key: str, run_id: UUID) -> Artifact | None:
    found = await client.read_artifacts(
        artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[run_id])
        ),
        sort=ArtifactSort.CREATED_DESC,
        limit=1,
    )
    return found[0] if found else None


async def _check(
    client: PrefectClient, shard: _Shard, heartbeat_timeout: float, start_timeout: float
) -> str | None:
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
        if waited > start_timeout:  # running it again would wait the same: stop here
            raise ShardError(
                f"run {run.name} waited {waited:.0f} s and no worker took it: start one "
                "on the deployment's work pool (`prefect worker start --pool <pool>`), "
                "or raise `start_timeout`."
            )
        shard.beat_seen_at = time.monotonic()
        return None
    # Pending or running: a worker took it, and a worker that dies leaves it so forever.
    beat = await _latest(client, _HEARTBEAT_KEY, run.id)
    stamp = beat.updated if beat is not None else None
    if stamp != shard.last_beat:
        shard.last_beat, shard.beat_seen_at = stamp, time.monotonic()
        return None
    silent = time.monotonic() - shard.beat_seen_at
    if silent < heartbeat_timeout:
        return None
    reason = f"run {run.name} silent for {silent:.0f} s (its worker died?)"
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

    A run that fails or crashes, or that a worker took and then stayed silent for
    ``heartbeat_timeout`` seconds while the API took this run's own beats, is marked
    ``Crashed`` and run again, up to
    ``max_attempts`` runs per request; then a ``ShardError`` names it. A run cancelled
    in Prefect raises a ``ShardError`` at once, and so does a run that no worker took
    within ``start_timeout`` seconds. Whenever this call ends early (an
    error, a cancellation), the runs still going are cancelled. Runs are named
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
        # This run beats the way shards do: while its own beats are not getting through,
        # the API is not taking writes (SQLite locked for a minute under load has been
        # seen), and a shard's silence says nothing about its worker.
        own = None
        if FlowRunContext.get() is not None:
            own = await stack.enter_async_context(
                _heartbeat(heartbeat_seconds, _DRIVER_HEARTBEAT_KEY, "driver alive")
            )
        try:
            for shard in pending:
                await _submit(shard, deployment, heartbeat_seconds, work_queue_name)
            while pending:
                await asyncio.sleep(poll_seconds)
                if own is not None and time.monotonic() - own.written_at > 2 * heartbeat_seconds:
                    for shard in pending:  # silence counts again once the API takes writes
                        shard.beat_seen_at = time.monotonic()
                for shard in list(pending):
                    reason = await _check(client, shard, heartbeat_timeout, start_timeout)
                    if shard.collected:
                        pending.remove(shard)
                        done.append(shard)
                    elif reason is not None:
                        if shard.attempts >= max_attempts:
                            raise ShardError(
                                f"{shard.label} failed {shard.attempts} times; last: {reason}."
                            )
                        runtime.log(f"{shard.label}: {reason}; running it again")
                        await _submit(shard, deployment, heartbeat_seconds, work_queue_name)
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


async def _sharded(
    program: Program,
    kind: str,
    x: Any,
    y: Any,
    deployment: str,
    shards_count: int,
    batch_size: int,
    **pool_options: Any,
):
    """``pool_options`` go to ``run_on_work_pool``."""
    samples, targets = program.prepare_samples(kind, x, y)
    bounds = shard_jobs.shard_bounds(len(samples), batch_size, shards_count)
    template = shard_jobs.shard_template(program)
    requests = [
        shard_jobs.request_for(
            template, kind, samples[a:b], targets[a:b] if targets is not None else None, batch_size
        )
        for a, b in bounds
    ]
    runtime = PrefectRuntime()

    async def body():
        results = await run_on_work_pool(requests, deployment=deployment, **pool_options)
        combined = await shard_jobs.combine(program, kind, results, len(samples), targets)
        if isinstance(combined, dict):  # evaluate's scores (predict's are an array)
            await publish_evaluation(
                runtime, program.name, combined, f"sharded evaluation of {program.name}"
            )
        return combined

    return await runtime.flow(
        program.name,
        body,
        run_name=f"{kind}-sharded-{program.name}",
        parameters={
            "kind": f"{kind}-sharded",
            "samples": len(samples),
            "shards": len(bounds),
            "batch_size": batch_size,
            "deployment": deployment,
        },
    )


async def evaluate_on_work_pool(
    program: Program,
    x: Any,
    y: Any,
    *,
    deployment: str,
    shards: int = 2,
    batch_size: int = 32,
    heartbeat_seconds: float = 2.0,
    heartbeat_timeout: float = 60.0,
    max_attempts: int = 3,
    work_queue_name: str | None = None,
    poll_seconds: float = 1.0,
    start_timeout: float = 600.0,
) -> dict[str, float]:
    """``program.evaluate(x, y, batch_size=...)``, its shards run by the workers of a
    work pool as runs of ``deployment`` (a deployment of ``shard_flow``).

    Returns the same scores as the in-process evaluate; the program's metrics hold them
    too. Each shard is run up to ``max_attempts`` times (failed, crashed, or silent for
    ``heartbeat_timeout`` seconds); ``work_queue_name`` picks a queue of the pool. A
    shard that no worker takes within ``start_timeout`` seconds stops the job with a
    ``ShardError`` (a pool without workers must not hang it).

    Example:
    ```python
    scores = await evaluate_on_work_pool(program, x, y, deployment="synaprefect-shard/shard",
                                         shards=4, batch_size=16)
    ```
    """
    return await _sharded(
        program,
        "evaluate",
        x,
        y,
        deployment,
        shards,
        batch_size,
        heartbeat_seconds=heartbeat_seconds,
        heartbeat_timeout=heartbeat_timeout,
        max_attempts=max_attempts,
        work_queue_name=work_queue_name,
        poll_seconds=poll_seconds,
        start_timeout=start_timeout,
    )


async def predict_on_work_pool(
    program: Program,
    x: Any,
    *,
    deployment: str,
    shards: int = 2,
    batch_size: int = 32,
    heartbeat_seconds: float = 2.0,
    heartbeat_timeout: float = 60.0,
    max_attempts: int = 3,
    work_queue_name: str | None = None,
    poll_seconds: float = 1.0,
    start_timeout: float = 600.0,
) -> np.ndarray:
    """``program.predict(x, batch_size=...)``, its shards run by the workers of a work
    pool (see ``evaluate_on_work_pool``); outputs in the order of ``x``.

    Example:
    ```python
    outputs = await predict_on_work_pool(program, x, deployment="synaprefect-shard/shard")
    ```
    """
    return await _sharded(
        program,
        "predict",
        x,
        None,
        deployment,
        shards,
        batch_size,
        heartbeat_seconds=heartbeat_seconds,
        heartbeat_timeout=heartbeat_timeout,
        max_attempts=max_attempts,
        work_queue_name=work_queue_name,
        poll_seconds=poll_seconds,
        start_timeout=start_timeout,
    )
