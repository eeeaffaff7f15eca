"""Where a tracked fit's extra wall time lies, phase by phase.

``python -m benchmarks.fit_timeline [--rounds 4]`` (about 20 seconds a round) runs the
benchmark's fit (``fit_breakdown.benchmark_fit``: 200 samples x 2 epochs, batch 16,
RandomFewShot, the simulated LM at 50 ms) tracked and untracked, alternately, in one
process against a Prefect API server of its own. During each fit it notes the wall time
and the CPU time of the fit's thread at:

- each LM request and its answer (``http_transport.chat_completion``);
- each synaprefect task run: when it is asked for, when its body starts (for a tracked
  run, once Prefect's engine has started it), when its caller gets the value;
- each request to the Prefect API (httpx).

It then cuts the fit into its start (until the first LM request), the LM rounds (some
request in flight), the gaps between rounds and its end (after the last answer), and
prints the median of each, tracked and untracked. Only the start, the gaps and the end
are on the fit's path: a request in flight hides whatever runs meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass

from benchmarks.fit_breakdown import benchmark_fit, replaced, with_own_prefect_api

__all__ = ["Mark", "phases", "timestamps", "main"]


@dataclass(frozen=True)
class Mark:
    """A moment of the fit: ``kind`` is one of fit, fit_done, request, answer (LM), call,
    body, done (a task run: asked for, body started, value returned), api, api_done
    (Prefect API); ``key`` pairs the marks of one task run or one API request."""

    wall: float
    cpu: float
    kind: str
    key: int = 0


def phases(marks: list[Mark]) -> dict[str, float]:
    """The phases of one fit, in seconds (counts as plain numbers), from its marks in the
    order they were taken: those from its ``fit`` mark to its ``fit_done`` mark (a
    request another thread finishes later is left out), with at least one LM request."""
    begin = next(i for i, m in enumerate(marks) if m.kind == "fit")
    finish = next(i for i, m in enumerate(marks) if m.kind == "fit_done")
    marks = marks[begin : finish + 1]
    requests = [m for m in marks if m.kind == "request"]
    answers = [m for m in marks if m.kind == "answer"]
    first, last = requests[0], answers[-1]
    gaps: list[tuple[Mark, Mark]] = []  # (answer leaving none in flight, next request)
    in_flight, idle_since = 0, None
    for mark in marks:
        if mark.kind == "request":
            if in_flight == 0 and idle_since is not None:
                gaps.append((idle_since, mark))
            in_flight += 1
        elif mark.kind == "answer":
            in_flight -= 1
            idle_since = mark if in_flight == 0 else None
    calls = {m.key: m for m in marks if m.kind == "call"}
    bodies = {m.key: m for m in reversed(marks) if m.kind == "body"}  # first attempt
    starts = [(calls[key], body) for key, body in bodies.items() if key in calls]
    start_spans = [(call.wall, body.wall) for call, body in starts]
    sent = {m.key: m.wall for m in marks if m.kind == "api"}
    api = [(sent[m.key], m.wall) for m in marks if m.kind == "api_done" and m.key in sent]
    gaps_wall = sum(request.wall - answer.wall for answer, request in gaps)
    return {
        "wall": marks[-1].wall - marks[0].wall,
        "start": first.wall - marks[0].wall,
        "api_at_start": _covered(api, marks[0].wall, first.wall),
        "lm_rounds": last.wall - first.wall - gaps_wall,
        "gaps": gaps_wall,
        "gaps_cpu": sum(request.cpu - answer.cpu for answer, request in gaps),
        "gap_count": len(gaps),
        "task_runs": len(starts),
        "task_run_starts": sum(body.wall - call.wall for call, body in starts),
        "task_run_starts_cpu": sum(body.cpu - call.cpu for call, body in starts),
        "task_run_starts_in_gaps": sum(
            _covered(start_spans, answer.wall, request.wall) for answer, request in gaps
        ),
        "end": marks[-1].wall - last.wall,
        "api_at_end": _covered(api, last.wall, marks[-1].wall),
        "api_requests": len(api),
    }


def _now(kind: str, key: int = 0) -> Mark:
    return Mark(time.perf_counter(), time.thread_time(), kind, key)


def _covered(intervals: list[tuple[float, float]], low: float, high: float) -> float:
    """How long, between ``low`` and ``high``, at least one interval is open."""
    covered, reached = 0.0, low
    for begin, end in sorted(intervals):
        begin, end = max(begin, reached), min(end, high)
        if end > begin:
            covered += end - begin
            reached = end
    return covered


@contextlib.contextmanager
def timestamps(marks: list[Mark]) -> Iterator[None]:
    """Append a ``Mark`` to ``marks`` at each moment the module docstring lists, while
    the block runs (in this process only: the functions are wrapped, then restored)."""
    import httpx

    import synaprefect.language_models.http_transport as http_transport
    from synaprefect.orchestration.prefect_runtime import PrefectRuntime
    from synaprefect.trainers.runtime import LocalRuntime

    keys = itertools.count(1)

    def mark(kind: str, key: int = 0) -> None:
        marks.append(_now(kind, key))

    chat_completion = http_transport.chat_completion

    async def timed_chat_completion(*args, **kwargs):
        mark("request")
        try:
            return await chat_completion(*args, **kwargs)
        finally:
            mark("answer")

    def timed_task(task):
        async def timed(self, name, body, *, run_name, **options):
            key = next(keys)
            mark("call", key)

            async def timed_body():
                mark("body", key)
                return await body()

            try:
                return await task(self, name, timed_body, run_name=run_name, **options)
            finally:
                mark("done", key)

        return timed

    async_send, sync_send = httpx.AsyncClient.send, httpx.Client.send

    async def timed_async_send(self, request, *args, **kwargs):
        key = next(keys)
        mark("api", key)
        try:
            return await async_send(self, request, *args, **kwargs)
        finally:
            mark("api_done", key)

    def timed_sync_send(self, request, *args, **kwargs):
        key = next(keys)
        mark("api", key)
        try:
            return sync_send(self, request, *args, **kwargs)
        finally:
            mark("api_done", key)

    stand_ins = [
        (http_transport, "chat_completion", timed_chat_completion),
        (PrefectRuntime, "task", timed_task(PrefectRuntime.task)),
        (LocalRuntime, "task", timed_task(LocalRuntime.task)),
        (httpx.AsyncClient, "send", timed_async_send),
        (httpx.Client, "send", timed_sync_send),
    ]
    with contextlib.ExitStack() as stack:
        for owner, name, stand_in in stand_ins:
            stack.enter_context(replaced(owner, (name,), stand_in))
        yield


async def _measure(rounds: int) -> dict[bool, list[dict[str, float]]]:
    results: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    async with benchmark_fit() as fit:
        for round_ in range(rounds):
            for tracking in (True, False) if round_ % 2 == 0 else (False, True):
                await asyncio.sleep(1.0)  # let the server digest the last fit
                marks: list[Mark] = []
                with timestamps(marks):
                    await fit(tracking, lambda marks=marks: marks.append(_now("fit")))
                    marks.append(_now("fit_done"))
                results[tracking].append(phases(marks))
    return results


_ROWS = [
    ("wall", "whole fit", "s"),
    ("start", "start: until the first LM request", "s"),
    ("api_at_start", "  of which with a Prefect API request out", "s"),
    ("lm_rounds", "LM rounds (a request in flight)", "s"),
    ("gaps", "gaps between LM rounds", "s"),
    ("gaps_cpu", "  CPU of the fit's thread in them", "s"),
    ("gap_count", "  number of gaps", ""),
    ("task_run_starts_in_gaps", "  task-run starts in them (asked for -> body)", "s"),
    ("task_run_starts", "task-run starts, all", "s"),
    ("task_run_starts_cpu", "  CPU of the fit's thread in them", "s"),
    ("task_runs", "  number of task runs", ""),
    ("end", "end: after the last LM answer", "s"),
    ("api_at_end", "  of which with a Prefect API request out", "s"),
    ("api_requests", "Prefect API requests in the fit", ""),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fit_timeline")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    results = with_own_prefect_api(lambda: _measure(args.rounds))
    print(f"fit, {args.rounds} rounds, medians | tracked | untracked | difference")
    for key, label, unit in _ROWS:
        on = statistics.median(r[key] for r in results[True])
        off = statistics.median(r[key] for r in results[False])
        if unit:
            print(f"  {label:44s} {on:7.3f} s {off:7.3f} s {on - off:+7.3f} s")
        else:
            print(f"  {label:44s} {on:7.0f}   {off:7.0f}   {on - off:+7.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
