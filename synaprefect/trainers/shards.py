"""Evaluate and predict across processes, with programs and data travelling as JSON.

A *shard request* holds all a process needs to score (or predict) a slice of a dataset:
the whole program (architecture, compile settings, variables and model settings, never
API keys: each process reads its own), the slice's samples and the batch size. Nothing
is pickled. ``run_shard`` runs a request in any process (a Prefect worker's flow run, a
Dask worker) as the program's own resumable job (``Program.run_batches``) and returns its
per-batch results as JSON; ``combine`` turns the results of every shard, in order, into
exactly what an in-process ``evaluate`` or ``predict`` returns: shards hold whole
batches, and the metrics are updated batch by batch as in-process
(``Program.score_batches``).

``run_request`` runs any request a work pool's worker receives: a shard, or a kind that a
package above registered (``register_request_kind``: the tuners' trials), so that the
orchestration layer dispatches requests without importing the packages above it.

Example:
```python
bounds = shard_bounds(len(x), batch_size=8, shards=2)
requests = [shard_request(program, "evaluate", x[a:b], y[a:b], 8) for a, b in bounds]
results = [await run_shard(request) for request in requests]   # anywhere
scores = await combine(program, "evaluate", results, len(x), y)
```
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from synaprefect.saving.program_saving import program_document, program_from_document
from synaprefect.trainers import data as D
from synaprefect.trainers.replay import decode, encode

if TYPE_CHECKING:
    from synaprefect.programs import Program

__all__ = [
    "KINDS",
    "shard_bounds",
    "shard_request",
    "shard_template",
    "request_for",
    "run_shard",
    "combine",
    "register_request_kind",
    "run_request",
]

KINDS = ("evaluate", "predict")

# Other kinds of request, by their "kind" key, and what runs them (``tuners.remote``
# registers "trial" when imported; ``import synaprefect`` imports it).
_request_kinds: dict[str, Callable[[dict], Awaitable[Any]]] = {}


def _check_kind(kind: Any) -> None:
    if kind not in KINDS:
        raise ValueError(f"A shard's `kind` must be one of {KINDS}, got {kind!r}.")


def shard_bounds(size: int, batch_size: int, shards: int) -> list[tuple[int, int]]:
    """``[start, stop)`` slices of ``size`` samples that hold whole batches, as even as
    can be (never more shards than batches).

    Example: ``shard_bounds(10, batch_size=3, shards=2)  # [(0, 6), (6, 10)]``
    """
    for name, value in (("size", size), ("batch_size", batch_size), ("shards", shards)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"`{name}` must be an integer >= 1, got {value!r}.")
    batches = math.ceil(size / batch_size)
    count = min(shards, batches)
    per_shard, extra = divmod(batches, count)
    bounds, start = [], 0
    for index in range(count):
        stop = min(size, start + (per_shard + (index < extra)) * batch_size)
        bounds.append((start, stop))
        start = stop
    return bounds


def shard_request(program: Program, kind: str, x: list, y: list | None, batch_size: int) -> dict:
    """The JSON request for one shard: ``program`` as it is now, the samples ``x`` (and
    targets ``y`` for an evaluation) and the batch size.

    Example: ``request = shard_request(program, "predict", x[:50], None, batch_size=10)``
    """
    _check_kind(kind)
    x, y = program.prepare_samples(kind, x, y)  # checked against the inputs, before any call
    return request_for(shard_template(program), kind, x, y, batch_size)


def shard_template(program: Program) -> dict:
    """What every request about ``program`` in its current state shares: its document and
    the modules of its registered classes (made once for many shards)."""
    document = program_document(program)
    imports = _registered_modules(document)
    if "__main__" in imports:
        raise ValueError(
            "The program uses classes registered in the script itself (`__main__`), "
            "which other processes cannot import: move them to a module installed (or "
            "on the PYTHONPATH) where shards run."
        )
    return {"program": document, "imports": sorted(imports)}


def request_for(template: dict, kind: str, x: list, y: list | None, batch_size: int) -> dict:
    """The request for samples ``x`` (already checked, as ``Program.prepare_samples``
    returns them) and targets ``y``, from a ``shard_template``."""
    _check_kind(kind)
    return {"kind": kind, "batch_size": batch_size, **template, "samples": encode([x, y])}


def _registered_modules(document: Any) -> set[str]:
    """Modules outside synaprefect defining the registered classes (custom modules,
    rewards...) a program document uses: the receiving process imports them first."""
    found = set()
    if isinstance(document, dict):
        module = document.get("module")
        if (
            document.get("registered_name")
            and isinstance(module, str)
            and not (module == "synaprefect" or module.startswith("synaprefect."))
        ):
            found.add(module)
        for value in document.values():
            found |= _registered_modules(value)
    elif isinstance(document, list):
        for value in document:
            found |= _registered_modules(value)
    return found


async def run_shard(request: dict) -> dict:
    """Run one shard request in this process; returns its per-batch results as JSON.

    The shard is the program's own job (a flow run when tracking is on, batches as task
    runs, finished batches persisted): run again after a crash, it resumes.

    Example: ``results = await run_shard(request)``
    """
    if not isinstance(request, dict) or "program" not in request:
        raise ValueError(
            "A shard request is the dict `shard_request()` returns, with the "
            f"keys 'kind', 'batch_size', 'program' and 'samples'; got "
            f"{str(request)[:80]!r}."
        )
    _check_kind(request.get("kind"))
    for module in request.get("imports", []):
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise ImportError(
                f"The shard's program uses classes registered in `{module}`, which this "
                f"process cannot import ({error}): install it where shards run, or put "
                "it on their PYTHONPATH."
            ) from error
    program = program_from_document(request["program"], source="the shard's program")
    x, y = decode(request["samples"])
    return encode(await program.run_batches(request["kind"], x, y, request["batch_size"]))


def register_request_kind(kind: str, run: Callable[[dict], Awaitable[Any]]) -> None:
    """Make ``run_request`` hand requests whose ``"kind"`` is ``kind`` to ``run`` (a
    coroutine function of the request returning JSON).

    Example: ``register_request_kind("trial", run_trial_request)`` (what ``tuners`` does)
    """
    if kind in KINDS:
        raise ValueError(f"{kind!r} requests are shards: `run_shard` runs them.")
    _request_kinds[kind] = run


async def run_request(request: dict) -> Any:
    """Run any request of a work pool in this process: a shard (``run_shard``) or a kind
    registered with ``register_request_kind``; returns its JSON results.

    Example: ``results = await run_request(request)``
    """
    kind = request.get("kind") if isinstance(request, dict) else None
    run = _request_kinds.get(kind) if isinstance(kind, str) else None
    if run is not None:
        return await run(request)
    if kind not in KINDS:
        raise ValueError(
            f"A request's `kind` must be one of {sorted([*KINDS, *_request_kinds])}, got {kind!r}."
        )
    return await run_shard(request)


async def combine(
    program: Program, kind: str, results: list[dict], size: int, y: list | None = None
) -> dict[str, float] | np.ndarray:
    """What ``evaluate`` (the metrics, updated with every batch in order, on ``program``)
    or ``predict`` (the outputs) returns, from every shard's results in order; raises if
    they do not hold exactly ``size`` samples.

    Example: ``scores = await combine(program, "evaluate", results, len(x), y)``
    """
    _check_kind(kind)
    batches = [batch for result in results for batch in decode(result)]
    found = sum(len(batch if kind == "predict" else batch["y_pred"]) for batch in batches)
    if found != size:
        raise ValueError(f"The shards returned {found} results for {size} samples.")
    if kind == "predict":
        return D.object_array([output for batch in batches for output in batch])
    return await program.score_batches(batches, y)
