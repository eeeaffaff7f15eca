"""The commands of the command line, one function each (``args`` from the parser of
``cli.parser``), and what they share: the job's language model and tracking, and a
progress bar of LM calls.

Example:
```python
evaluate(build_parser().parse_args(["evaluate", "holdout.jsonl", "--program", "qa.json"]))
```
"""

import argparse
import asyncio
import contextlib
import importlib.util
import inspect
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from synaprefect import datasets, recipes
from synaprefect.cli.errors import UsageError
from synaprefect.config import set_seed
from synaprefect.demo import run_demo
from synaprefect.orchestration import tracking
from synaprefect.storage import location
from synaprefect.trainers.replay import list_runs, prune_runs

__all__ = ["demo", "fit", "evaluate", "predict", "tune", "serve_lm", "runs"]


def demo(args: argparse.Namespace) -> int:
    _quiet_prefect_console()
    return asyncio.run(run_demo(model=args.model))


async def fit(args: argparse.Namespace) -> int:
    if args.program and (args.input_fields or args.output_fields):
        raise UsageError(
            "--input-fields/--output-fields shape a new program; a program "
            "given with --program keeps its own fields"
        )
    rows = datasets.load_rows(args.data)
    with _language_model(args) as lm:
        program = await recipes.load_or_build_program(
            rows,
            lm,
            args.program,
            name=args.name or Path(args.output).stem,
            input_fields=args.input_fields,
            output_fields=args.output_fields,
        )
        x, y = datasets.to_samples(rows, program.inputs, program.outputs)
        history = await program.fit(
            x,
            y,
            epochs=args.epochs,
            batch_size=args.batch_size,
            validation_split=args.validation_split,
            verbose=args.verbose,
        )
    program.save(args.output)
    final = {key: values[-1] for key, values in history.history.items() if values}
    print(
        f"Saved {program.name} to {location(args.output).url}"
        + "".join(f"; {key} {value:.4f}" for key, value in final.items())
    )
    return 0


async def evaluate(args: argparse.Namespace) -> int:
    rows = datasets.load_rows(args.data)
    with _language_model(args) as lm:
        program = recipes.load_program(args.program, lm)
        x, y = datasets.to_samples(rows, program.inputs, program.outputs)
        expected = program.estimate_calls(x, kind="evaluate")["total"]
        async with _call_progress(program, expected, "evaluate"):
            scores = await program.evaluate(x, y, batch_size=args.batch_size, verbose=0)
    if args.json:
        print(json.dumps(scores))
    else:
        for metric, value in scores.items():
            print(f"{metric}: {value:.4f}")
    return 0


async def predict(args: argparse.Namespace) -> int:
    rows = datasets.load_rows(args.data)
    with _language_model(args) as lm:
        program = recipes.load_program(args.program, lm)
        x, _ = datasets.to_samples(rows, program.inputs)
        expected = program.estimate_calls(x, kind="evaluate")["inference"]
        async with _call_progress(program, expected, "predict"):
            outputs = await program.predict(x, batch_size=args.batch_size, verbose=0)
    lines = "".join(
        json.dumps(o.get_json() if o is not None else None, ensure_ascii=False) + "\n"
        for o in outputs
    )
    if args.output is None:
        sys.stdout.write(lines)
    else:
        target = location(args.output)
        target.write_bytes(lines.encode("utf-8"))
        print(f"Wrote {len(outputs)} predictions to {target.url}")
    return 0


def tune(args: argparse.Namespace) -> int:
    path = args.flow or next((p for p in _tune_flow_candidates() if p.is_file()), None)
    if path is None:
        raise UsageError(
            "no tuning flow found at "
            f"{' or '.join(map(str, _tune_flow_candidates()))}; pass --flow "
            "PATH to a file defining a `tune` flow"
        )
    _quiet_prefect_console()  # before the flow's file imports Prefect
    spec = importlib.util.spec_from_file_location("synaprefect_tune_flow", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path} is not a Python file that can be imported")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tune = getattr(module, "tune", None)
    if not callable(tune):
        raise UsageError(f"{path} defines no `tune` flow")
    parameters = dict(args.param)
    parameters.update(
        {key: getattr(args, key) for key in ("model", "api_base") if getattr(args, key) is not None}
    )
    accepted = inspect.signature(getattr(tune, "fn", tune)).parameters
    unknown = sorted(set(parameters) - set(accepted))
    if unknown:
        raise UsageError(
            f"{path}:tune takes no parameter {', '.join(unknown)}; it takes "
            f"{', '.join(accepted) or 'none'}"
        )
    if args.no_tracking:
        tune = getattr(tune, "fn", tune)  # the function under a Prefect flow
    with _tracking(args):
        result = tune(**parameters)
        if inspect.iscoroutine(result):
            result = asyncio.run(result)
    if result is not None:
        print(json.dumps(result, default=str))
    return 0


def serve_lm(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with recipes.simulated_lm(host=args.host, port=args.port, latency=args.latency) as server:
        # The URL comes first, alone on its line, for scripts.
        print(server.base_url, flush=True)
        print(
            f"Serving the simulated LM; use it with --model {server.model} --api-base "
            f"{server.base_url} and OPENAI_API_KEY set to any value. Ctrl-C stops it.",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    return 0


def _quiet_prefect_console() -> None:
    """Keep the terminal for the progress bar: Prefect's one-line-per-run INFO messages
    leave the console only (runs, states and logs still reach the Prefect API). Prefect
    applies its logging configuration when first imported, so this goes through its
    environment overrides."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


def _tracking(args: argparse.Namespace):
    return tracking(False) if args.no_tracking else contextlib.nullcontext()


@contextlib.contextmanager
def _language_model(args: argparse.Namespace):
    """The job's language model, within the job's Prefect settings."""
    _quiet_prefect_console()
    if args.seed is not None:
        set_seed(args.seed)
    with _tracking(args), recipes.open_language_model(args.model, args.api_base) as lm:
        yield lm


@contextlib.asynccontextmanager
async def _call_progress(program: Any, expected: int, label: str):
    """A one-line bar of the LM calls made out of ``expected``, redrawn on stderr when
    it is a terminal (stdout may carry the results)."""
    stream = sys.stderr
    if expected <= 0 or not stream.isatty():
        yield
        return
    models = program.language_models()

    def calls() -> int:
        return int(sum(model.counters()["calls"] for model in models))

    start, width = calls(), 30

    def draw(end: str = "") -> None:
        done = min(expected, calls() - start)
        filled = width * done // expected
        stream.write(
            f"\r{label}: {done}/{expected} LM calls [{'=' * filled}{'.' * (width - filled)}]{end}"
        )
        stream.flush()

    async def redraw() -> None:
        while True:
            draw()
            await asyncio.sleep(0.2)

    task = asyncio.create_task(redraw())
    try:
        yield
    finally:
        task.cancel()
        draw("\n")


def _tune_flow_candidates() -> list[Path]:
    # The project's flows/ from its root, or next to the package in a source checkout.
    return [Path("flows/tune.py"), Path(__file__).resolve().parents[2] / "flows" / "tune.py"]


def runs(args: argparse.Namespace) -> int:
    if args.keep < 0:
        raise UsageError(f"--keep must be >= 0, got {args.keep}")
    if args.prune:
        for path in prune_runs(args.program, keep=args.keep, unfinished=args.unfinished):
            print(f"deleted {path}")
        return 0
    for run in list_runs(args.program):
        state = "finished" if run["finished"] else "unfinished (resumes)"
        print(f"{run['program']}\t{run['job']}\t{state}\t{run['bytes']} bytes\t{run['path']}")
    return 0
