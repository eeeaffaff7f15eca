"""``fit`` with ``RandomFewShot``, and the peak memory of a large ``evaluate``."""

from __future__ import annotations

import resource
from typing import Callable

from benchmarks.workloads.common import Endpoint, Measurement, measure

__all__ = ["synaprefect_fit", "evaluate_peak_rss", "VALIDATION_SPLIT"]

# The last fifth of the samples scores candidates and gives val_reward each epoch.
VALIDATION_SPLIT = 0.2


async def synaprefect_fit(endpoint: Endpoint, n: int, epochs: int, batch_size: int,
                          concurrency: int, tracking: bool, transport: str | None = None,
                          resume: bool = False,
                          on_start: Callable[[], None] | None = None) -> Measurement:
    """``fit`` on ``n`` samples (``VALIDATION_SPLIT`` held out) for ``epochs`` epochs in
    batches of ``batch_size``; ``on_start`` is called just before ``fit`` starts."""
    import synaprefect as sp

    from benchmarks.workloads.program import build_program, dataset

    program = await build_program(endpoint, name="bench_fit", concurrency=concurrency,
                                  transport=transport,
                                  optimizer=sp.optimizers.RandomFewShot())
    x, y = dataset(n)
    if on_start is not None:
        on_start()
    with sp.orchestration.tracking(tracking), measure(endpoint) as result:
        history = await program.fit(x, y, epochs=epochs, batch_size=batch_size,
                                    validation_split=VALIDATION_SPLIT, verbose=0,
                                    resume=resume)
    result.extra["val_reward"] = history.history["val_reward"][-1]
    result.extra["replayed_steps"] = program.replayed_steps
    return result


async def evaluate_peak_rss(endpoint: Endpoint, n: int, concurrency: int, batch_size: int,
                            transport: str | None = None) -> Measurement:
    """A tracked ``evaluate`` of ``n`` samples; adds the process's resident memory just
    before it and the process's peak, in MB."""
    import psutil

    from benchmarks.workloads.evaluate import synaprefect_evaluate

    before = psutil.Process().memory_info().rss / 2**20
    result = await synaprefect_evaluate(endpoint, n, concurrency, tracking=True,
                                        transport=transport, batch_size=batch_size)
    result.extra["rss_before_mb"] = before
    # ru_maxrss is in KiB on Linux.
    result.extra["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result
