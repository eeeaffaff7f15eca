"""What each Prefect object costs: plain ``prefect`` task runs, subflow runs and artifacts,
with the options synaprefect gives them (``orchestration.prefect_runtime``: async
functions, ``cache_policy=NONE``, ``persist_result=False``, no printed logs).

Each kind of object but ``flow`` is measured inside a flow run of its own, ``count``
objects in a row (the flow run itself is outside the window):

- ``task``: a task run awaited, one after another;
- ``task_gathered``: ``count`` task runs gathered at once;
- ``nested_task``: a task run awaited inside a task run (synaprefect's module tasks run
  inside its batch and optimizer-update tasks);
- ``subflow``: a flow called inside the flow run (synaprefect's tuner trials);
- ``markdown_artifact``: ``acreate_markdown_artifact`` awaited, one key (a variable's
  versions);
- ``progress_update``: ``aupdate_progress_artifact`` awaited on one progress artifact;
- ``flow``: synaprefect's own outermost flow run (``PrefectRuntime.flow`` with an empty
  body), one after another, outside any flow run: what each fit, evaluate and predict
  pays to start and end.

Per object: client wall, client CPU (this process, every thread, including the
background thread that sends Prefect's events, which the window waits for) and Prefect
server CPU (from the window's start until the server has digested it, less the server's
idle CPU over as long). After each window the objects are read back from the API and
counted, so a figure is never divided by objects that were not made.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks.workloads.common import (
    Endpoint,
    Measurement,
    prefect_server_cpu,
    prefect_server_pid,
    wait_until_idle,
)

__all__ = ["prefect_costs", "PREFECT_OBJECT_KINDS"]

PREFECT_OBJECT_KINDS = (
    "task",
    "task_gathered",
    "nested_task",
    "subflow",
    "markdown_artifact",
    "progress_update",
    "flow",
)
_ARTIFACT_KEY = "bench-prefect-costs"
# About the size of a published variable (a few hundred bytes of JSON in a fence).
_MARKDOWN = "```json\n" + '{"instructions": "' + "x" * 600 + '", "examples": []}\n```'
# Seconds over which the idle server's CPU is sampled.
_IDLE_SAMPLE_S = 2.0
# What synaprefect's flows get (a fixed version spares Prefect hashing the source).
_FLOW_OPTIONS = {
    "persist_result": False,
    "log_prints": False,
    "validate_parameters": False,
    "version": "bench",
}


def _objects() -> dict[str, Callable[[int, dict], Awaitable[None]]]:
    """For each kind, a coroutine function making ``count`` objects of it (``state``
    holds the progress artifact's id)."""
    import prefect
    from prefect.artifacts import acreate_markdown_artifact, aupdate_progress_artifact
    from prefect.cache_policies import NONE

    task_options = {"cache_policy": NONE, "persist_result": False, "log_prints": False}

    @prefect.task(name="bench-cost-leaf", **task_options)
    async def leaf() -> None:
        return None

    @prefect.task(name="bench-cost-outer", **task_options)
    async def outer(count: int) -> None:
        for _ in range(count):
            await leaf()

    @prefect.flow(name="bench-cost-subflow", **_FLOW_OPTIONS)
    async def child() -> None:
        return None

    async def tasks(count: int, state: dict) -> None:
        for _ in range(count):
            await leaf()

    async def gathered(count: int, state: dict) -> None:
        await asyncio.gather(*(leaf() for _ in range(count)))

    async def nested(count: int, state: dict) -> None:
        await outer(count)

    async def subflows(count: int, state: dict) -> None:
        for _ in range(count):
            await child()

    async def markdown(count: int, state: dict) -> None:
        for _ in range(count):
            await acreate_markdown_artifact(markdown=_MARKDOWN, key=_ARTIFACT_KEY)

    async def progress(count: int, state: dict) -> None:
        for i in range(count):
            await aupdate_progress_artifact(
                artifact_id=state["progress_id"], progress=100.0 * (i + 1) / count
            )

    return {
        "task": tasks,
        "task_gathered": gathered,
        "nested_task": nested,
        "subflow": subflows,
        "markdown_artifact": markdown,
        "progress_update": progress,
    }


async def _events_sent() -> None:
    """Wait until Prefect's background thread has sent this process's events (task run
    states travel as events); its next event opens a new connection."""
    from prefect.events.worker import EventsWorker

    await EventsWorker.drain_all(timeout=30, at_exit=False)


async def _server_settled() -> None:
    pid = prefect_server_pid()
    if pid is not None:
        await asyncio.to_thread(wait_until_idle, pid)


async def _idle_server_cpu_rate() -> float:
    """CPU seconds per second the Prefect server spends when nobody calls it."""
    await _server_settled()
    before = prefect_server_cpu()
    if before is None:
        return 0.0
    await asyncio.sleep(_IDLE_SAMPLE_S)
    return (prefect_server_cpu() - before) / _IDLE_SAMPLE_S


async def _timed(make: Callable[[], Awaitable[None]], idle_rate: float) -> dict[str, Any]:
    """Client wall and CPU of ``make()`` until its events are sent, and the Prefect
    server's CPU until it is idle again (with its idle CPU over as long)."""
    await _events_sent()
    await _server_settled()
    server = prefect_server_cpu()
    cpu, wall = time.process_time(), time.perf_counter()
    await make()
    wall_s = time.perf_counter() - wall
    await _events_sent()
    cpu_s = time.process_time() - cpu
    await _server_settled()
    window_s = time.perf_counter() - wall
    return {
        "wall_s": wall_s,
        "cpu_s": cpu_s,
        "server_cpu_s": None if server is None else prefect_server_cpu() - server,
        "server_idle_cpu_s": idle_rate * window_s if server is not None else None,
    }


def _host_flow(make: Callable[[int, dict], Awaitable[None]], idle_rate: float) -> Any:
    """A flow run that makes ``count`` objects with ``make`` and times only that."""
    import prefect
    from prefect.artifacts import acreate_progress_artifact
    from prefect.context import FlowRunContext

    @prefect.flow(name="bench-prefect-costs", **_FLOW_OPTIONS)
    async def host(kind: str, count: int) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if kind == "progress_update":
            state["progress_id"] = await acreate_progress_artifact(progress=0.0, key=_ARTIFACT_KEY)
        run = await _timed(lambda: make(count, state), idle_rate)
        run["flow_run_id"] = str(FlowRunContext.get().flow_run.id)
        return run

    return host


async def _outermost_flows(count: int, idle_rate: float) -> dict[str, Any]:
    """``count`` synaprefect flow runs in a row, outside any flow run, timed; they are
    named ``<prefix>-<i>`` (``prefix`` is returned, to read them back)."""
    from synaprefect.orchestration.prefect_runtime import PrefectRuntime

    runtime, prefix = PrefectRuntime(), f"bench-cost-flow-{uuid.uuid4().hex[:8]}"

    async def empty() -> None:
        return None

    async def make() -> None:
        for i in range(count):
            await runtime.flow("bench-cost-flow", empty, run_name=f"{prefix}-{i}")

    return {**await _timed(make, idle_rate), "prefix": prefix}


async def _flow_runs_named(prefix: str) -> int:
    """How many top-level flow runs the API holds whose names start with ``prefix``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterParentTaskRunId,
    )

    async with get_client() as client:
        return await client.count_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(like_=prefix),
                parent_task_run_id=FlowRunFilterParentTaskRunId(is_null_=True),
            )
        )


async def _read_back(
    flow_run_id: str, expected: dict[str, int], timeout: float = 30.0
) -> dict[str, int]:
    """Task runs, subflow runs and artifacts the API holds for the host flow run (task
    runs arrive as events: wait up to ``timeout`` s for ``expected``)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )

    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while True:
            task_runs, offset = 0, 0
            while True:  # the API answers at most 200 rows per request
                page = await client.read_task_runs(
                    flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                    limit=200,
                    offset=offset,
                )
                task_runs += len(page)
                offset += len(page)
                if len(page) < 200:
                    break
            counts = {
                "task_runs": task_runs,
                "subflow_runs": await client.count_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])
                    )
                ),
                "artifacts": len(
                    await client.read_artifacts(
                        artifact_filter=ArtifactFilter(
                            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
                        )
                    )
                ),
            }
            if counts == expected or time.monotonic() > deadline:
                return counts
            await asyncio.sleep(0.2)


