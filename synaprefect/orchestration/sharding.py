"""Evaluate and predict on a Prefect work pool, in shards.

``evaluate_on_work_pool`` (and ``predict_on_work_pool``) is a flow run that splits the
data into shards of whole batches (``trainers.shards``), runs each shard as a flow run of
a deployment of ``shard_flow`` (``run_deployment``) on whichever worker of the pool takes
it, and gathers the results in order: the scores equal an in-process ``evaluate``.

Programs, variables, model settings and samples travel as JSON flow-run parameters;
results come back as a JSON artifact of the shard's run, through the Prefect API, so
workers need no shared disk. Each worker reads its own provider keys.

``run_on_work_pool`` (``orchestration.work_pools``) runs the shards and watches them: a
shard whose worker dies is run again, a live one is never paid for twice.

Example:
```python
# once: prefect deploy (deployments/prefect.yaml has `shard`), then N workers on the pool
scores = await evaluate_on_work_pool(program, x_test, y_test, shards=4, batch_size=16,
                                     deployment="synaprefect-shard/shard")
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from synaprefect.orchestration.prefect_runtime import PrefectRuntime
from synaprefect.orchestration.work_pools import (
    SHARD_FLOW_NAME,
    ShardError,
    run_on_work_pool,
    shard_flow,
)
from synaprefect.trainers import shards as shard_jobs
from synaprefect.trainers.reporting import publish_evaluation

if TYPE_CHECKING:
    from synaprefect.programs import Program

# shard_flow, run_on_work_pool, SHARD_FLOW_NAME and ShardError are also importable from
# here, where deployments and scripts found them first.
__all__ = [
    "evaluate_on_work_pool",
    "predict_on_work_pool",
    "shard_flow",
    "run_on_work_pool",
    "SHARD_FLOW_NAME",
    "ShardError",
]


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
