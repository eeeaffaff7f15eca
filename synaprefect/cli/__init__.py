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

import sys

from synaprefect.cli.errors import UsageError, describe
from synaprefect.cli.parser import build_parser

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code.

    Example: ``main(["evaluate", "holdout.jsonl", "--program", "capitals.json"])``
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2), already printed
        return int(exit_.code or 0)
    if getattr(args, "handler", None) is None:
        parser.print_usage(sys.stderr)
        print(
            "synaprefect: error: choose a command (synaprefect --help lists them)", file=sys.stderr
        )
        return 2
    try:
        return args.handler(args)
    except UsageError as error:
        args.command_parser.print_usage(sys.stderr)
        print(f"{args.command_parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if args.traceback:
            raise
        print(f"{args.command_parser.prog}: error: {describe(error)}", file=sys.stderr)
        return 1
