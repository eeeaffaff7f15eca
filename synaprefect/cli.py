"""The ``synaprefect`` command line: train, evaluate and run programs on dataset files.

Example:
```
synaprefect fit flows/data/capitals.jsonl -o capitals.json
synaprefect evaluate flows/data/capitals_holdout.jsonl --program capitals.json
synaprefect predict questions.jsonl --program capitals.json -o answers.jsonl
```

Exit codes: 0 success, 1 the job failed (malformed data, model or training errors), 2 bad
usage (unknown option, bad value, missing file). Errors are one line on stderr.
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from synaprefect.language_models.errors import LanguageModelError

__all__ = ["main"]

_EPILOG = """\
examples:
  synaprefect demo
  synaprefect fit flows/data/capitals.jsonl -o capitals.json --model simulated
  synaprefect evaluate flows/data/capitals_holdout.jsonl --program capitals.json
  synaprefect predict s3://data/holdout.jsonl --program s3://models/capitals.json
  synaprefect runs --prune --keep 2
  synaprefect serve-lm --port 8000

datasets: .json (an array of rows, or an object with a "rows" array), .jsonl or .csv;
columns map onto the program's fields by name. Paths may be storage URLs (s3://, gs://,
az://); $SYNAPREFECT_STORAGE is where run state goes.
language model: --model takes any litellm model string (its key comes from the provider's
variable, e.g. OPENAI_API_KEY); default $SYNAPREFECT_MODEL; "simulated" is the offline
simulated LM (demo data only). Without any, a job fails before it starts.
tracking: fit, evaluate and predict run as Prefect flows at $PREFECT_API_URL (else a local
Prefect API started on first use); --no-tracking runs them without Prefect.
exit codes: 0 success, 1 the job failed, 2 bad usage.
"""


class _UsageError(Exception):
    """A bad command line found after parsing: reported like argparse's errors (exit 2)."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Example: ``main(["evaluate", "holdout.jsonl", "--program", "capitals.json"])``
    """
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2), already printed
        return int(exit_.code or 0)
    if getattr(args, "handler", None) is None:
        parser.print_usage(sys.stderr)
        print("synaprefect: error: choose a command (synaprefect --help lists them)",
              file=sys.stderr)
        return 2
    try:
        return args.handler(args)
    except _UsageError as error:
        args.command_parser.print_usage(sys.stderr)
        print(f"{args.command_parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.traceback:
            raise
        print(f"{args.command_parser.prog}: error: {_describe(error)}", file=sys.stderr)
        return 1


# ---- commands --------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    from synaprefect.demo import run_demo

    _quiet_prefect_console()
    return asyncio.run(run_demo(model=args.model))


async def _fit(args: argparse.Namespace) -> int:
    from synaprefect import datasets, recipes
    from synaprefect.storage import location

    if args.program and (args.input_fields or args.output_fields):
        raise _UsageError("--input-fields/--output-fields shape a new program; a program "
                          "given with --program keeps its own fields")
    rows = datasets.load_rows(args.data)
    with _language_model(args) as lm:
        program = await recipes.load_or_build_program(
            rows, lm, args.program, name=args.name or Path(args.output).stem,
            input_fields=args.input_fields, output_fields=args.output_fields)
        x, y = datasets.to_samples(rows, program.inputs, program.outputs)
        history = await program.fit(x, y, epochs=args.epochs, batch_size=args.batch_size,
                                    validation_split=args.validation_split,
                                    verbose=args.verbose)
    program.save(args.output)
    final = {key: values[-1] for key, values in history.history.items() if values}
    print(f"Saved {program.name} to {location(args.output).url}"
          + "".join(f"; {key} {value:.4f}" for key, value in final.items()))
    return 0


async def _evaluate(args: argparse.Namespace) -> int:
    from synaprefect import datasets, recipes

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


async def _predict(args: argparse.Namespace) -> int:
    from synaprefect import datasets, recipes

    rows = datasets.load_rows(args.data)
    with _language_model(args) as lm:
        program = recipes.load_program(args.program, lm)
        x, _ = datasets.to_samples(rows, program.inputs)
        expected = program.estimate_calls(x, kind="evaluate")["inference"]
        async with _call_progress(program, expected, "predict"):
            outputs = await program.predict(x, batch_size=args.batch_size, verbose=0)
    lines = "".join(json.dumps(o.get_json() if o is not None else None, ensure_ascii=False)
                    + "\n" for o in outputs)
    if args.output is None:
        sys.stdout.write(lines)
    else:
        from synaprefect.storage import location

        target = location(args.output)
        target.write_bytes(lines.encode("utf-8"))
        print(f"Wrote {len(outputs)} predictions to {target.url}")
    return 0


def _tune(args: argparse.Namespace) -> int:
    path = args.flow or next((p for p in _tune_flow_candidates() if p.is_file()), None)
    if path is None:
        raise _UsageError("no tuning flow found at "
                          f"{' or '.join(map(str, _tune_flow_candidates()))}; pass --flow "
                          "PATH to a file defining a `tune` flow")
    _quiet_prefect_console()  # before the flow's file imports Prefect
    spec = importlib.util.spec_from_file_location("synaprefect_tune_flow", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tune = getattr(module, "tune", None)
    if not callable(tune):
        raise _UsageError(f"{path} defines no `tune` flow")
    parameters = dict(args.param)
    parameters.update({key: getattr(args, key) for key in ("model", "api_base")
                       if getattr(args, key) is not None})
    accepted = inspect.signature(getattr(tune, "fn", tune)).parameters
    unknown = sorted(set(parameters) - set(accepted))
    if unknown:
        raise _UsageError(f"{path}:tune takes no parameter {', '.join(unknown)}; it takes "
                          f"{', '.join(accepted) or 'none'}")
    if args.no_tracking:
        tune = getattr(tune, "fn", tune)  # the function under a Prefect flow
    with _tracking(args):
        result = tune(**parameters)
        if inspect.isawaitable(result):
            result = asyncio.run(result)
    if result is not None:
        print(json.dumps(result, default=str))
    return 0


def _serve_lm(args: argparse.Namespace) -> int:
    from synaprefect.recipes import simulated_lm

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with simulated_lm(host=args.host, port=args.port, latency=args.latency) as server:
        # The URL comes first, alone on its line, for scripts.
        print(server.base_url, flush=True)
        print(f"Serving the simulated LM; use it with --model {server.model} --api-base "
              f"{server.base_url} and OPENAI_API_KEY set to any value. Ctrl-C stops it.",
              file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    return 0


# ---- helpers ---------------------------------------------------------------------------


def _quiet_prefect_console() -> None:
    """Keep the terminal for the progress bar: Prefect's one-line-per-run INFO messages
    leave the console only (runs, states and logs still reach the Prefect API). Prefect
    applies its logging configuration when first imported, so this goes through its
    environment overrides."""
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


def _tracking(args: argparse.Namespace):
    from synaprefect.orchestration import tracking

    return tracking(False) if args.no_tracking else contextlib.nullcontext()


@contextlib.contextmanager
def _language_model(args: argparse.Namespace):
    """The job's language model, within the job's Prefect settings."""
    from synaprefect.recipes import open_language_model

    _quiet_prefect_console()
    if args.seed is not None:
        from synaprefect.config import set_seed

        set_seed(args.seed)
    with _tracking(args), open_language_model(args.model, args.api_base) as lm:
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
        stream.write(f"\r{label}: {done}/{expected} LM calls "
                     f"[{'=' * filled}{'.' * (width - filled)}]{end}")
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
    return [Path("flows/tune.py"), Path(__file__).resolve().parents[1] / "flows" / "tune.py"]


def _describe(error: BaseException) -> str:
    """One line: the message of an error about the inputs, else its type and message."""
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if error.__cause__ is not None and not isinstance(error, (ValueError, OSError)):
        message = f"{message} ({_describe(error.__cause__)})"
    # Our model errors and errors about the inputs describe themselves.
    if message and (isinstance(error, (ValueError, OSError, LanguageModelError))
                    or type(error).__name__ in message):
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


# ---- argument types: a bad value is a one-line usage error (exit 2) --------------------


def _existing_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"file not found: '{text}'")
    return path


def _existing_data(text: str) -> str:
    """A local file or a storage URL (``s3://bucket/rows.jsonl``) that exists."""
    from synaprefect.storage import is_url, location

    if not is_url(text):
        return str(_existing_file(text))
    try:
        found = location(text).exists()
    except (ImportError, ValueError, OSError) as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    if not found:
        raise argparse.ArgumentTypeError(f"file not found: '{text}'")
    return text


def _program_file(text: str) -> str:
    if not text.endswith(".json"):
        raise argparse.ArgumentTypeError(f"a program file ends with .json, got '{text}'")
    return text


def _existing_program(text: str) -> str:
    return _existing_data(_program_file(text))





def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got '{text}'")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got '{text}'")
    return value


