"""Run state on the local disk vs on an S3 bucket (moto's server on loopback).

The same job, tracking off, synaprefect's defaults otherwise, run with the default storage (the run
store under ``$SYNAPREFECT_HOME``) and with ``SYNAPREFECT_STORAGE=s3://<bucket>/<prefix>``:
then every finished step (a batch, an optimizer update) is also written to the bucket, with
the LM answers paid inside it, as whole objects when the step ends
(``RunStore._persist``), and opening and finishing the job read, list and delete there.

- ``fit``: ``RandomFewShot``, 1 epoch, ``validation_split=0.2``: ``ceil(train / batch)``
  train batches, as many optimizer updates, ``ceil(val / validation_batch_size)``
  validation batches;
- ``evaluate``: ``ceil(n / batch)`` batches.

Batches run one after another, so every step's writes are on the critical path.
``stored_run`` (the worker) counts the steps the run store persisted and times the store's
I/O by wrapping ``RunStore`` and ``Location.write_bytes`` for the duration of the call:
steps counted from the run itself, checked against ``expected_steps``.

``storage_workload`` (the harness) starts the S3 server in its own process (a thread: the
harness only waits for workers meanwhile), creates the bucket, and runs every spec once per
round in a fresh worker process, in an order rotated each round; the S3 runs get
``SYNAPREFECT_STORAGE`` and the ``AWS_*`` variables of ``LoopbackS3.environment()``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from benchmarks.launch import run_worker
from benchmarks.workloads.common import Endpoint, Measurement, reset_server

__all__ = ["stored_run", "storage_workload", "expected_steps", "STORAGE_MODES", "BUCKET"]

STORAGE_MODES = ("local", "s3")
BUCKET = "synaprefect-bench"
# fit's default validation_batch_size, passed explicitly so the count below holds.
VALIDATION_BATCH_SIZE = 32


def expected_steps(
    kind: str, n: int, batch_size: int, validation_batch_size: int = VALIDATION_BATCH_SIZE
) -> int:
    """Steps a fresh 1-epoch fit (``validation_split=0.2``) or an evaluate of ``n``
    samples persists."""
    if kind == "evaluate":
        return math.ceil(n / batch_size)
    from benchmarks.workloads.training import VALIDATION_SPLIT

    train = math.floor(n * (1.0 - VALIDATION_SPLIT))
    return 2 * math.ceil(train / batch_size) + math.ceil((n - train) / validation_batch_size)


def _timed(
    counters: dict[str, float],
    prefix: str,
    function: Callable,
    when: Callable[..., bool] = lambda *args: True,
) -> Callable:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not when(*args):
            return function(*args, **kwargs)
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            counters[f"{prefix}_s"] += time.perf_counter() - start
            counters[f"{prefix}_count"] += 1

    return wrapper


@contextlib.contextmanager
def _store_io() -> Iterator[dict[str, float]]:
    """Count and time, while the block runs: steps persisted (``RunStore._persist``: the
    local step file, and with remote storage the step's answers and result as objects),
    opening the store (dropping or pulling a remote folder), finishing it (the complete
    marker, retention) and objects written to remote storage."""
    from synaprefect.storage.location import Location
    from synaprefect.trainers.replay import RunStore

    counters = {
        f"{name}_{unit}": 0.0
        for name in ("persist", "open", "finish", "put")
        for unit in ("s", "count")
    }
    counters["replayed_steps"] = 0
    finish = RunStore.finish

    def finish_counting(store: RunStore) -> None:
        counters["replayed_steps"] += store.replayed_steps
        finish(store)

    originals = {
        (RunStore, "_persist"): RunStore._persist,
        (RunStore, "__init__"): RunStore.__init__,
        (RunStore, "finish"): RunStore.finish,
        (Location, "write_bytes"): Location.write_bytes,
    }
    RunStore._persist = _timed(counters, "persist", RunStore._persist)
    RunStore.__init__ = _timed(counters, "open", RunStore.__init__)
    RunStore.finish = _timed(counters, "finish", finish_counting)
    Location.write_bytes = _timed(
        counters, "put", Location.write_bytes, when=lambda self, *args: not self.is_local
    )
    try:
        yield counters
    finally:
        for (owner, name), function in originals.items():
            setattr(owner, name, function)


async def stored_run(
    endpoint: Endpoint, kind: str, n: int, batch_size: int, concurrency: int, storage: str
) -> Measurement:
    """A fresh, untracked ``kind`` (``fit`` or ``evaluate``) of ``n`` samples in batches of
    ``batch_size`` with the run store where ``SYNAPREFECT_STORAGE`` says; ``storage``
    (``local`` or ``s3``) is what the harness meant, checked against the setting.

    Adds ``persisted_steps`` (counted), ``expected_steps`` (from the sizes),
    ``replayed_steps`` (0 on a fresh run), the seconds spent persisting steps, opening and
    finishing the store, and the objects written to remote storage."""
    from benchmarks.workloads.evaluate import synaprefect_evaluate
    from benchmarks.workloads.training import synaprefect_fit
    from synaprefect.trainers.replay import durable_root

    remote = durable_root()
    if (remote is not None) != (storage == "s3"):
        raise RuntimeError(
            f"storage={storage!r} but the run stores go to "
            f"{remote.url if remote is not None else 'the local home'} "
            f"(SYNAPREFECT_STORAGE={os.environ.get('SYNAPREFECT_STORAGE')!r})"
        )
    with _store_io() as io:
        if kind == "fit":
            result = await synaprefect_fit(
                endpoint,
                n=n,
                epochs=1,
                batch_size=batch_size,
                concurrency=concurrency,
                tracking=False,
                name="bench_storage_fit",
                validation_batch_size=VALIDATION_BATCH_SIZE,
            )
        elif kind == "evaluate":
            result = await synaprefect_evaluate(
                endpoint, n, concurrency, tracking=False, batch_size=batch_size
            )
        else:
            raise ValueError(f"kind must be 'fit' or 'evaluate', got {kind!r}")
    steps = int(io["persist_count"])
    result.extra.update(
        {
            "storage": storage,
            "storage_url": remote.url if remote is not None else None,
            "persisted_steps": steps,
            "replayed_steps": int(io["replayed_steps"]),
            "expected_steps": expected_steps(kind, n, batch_size),
            "persist_s": io["persist_s"],
            "persist_ms_per_step": 1000 * io["persist_s"] / steps if steps else None,
            "store_open_s": io["open_s"],
            "store_finish_s": io["finish_s"],
            "remote_objects_written": int(io["put_count"]),
            "remote_write_s": io["put_s"],
        }
    )
    return result


def storage_workload(
    endpoint: Endpoint,
    specs: list[Any],
    *,
    rounds: int,
    env: dict[str, str],
    scratch: Path,
    warmup: int,
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Every spec (a ``Spec`` of the ``storage`` worker) once per round, in an order
    rotated by one each round, in fresh worker processes; the S3 server runs here for
    all of them. Each S3 run writes under its own prefix of one bucket."""
    from synaprefect.testing.s3 import LoopbackS3

    results: dict[str, Any] = {
        spec.key: {
            "label": spec.label,
            "worker": spec.worker,
            "params": spec.params,
            "expected_steps": expected_steps(
                spec.params["kind"], spec.params["n"], spec.params["batch_size"]
            ),
            "runs": [],
        }
        for spec in specs
    }
    # moto's server logs every request through werkzeug's logger, on this console.
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)
    try:
        with LoopbackS3() as s3:
            s3.create_bucket(BUCKET)
            s3_env = {**env, **s3.environment()}
            for round_index in range(rounds):
                shift = round_index % len(specs)
                for spec in specs[shift:] + specs[:shift]:
                    log(f"storage round {round_index + 1}/{rounds}: {spec.key}")
                    run_env = env
                    if spec.params["storage"] == "s3":
                        run_env = {
                            **s3_env,
                            "SYNAPREFECT_STORAGE": f"s3://{BUCKET}/{spec.key}-round{round_index + 1}",
                        }
                    reset_server(endpoint)
                    # This process only waits for the worker, and serves S3 requests.
                    cpu = time.process_time()
                    run = run_worker(
                        spec.worker,
                        endpoint.base_url,
                        spec.params,
                        env=run_env,
                        scratch=scratch,
                        warmup=warmup,
                    )
                    run["s3_server_cpu_s"] = time.process_time() - cpu
                    results[spec.key]["runs"].append(run)
            # Finished runs are pruned (kept runs: 0 by default); what is left was not.
            left = len(s3.keys(BUCKET))
    finally:
        werkzeug.setLevel(level)
    for entry in results.values():
        entry["objects_left_in_bucket"] = left
    return results