def _expected(kind: str, count: int) -> dict[str, int]:
    """What the API should hold for a host flow run of ``count`` objects of ``kind``: a
    subflow call also makes a task run in its parent; a nested task has its outer task.
    (``flow`` runs have no host: ``count`` top-level flow runs.)"""
    if kind == "flow":
        return {"flow_runs": count}
    tasks = {"task": count, "task_gathered": count, "nested_task": count + 1, "subflow": count}.get(
        kind, 0
    )
    return {
        "task_runs": tasks,
        "subflow_runs": count if kind == "subflow" else 0,
        "artifacts": {"markdown_artifact": count, "progress_update": 1}.get(kind, 0),
    }


async def prefect_costs(
    endpoint: Endpoint, tasks: int = 200, subflows: int = 20, artifacts: int = 20, order: int = 0
) -> Measurement:
    """Every kind of ``PREFECT_OBJECT_KINDS`` measured once (``tasks`` task runs,
    ``subflows`` subflow runs and as many outermost flow runs, ``artifacts`` artifacts),
    starting at kind number ``order`` (rounds rotate it), after a warm-up flow run making one of each. ``endpoint`` is not
    called: no LM is involved."""
    counts = {
        "task": tasks,
        "task_gathered": tasks,
        "nested_task": tasks,
        "subflow": subflows,
        "markdown_artifact": artifacts,
        "progress_update": artifacts,
        "flow": subflows,
    }
    makers = _objects()
    for kind in PREFECT_OBJECT_KINDS:  # imports, clients, the first run of each kind
        if kind == "flow":
            await _outermost_flows(1, 0.0)
        else:
            await _host_flow(makers[kind], 0.0)(kind, 1)
    idle_rate = await _idle_server_cpu_rate()
    shift = order % len(PREFECT_OBJECT_KINDS)
    result = Measurement(extra={"server_idle_cpu_per_s": idle_rate, "costs": {}})
    for kind in PREFECT_OBJECT_KINDS[shift:] + PREFECT_OBJECT_KINDS[:shift]:
        count = counts[kind]
        expected = _expected(kind, count)
        if kind == "flow":
            run = await _outermost_flows(count, idle_rate)
            read_back = {"flow_runs": await _flow_runs_named(run.pop("prefix"))}
        else:
            run = await _host_flow(makers[kind], idle_rate)(kind, count)
            read_back = await _read_back(run.pop("flow_run_id"), expected)
        server = run["server_cpu_s"]
        net_server = None if server is None else server - run["server_idle_cpu_s"]
        result.wall_s += run["wall_s"]
        result.cpu_s += run["cpu_s"]
        result.extra["costs"][kind] = {
            "count": count,
            "expected": expected,
            "read_back": read_back,
            "wall_s": run["wall_s"],
            "cpu_s": run["cpu_s"],
            "server_cpu_s": server,
            "server_idle_cpu_s": run["server_idle_cpu_s"],
            "wall_ms_per_object": 1000 * run["wall_s"] / count,
            "cpu_ms_per_object": 1000 * run["cpu_s"] / count,
            "server_cpu_ms_per_object": None if net_server is None else 1000 * net_server / count,
        }
    return result
