"""The ``synaprefect`` command line."""

import argparse
import asyncio
import sys

__all__ = ["main"]


def _quiet_prefect_console() -> None:
    """Keep the terminal for the progress bar: Prefect's one-line-per-run INFO messages
    leave the console only (runs, states and logs still reach the Prefect API). Prefect
    applies its logging configuration when first imported, so this goes through its
    environment overrides."""
    import os

    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")


def _demo(args: argparse.Namespace) -> int:
    from synaprefect.demo import run_demo

    _quiet_prefect_console()
    return asyncio.run(run_demo(model=args.model))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synaprefect",
        description="Build, train and run language-model programs as Prefect flows.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="run the end-to-end demo offline (simulated LM unless --model is set)"
    )
    demo.add_argument("--model", default=None,
                      help="any litellm model string, e.g. openai/gpt-4o-mini")
    demo.set_defaults(handler=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
