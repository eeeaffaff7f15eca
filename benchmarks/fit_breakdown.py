"""Where a tracked fit's extra wall time goes.

``python -m benchmarks.fit_breakdown [--rounds 10]`` (about 5 minutes) runs the
benchmark's fit (``benchmarks.workloads.training.synaprefect_fit``: 200 samples x 2
epochs, batch 16, RandomFewShot, the simulated LM at 50 ms) in one process, against a
Prefect API server of its own: tracked, untracked, and tracked with one part of
tracking switched off, each once per round, interleaved. It prints, for each, the median
wall and its ratio to the untracked fit, and the median of the per-round differences
with the tracked fit of the same round (what the part costs), with their spread.

The parts are switched off in this process only, by replacing the function that does
the work, so the rows without them are measures, not settings anyone could run with:

- ``no_events``: Prefect's task-run state events (``emit_event`` in
  ``prefect.utilities.engine``), three per task run. Without them the task runs never
  reach the API, so the Prefect server's work for them (on the same cores) goes too;
- ``no_artifacts``: the artifact requests of the fit (variables, progress, history,
  summary, plots); the plots are still drawn;
- ``no_plots``: the plots artifact, drawing included (``SYNAPREFECT_FIT_PLOTS=0``);
- ``awaited_whole``: each task run awaited until Prefect has recorded its end, as before
  ``orchestration/finishing.py`` (the program goes on once the body returns).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

from benchmarks.run import Settings, use_worker_environment

__all__ = ["main", "benchmark_fit", "replaced", "with_own_prefect_api"]

T = TypeVar("T")

_PLOTS_VARIABLE = "SYNAPREFECT_FIT_PLOTS"


@contextlib.contextmanager
def replaced(owner: object, names: tuple[str, ...], stand_in: object) -> Iterator[None]:
    """``owner.<name>`` is ``stand_in`` for each of ``names`` while the block runs (in
    this process only), then what it was."""
    saved = {name: getattr(owner, name) for name in names}
    for name in names:
        setattr(owner, name, stand_in)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(owner, name, value)


def _switches() -> dict[str, Callable[[], contextlib.AbstractContextManager]]:
    """For each row, what it switches off (an empty context for the plain rows)."""
    import prefect.utilities.engine as prefect_engine

    import synaprefect.orchestration.prefect_runtime as prefect_runtime
    from synaprefect.orchestration import finishing

    async def publish_nothing(*args, **kwargs) -> None:
        return None

    @contextlib.contextmanager
    def no_plots() -> Iterator[None]:
        # The variable, not config.set_fit_plots: a setter's value would outlive the row.
        before = os.environ.get(_PLOTS_VARIABLE)
        os.environ[_PLOTS_VARIABLE] = "0"
        try:
            yield
        finally:
            if before is None:
                del os.environ[_PLOTS_VARIABLE]
            else:
                os.environ[_PLOTS_VARIABLE] = before

    publishers = ("publish_json", "publish_table", "publish_markdown", "progress")
    return {
        "tracked": contextlib.nullcontext,
        "no_events": lambda: replaced(prefect_engine, ("emit_event",), lambda *a, **k: None),
        "no_artifacts": lambda: replaced(
            prefect_runtime.PrefectRuntime, publishers, publish_nothing
        ),
        "no_plots": no_plots,
        "awaited_whole": lambda: replaced(finishing, ("run",), _awaited_whole),
        "untracked": contextlib.nullcontext,
    }


async def _awaited_whole(start):
    return await start(lambda body: body)


FitOnce = Callable[..., Awaitable[float]]


@contextlib.asynccontextmanager
async def benchmark_fit() -> AsyncIterator[FitOnce]:
    """``fit(tracking, on_start=None)``: the benchmark's fit on the simulated LM (its own
    process), after one tracked warm-up fit; returns its wall time in seconds.
    ``on_start`` is called once the program is built, just before ``fit`` starts."""
    from benchmarks.workloads.common import Endpoint
    from benchmarks.workloads.training import synaprefect_fit
    from synaprefect.testing import SimulatedLM

    settings = Settings()
    with SimulatedLM(
        latency=settings.latency, mode="process", responder="benchmarks.responders:respond"
    ) as server:
        endpoint = Endpoint(server.base_url)

        async def fit(tracking: bool, on_start: Callable[[], None] | None = None) -> float:
            measurement = await synaprefect_fit(
                endpoint,
                settings.fit_samples,
                settings.fit_epochs,
                settings.fit_batch_size,
                settings.concurrency,
                tracking=tracking,
                on_start=on_start,
            )
            return measurement.wall_s

        await fit(True)  # warm-up: imports, clients, the first flow run
        yield fit


def with_own_prefect_api(measure: Callable[[], Awaitable[T]]) -> T:
    """Run ``measure()`` in this process against a Prefect API server of its own, in the
    benchmark workers' environment (scratch homes, removed afterwards)."""
    scratch = Path(tempfile.mkdtemp(prefix="fit-breakdown-"))
    try:
        use_worker_environment(scratch)
        from synaprefect.testing.prefect_harness import start_prefect_api

        (scratch / "prefect-db").mkdir()
        api = start_prefect_api(scratch / "prefect-db")
        try:
            return asyncio.run(measure())  # type: ignore[arg-type]
        finally:
            api.stop()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


async def _measure(rounds: int) -> dict[str, list[float]]:
    switches = _switches()
    walls: dict[str, list[float]] = {name: [] for name in switches}
    async with benchmark_fit() as fit:
        for round_ in range(rounds):
            names = list(switches)
            names = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in names:
                await asyncio.sleep(1.0)  # let the server digest the last fit
                with switches[name]():
                    walls[name].append(await fit(name != "untracked"))
    return walls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fit_breakdown")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    walls = with_own_prefect_api(lambda: _measure(args.rounds))
    untracked = statistics.median(walls["untracked"])
    print(f"fit, {args.rounds} interleaved rounds, medians (wall; ratio to untracked;")
    print("the tracked fit of the same round minus this one: median, min - max)")
    for name, values in walls.items():
        median = statistics.median(values)
        saved = [tracked - value for tracked, value in zip(walls["tracked"], values)]
        spread = f"{min(saved):+.2f} - {max(saved):+.2f}"
        print(
            f"  {name:13s} {median:6.2f} s  {median / untracked:5.2f}x  "
            f"saves {statistics.median(saved):+.2f} s ({spread})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
