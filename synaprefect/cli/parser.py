"""The parser of the command line: its commands, their options and their help.

Example: ``args = build_parser().parse_args(["runs", "--prune", "--keep", "2"])``
"""

import argparse
import asyncio
import inspect
from collections.abc import Callable

from synaprefect.cli import arguments, commands
from synaprefect.version import __version__

__all__ = ["build_parser"]

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


def build_parser() -> argparse.ArgumentParser:
    """The parser of `synaprefect`: each command sets `handler` (its function) and
    `command_parser` (for its usage errors)."""
    parser = argparse.ArgumentParser(
        prog="synaprefect",
        description="Train, evaluate and run language-model programs as Prefect flows.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"synaprefect {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(
        name: str, handler: Callable, summary: str, description: str
    ) -> argparse.ArgumentParser:
        sub = subparsers.add_parser(name, help=summary, description=description)
        run = (
            (lambda args: asyncio.run(handler(args)))
            if inspect.iscoroutinefunction(handler)
            else handler
        )
        sub.set_defaults(handler=run, command_parser=sub)
        if name not in ("demo", "tune", "serve-lm", "runs"):
            sub.add_argument(
                "data",
                type=arguments.existing_data,
                metavar="DATA",
                help="dataset file: .json, .jsonl or .csv, a path or a storage URL (s3://...)",
            )
        return sub

    def model_options(sub: argparse.ArgumentParser, api_base: bool = True) -> None:
        group = sub.add_argument_group("language model")
        group.add_argument(
            "--model",
            metavar="MODEL",
            help="any litellm model string, e.g. openai/gpt-4o-mini, or "
            "'simulated' for the offline simulated LM (default: "
            "$SYNAPREFECT_MODEL; none: the job fails before it starts)",
        )
        if api_base:
            group.add_argument(
                "--api-base",
                metavar="URL",
                help="an OpenAI-compatible server for --model, e.g. the "
                "URL `synaprefect serve-lm` prints",
            )

    def run_options(sub: argparse.ArgumentParser, tracking: bool = True, seed: bool = True) -> None:
        group = sub.add_argument_group("run")
        if tracking:
            group.add_argument(
                "--no-tracking",
                action="store_true",
                help="run without Prefect (default: tracked as Prefect flows)",
            )
        if seed:
            group.add_argument(
                "--seed", type=int, metavar="N", help="seed of shuffling and optimizer choices"
            )
        group.add_argument(
            "--traceback",
            action="store_true",
            help="show the full traceback when the command fails",
        )

    demo = command(
        "demo",
        commands.demo,
        "run the end-to-end demo (offline unless --model)",
        "Train a question-answering program on the bundled capitals, as a "
        "Prefect flow, and print its validation reward before and after.",
    )
    model_options(demo, api_base=False)
    run_options(demo, tracking=False, seed=False)

    fit = command(
        "fit",
        commands.fit,
        "train a program on a dataset and save it",
        "Train a program on DATA and save it to --output. Without --program, a new "
        "program is built: one Generator from the input fields to the output fields "
        "(default: the last column is the output, the others are inputs), trained with "
        "RandomFewShot few-shot examples on an exact-match reward.",
    )
    fit.add_argument(
        "-o",
        "--output",
        type=arguments.program_file,
        required=True,
        metavar="PATH",
        help="where to save the trained program (.json)",
    )
    fit.add_argument(
        "--program",
        type=arguments.existing_program,
        metavar="PATH",
        help="a saved program (.json) to train further",
    )
    fit.add_argument(
        "--input-fields",
        type=arguments.field_list,
        metavar="A,B",
        help="input columns of a new program",
    )
    fit.add_argument(
        "--output-fields",
        type=arguments.field_list,
        metavar="C",
        help="output columns of a new program",
    )
    fit.add_argument(
        "--name",
        help="name of a new program (default: the output file's "
        "name); it prefixes its Prefect runs and artifacts",
    )
    fit.add_argument(
        "--epochs",
        type=arguments.positive_int,
        default=3,
        metavar="N",
        help="passes over the training data (default: 3)",
    )
    fit.add_argument(
        "--batch-size",
        type=arguments.positive_int,
        default=8,
        metavar="N",
        help="samples per optimizer step (default: 8)",
    )
    fit.add_argument(
        "--validation-split",
        type=arguments.fraction,
        default=0.2,
        metavar="F",
        help="last fraction of DATA kept to score candidates (default: 0.2)",
    )
    fit.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="0 silent, 1 a progress bar per epoch, 2 a line per epoch",
    )
    model_options(fit)
    run_options(fit)

    evaluate = command(
        "evaluate",
        commands.evaluate,
        "score a saved program on a dataset",
        "Score a saved program on DATA (its input and expected output columns) and "
        "print the reward and metrics.",
    )
    evaluate.add_argument(
        "--program",
        type=arguments.existing_program,
        required=True,
        metavar="PATH",
        help="the saved program (.json)",
    )
    evaluate.add_argument(
        "--batch-size",
        type=arguments.positive_int,
        default=32,
        metavar="N",
        help="samples sent together (default: 32)",
    )
    evaluate.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    model_options(evaluate)
    run_options(evaluate)

    predict = command(
        "predict",
        commands.predict,
        "run a saved program on a dataset",
        "Run a saved program on the input columns of DATA and write one JSON output "
        "per row (null where the program returned nothing), as JSON Lines.",
    )
    predict.add_argument(
        "--program",
        type=arguments.existing_program,
        required=True,
        metavar="PATH",
        help="the saved program (.json)",
    )
    predict.add_argument(
        "-o", "--output", metavar="PATH", help="JSON Lines file to write (default: stdout)"
    )
    predict.add_argument(
        "--batch-size",
        type=arguments.positive_int,
        default=8,
        metavar="N",
        help="samples sent together (default: 8)",
    )
    model_options(predict)
    run_options(predict)

    tune = command(
        "tune",
        commands.tune,
        "search hyperparameters with the project's tune flow",
        "Run the `tune` flow of flows/tune.py (or --flow) with the given parameters; "
        "an unknown parameter lists the ones it takes.",
    )
    tune.add_argument(
        "--flow",
        type=arguments.existing_file,
        metavar="PATH",
        help="file defining the `tune` flow (default: flows/tune.py)",
    )
    tune.add_argument(
        "--param",
        type=arguments.key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a flow parameter; VALUE is read as JSON, else as a string (repeatable)",
    )
    model_options(tune)
    run_options(tune, seed=False)

    serve = command(
        "serve-lm",
        commands.serve_lm,
        "serve the offline simulated LM",
        "Serve the simulated LM (OpenAI-compatible, offline) until interrupted. It knows "
        "the bundled capitals and follows the house style only when its prompt shows "
        "it. The first line printed is its base URL, for --api-base.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000, help="default: 8000; 0 picks a free port")
    serve.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="delay added to every answer (default: 0)",
    )
    run_options(serve, tracking=False, seed=False)

    runs = command(
        "runs",
        commands.runs,
        "list or prune the persisted state of jobs",
        "List the run folders of fit, evaluate and predict jobs (persisted steps and LM "
        "answers under $SYNAPREFECT_HOME/runs), or delete them with --prune. A finished "
        "job's folder is removed when it ends (set $SYNAPREFECT_KEEP_RUNS to keep the "
        "last N); an unfinished one is kept because running the same job again resumes "
        "from it.",
    )
    runs.add_argument("--program", metavar="NAME", help="only this program's runs")
    runs.add_argument(
        "--prune", action="store_true", help="delete finished jobs' folders but the newest --keep"
    )
    runs.add_argument(
        "--keep",
        type=int,
        default=0,
        metavar="N",
        help="with --prune: finished jobs kept per program (default: 0)",
    )
    runs.add_argument(
        "--unfinished",
        action="store_true",
        help="with --prune: also delete unfinished jobs (they will not resume)",
    )
    run_options(runs, tracking=False, seed=False)
    return parser