def _field_list(text: str) -> list[str]:
    fields = [field.strip() for field in text.split(",") if field.strip()]
    if not fields:
        raise argparse.ArgumentTypeError(f"expected comma-separated field names, got "
                                         f"'{text}'")
    return fields


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got '{text}'")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw  # a bare string


# ---- parser ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from synaprefect.version import __version__

    parser = argparse.ArgumentParser(
        prog="synaprefect",
        description="Train, evaluate and run language-model programs as Prefect flows.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"synaprefect {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Callable, summary: str,
                description: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=summary, description=description)
        run = (lambda args: asyncio.run(handler(args))) if inspect.iscoroutinefunction(
            handler) else handler
        sub.set_defaults(handler=run, command_parser=sub)
        if name not in ("demo", "tune", "serve-lm", "runs"):
            sub.add_argument("data", type=_existing_data, metavar="DATA",
                             help="dataset file: .json, .jsonl or .csv, a path or a "
                                  "storage URL (s3://...)")
        return sub

    def model_options(sub: argparse.ArgumentParser, api_base: bool = True) -> None:
        group = sub.add_argument_group("language model")
        group.add_argument("--model", metavar="MODEL",
                           help="any litellm model string, e.g. openai/gpt-4o-mini, or "
                                "'simulated' for the offline simulated LM (default: "
                                "$SYNAPREFECT_MODEL; none: the job fails before it starts)")
        if api_base:
            group.add_argument("--api-base", metavar="URL",
                               help="an OpenAI-compatible server for --model, e.g. the "
                                    "URL `synaprefect serve-lm` prints")

    def run_options(sub: argparse.ArgumentParser, tracking: bool = True,
                    seed: bool = True) -> None:
        group = sub.add_argument_group("run")
        if tracking:
            group.add_argument("--no-tracking", action="store_true",
                               help="run without Prefect (default: tracked as Prefect "
                                    "flows)")
        if seed:
            group.add_argument("--seed", type=int, metavar="N",
                               help="seed of shuffling and optimizer choices")
        group.add_argument("--traceback", action="store_true",
                           help="show the full traceback when the command fails")

    demo = command("demo", _demo, "run the end-to-end demo (offline unless --model)",
                   "Train a question-answering program on the bundled capitals, as a "
                   "Prefect flow, and print its validation reward before and after.")
    model_options(demo, api_base=False)
    run_options(demo, tracking=False, seed=False)

    fit = command(
        "fit", _fit, "train a program on a dataset and save it",
        "Train a program on DATA and save it to --output. Without --program, a new "
        "program is built: one Generator from the input fields to the output fields "
        "(default: the last column is the output, the others are inputs), trained with "
        "RandomFewShot few-shot examples on an exact-match reward.")
    fit.add_argument("-o", "--output", type=_program_file, required=True, metavar="PATH",
                     help="where to save the trained program (.json)")
    fit.add_argument("--program", type=_existing_program, metavar="PATH",
                     help="a saved program (.json) to train further")
    fit.add_argument("--input-fields", type=_field_list, metavar="A,B",
                     help="input columns of a new program")
    fit.add_argument("--output-fields", type=_field_list, metavar="C",
                     help="output columns of a new program")
    fit.add_argument("--name", help="name of a new program (default: the output file's "
                                    "name); it prefixes its Prefect runs and artifacts")
    fit.add_argument("--epochs", type=_positive_int, default=3, metavar="N",
                     help="passes over the training data (default: 3)")
    fit.add_argument("--batch-size", type=_positive_int, default=8, metavar="N",
                     help="samples per optimizer step (default: 8)")
    fit.add_argument("--validation-split", type=_fraction, default=0.2, metavar="F",
                     help="last fraction of DATA kept to score candidates (default: 0.2)")
    fit.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                     help="0 silent, 1 a progress bar per epoch, 2 a line per epoch")
    model_options(fit)
    run_options(fit)

    evaluate = command(
        "evaluate", _evaluate, "score a saved program on a dataset",
        "Score a saved program on DATA (its input and expected output columns) and "
        "print the reward and metrics.")
    evaluate.add_argument("--program", type=_existing_program, required=True,
                          metavar="PATH", help="the saved program (.json)")
    evaluate.add_argument("--batch-size", type=_positive_int, default=32, metavar="N",
                          help="samples sent together (default: 32)")
    evaluate.add_argument("--json", action="store_true",
                          help="print the scores as one JSON object")
    model_options(evaluate)
    run_options(evaluate)

    predict = command(
        "predict", _predict, "run a saved program on a dataset",
        "Run a saved program on the input columns of DATA and write one JSON output "
        "per row (null where the program returned nothing), as JSON Lines.")
    predict.add_argument("--program", type=_existing_program, required=True,
                         metavar="PATH", help="the saved program (.json)")
    predict.add_argument("-o", "--output", metavar="PATH",
                         help="JSON Lines file to write (default: stdout)")
    predict.add_argument("--batch-size", type=_positive_int, default=8, metavar="N",
                         help="samples sent together (default: 8)")
    model_options(predict)
    run_options(predict)

    tune = command(
        "tune", _tune, "search hyperparameters with the project's tune flow",
        "Run the `tune` flow of flows/tune.py (or --flow) with the given parameters; "
        "an unknown parameter lists the ones it takes.")
    tune.add_argument("--flow", type=_existing_file, metavar="PATH",
                      help="file defining the `tune` flow (default: flows/tune.py)")
    tune.add_argument("--param", type=_key_value, action="append", default=[],
                      metavar="KEY=VALUE",
                      help="a flow parameter; VALUE is read as JSON, else as a string "
                           "(repeatable)")
    model_options(tune)
    run_options(tune, seed=False)

    serve = command(
        "serve-lm", _serve_lm, "serve the offline simulated LM",
        "Serve the simulated LM (OpenAI-compatible, offline) until interrupted. It knows "
        "the bundled capitals and follows the house style only when its prompt shows "
        "it. The first line printed is its base URL, for --api-base.")
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000,
                       help="default: 8000; 0 picks a free port")
    serve.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                       help="delay added to every answer (default: 0)")
    run_options(serve, tracking=False, seed=False)

    runs = command(
        "runs", _runs, "list or prune the persisted state of jobs",
        "List the run folders of fit, evaluate and predict jobs (persisted steps and LM "
        "answers under $SYNAPREFECT_HOME/runs), or delete them with --prune. A finished "
        "job's folder is removed when it ends (set $SYNAPREFECT_KEEP_RUNS to keep the "
        "last N); an unfinished one is kept because running the same job again resumes "
        "from it.")
    runs.add_argument("--program", metavar="NAME", help="only this program's runs")
    runs.add_argument("--prune", action="store_true",
                      help="delete finished jobs' folders but the newest --keep")
    runs.add_argument("--keep", type=int, default=0, metavar="N",
                      help="with --prune: finished jobs kept per program (default: 0)")
    runs.add_argument("--unfinished", action="store_true",
                      help="with --prune: also delete unfinished jobs (they will not "
                           "resume)")
    run_options(runs, tracking=False, seed=False)
    return parser


def _runs(args: argparse.Namespace) -> int:
    from synaprefect.trainers.replay import list_runs, prune_runs

    if args.keep < 0:
        raise _UsageError(f"--keep must be >= 0, got {args.keep}")
    if args.prune:
        for path in prune_runs(args.program, keep=args.keep, unfinished=args.unfinished):
            print(f"deleted {path}")
        return 0
    for run in list_runs(args.program):
        state = "finished" if run["finished"] else "unfinished (resumes)"
        print(f"{run['program']}\t{run['job']}\t{state}\t{run['bytes']} bytes\t"
              f"{run['path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
