"""``fit`` with ``RandomFewShot``, and the peak memory of a large ``evaluate``."""

from __future__ import annotations

import resource
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from benchmarks.workloads.common import Endpoint, Measurement, measure

__all__ = ["synaprefect_fit", "evaluate_peak_rss", "largest_variable_artifact", "VALIDATION_SPLIT"]

# The last fifth of the samples scores candidates and gives val_reward each epoch.
VALIDATION_SPLIT = 0.2


async def synaprefect_fit(
    endpoint: Endpoint,
    n: int,
    epochs: int,
    batch_size: int,
    concurrency: int,
    tracking: bool,
    transport: str | None = None,
    resume: bool = False,
    on_start: Callable[[], None] | None = None,
    name: str = "bench_fit",
    artifact_sizes: bool = False,
    validation_batch_size: int = 32,
) -> Measurement:
    """``fit`` on ``n`` samples (``VALIDATION_SPLIT`` held out) for ``epochs`` epochs in
    batches of ``batch_size`` (validation batches of ``validation_batch_size``, fit's
    default); ``on_start`` is called just before ``fit`` starts.

    With ``artifact_sizes`` (and tracking on), adds the size of the largest version of a
    variable artifact this fit published, read back from the Prefect API after the timed
    block (``largest_variable_artifact``)."""
    import synaprefect as sp
    from benchmarks.workloads.program import build_program, dataset

    program = await build_program(
        endpoint,
        name=name,
        concurrency=concurrency,
        transport=transport,
        optimizer=sp.optimizers.RandomFewShot(),
    )
    x, y = dataset(n)
    if on_start is not None:
        on_start()
    since = datetime.now(UTC)
    with sp.orchestration.tracking(tracking), measure(endpoint) as result:
        history = await program.fit(
            x,
            y,
            epochs=epochs,
            batch_size=batch_size,
            validation_split=VALIDATION_SPLIT,
            verbose=0,
            resume=resume,
            validation_batch_size=validation_batch_size,
        )
    result.extra["val_reward"] = history.history["val_reward"][-1]
    result.extra["replayed_steps"] = program.replayed_steps
    if artifact_sizes and tracking:
        result.extra.update(await largest_variable_artifact(program, since))
    return result


async def largest_variable_artifact(program: Any, since: datetime) -> dict[str, Any]:
    """The largest version, in bytes, of any variable artifact ``program`` published
    since ``since`` (earlier runs of a program of the same name share its keys), read
    back with ``orchestration.artifacts.read_variable_history``.

    A version's size is that of the markdown body Prefect stores (``json_markdown`` of
    the value, UTF-8): what the server writes, keeps and sends back for it."""
    from synaprefect.orchestration.artifacts import json_markdown, read_variable_history

    largest, largest_path, versions = 0, None, 0
    for variable in program.trainable_variables:
        for version in await read_variable_history(program.name, variable.path):
            if datetime.fromisoformat(version["created"]) < since:
                continue
            versions += 1
            size = len(json_markdown(version["value"]).encode("utf-8"))
            if size > largest:
                largest, largest_path = size, variable.path
    return {
        "largest_variable_artifact_bytes": largest,
        "largest_variable_artifact_path": largest_path,
        "variable_artifact_versions": versions,
    }


async def evaluate_peak_rss(
    endpoint: Endpoint, n: int, concurrency: int, batch_size: int, transport: str | None = None
) -> Measurement:
    """A tracked ``evaluate`` of ``n`` samples; adds the process's resident memory just
    before it and the process's peak, in MB."""
    import psutil

    from benchmarks.workloads.evaluate import synaprefect_evaluate

    before = psutil.Process().memory_info().rss / 2**20
    result = await synaprefect_evaluate(
        endpoint, n, concurrency, tracking=True, transport=transport, batch_size=batch_size
    )
    result.extra["rss_before_mb"] = before
    # ru_maxrss is in KiB on Linux.
    result.extra["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result
