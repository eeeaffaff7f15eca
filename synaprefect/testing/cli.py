"""Command line of the simulated LM (``python -m synaprefect.testing.server``).

It prints the base URL on the first stdout line, then serves until SIGINT or SIGTERM; the
process mode of ``SimulatedLM`` runs it. Example::

    python -m synaprefect.testing.server --port 8000 --latency 0.05 --fault-every 3 --faults 429,timeout
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from typing import Any

from synaprefect.testing.app import serve
from synaprefect.testing.faults import FaultPlan
from synaprefect.testing.simulation import Simulation

__all__ = ["main"]


def _comma_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m synaprefect.testing.server",
        description="Offline OpenAI-compatible simulated LM server. Prints its base URL, then serves.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    parser.add_argument(
        "--latency-jitter", type=float, default=0.0, help="random extra seconds, up to this"
    )
    parser.add_argument(
        "--fault-every", type=int, default=0, help="fail every N-th chat request (0: never)"
    )
    parser.add_argument(
        "--faults",
        type=_comma_list,
        default=None,
        help="fault kinds to cycle, e.g. 429,500,timeout",
    )
    parser.add_argument(
        "--fault-start", type=int, default=0, help="requests to let through before faults"
    )
    parser.add_argument(
        "--retry-after", type=float, default=0.0, help="Retry-After seconds of 429 faults"
    )
    parser.add_argument(
        "--hang-seconds", type=float, default=30.0, help="how long timeout faults hang"
    )
    parser.add_argument(
        "--faults-json", default=None, help="full FaultPlan.to_dict() JSON (overrides --fault-*)"
    )
    parser.add_argument("--api-key", default=None, help="require 'Authorization: Bearer KEY'")
    parser.add_argument(
        "--models", type=_comma_list, default=None, help="accepted model names besides 'simulated'"
    )
    parser.add_argument(
        "--responder", default=None, help="responder import path 'package.module:function'"
    )
    parser.add_argument("--embedding-dim", type=int, default=64)
    return parser.parse_args(argv)


def _plan_from_args(args: argparse.Namespace) -> FaultPlan | None:
    if args.faults_json:
        return FaultPlan.from_dict(json.loads(args.faults_json))
    if not args.fault_every and not args.faults:
        return None
    options: dict[str, Any] = {
        "every": args.fault_every or 3,
        "start": args.fault_start,
        "retry_after": args.retry_after,
        "hang_seconds": args.hang_seconds,
    }
    if args.faults:
        options["kinds"] = tuple(args.faults)
    return FaultPlan(**options)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: print the base URL on the first stdout line, serve until SIGINT/SIGTERM."""
    args = _parse_args(argv)
    simulation = Simulation(
        responder=args.responder,
        latency=args.latency,
        latency_jitter=args.latency_jitter,
        faults=_plan_from_args(args),
        api_key=args.api_key,
        models=args.models,
        embedding_dim=args.embedding_dim,
    )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, stop.set)
            except (
                NotImplementedError,
                RuntimeError,
            ):  # Windows: Ctrl-C raises KeyboardInterrupt instead
                pass
        await serve(simulation, args.host, args.port, lambda url: print(url, flush=True), stop)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0
