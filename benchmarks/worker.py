"""Run one workload in this (fresh) process and write its measurement as JSON.

``python -m benchmarks.worker NAME --endpoint URL --params JSON --out FILE [--warmup N]``

A warm-up run on ``N`` samples comes first (imports, clients, the first flow run, the
connection pool), so the measured run sees a warm process, as a long-running program
would. ``--started FILE`` makes a fit write the time it starts (the resume workload kills
it part-way).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import time
from pathlib import Path
from typing import Any

from benchmarks.workloads import WORKLOADS
from benchmarks.workloads.common import Endpoint, Measurement

__all__ = ["run_workload", "main"]


def run_workload(
    name: str, endpoint: Endpoint, params: dict[str, Any], warmup: int = 0
) -> Measurement:
    """Call workload ``name`` with ``params``, after a warm-up call on ``warmup`` samples
    when ``warmup`` is set; a coroutine function runs both in one event loop."""
    function = WORKLOADS[name]
    warmup_params = {key: value for key, value in params.items() if key != "on_start"}
    if not inspect.iscoroutinefunction(function):
        if warmup:
            function(endpoint, **{**warmup_params, "n": warmup})
        return function(endpoint, **params)

    async def both() -> Measurement:
        if warmup:
            await function(endpoint, **{**warmup_params, "n": warmup})
        return await function(endpoint, **params)

    return asyncio.run(both())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker")
    parser.add_argument("name", choices=sorted(WORKLOADS))
    parser.add_argument("--endpoint", required=True, help="the simulated LM's base URL")
    parser.add_argument("--params", default="{}", help="keyword arguments as JSON")
    parser.add_argument("--warmup", type=int, default=0, help="samples of a warm-up run")
    parser.add_argument("--started", default=None, help="file a fit writes its start to")
    parser.add_argument("--out", required=True, help="where the JSON result goes")
    args = parser.parse_args(argv)
    endpoint = Endpoint(args.endpoint)
    params = json.loads(args.params)
    if args.started:
        params["on_start"] = lambda: Path(args.started).write_text(str(time.time()))
    result = run_workload(args.name, endpoint, params, warmup=args.warmup)
    Path(args.out).write_text(json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
