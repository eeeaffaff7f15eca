"""Throughput of one evaluate in-process, sharded over a work pool of 2 process workers,
and on a 2-worker Dask cluster; LM-bound, then with a CPU-heavy reward.

- ``in_process``: ``program.evaluate`` (tracking on), one batch after another;
- ``work_pool``: ``evaluate_on_work_pool(..., shards=2)``: two runs of the ``shard``
  deployment (``deployments/prefect.yaml``), taken by two ``prefect worker`` processes;
- ``dask``: ``program.evaluate(task_runner=DaskTaskRunner(...))``: every batch at once
  as a task on a fresh ``LocalCluster`` of 2 single-threaded worker processes (its start
  is part of the time, as it is for a user who passes no address);
- ``dask_cluster``: the same on a running cluster (``dask scheduler`` and ``dask worker
  --nworkers 2 --nthreads 1``, started once), ``DaskTaskRunner(address=...)``.

``cpu_ms`` adds a reward that burns that much CPU per sample (``busy_reward``): LM calls
wait on the network, which one async process already overlaps; CPU work is what more
processes speed up.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.launch import REPO, run_worker
from benchmarks.workloads.common import Endpoint, Measurement, measure, reset_server

__all__ = ["scaled_evaluate", "scale_out_workload", "SCALE_OUT_MODES"]

SCALE_OUT_MODES = ("in_process", "work_pool", "dask", "dask_cluster")
POOL = "synaprefect"  # the work pool of deployments/prefect.yaml
QUEUE = "bench"


async def scaled_evaluate(
    endpoint: Endpoint,
    n: int,
    concurrency: int,
    batch_size: int,
    mode: str,
    cpu_ms: float = 0.0,
    dask_address: str | None = None,
) -> Measurement:
    """One evaluate of ``n`` samples run as ``mode`` says."""
    from benchmarks.workloads.busy_reward import BusyReward
    from benchmarks.workloads.program import build_program, dataset

    program = await build_program(endpoint, name="bench_scale_out", concurrency=concurrency)
    if cpu_ms:
        program.compile(reward=BusyReward(cpu_ms=cpu_ms))
    x, y = dataset(n)
    with measure(endpoint) as result:
        if mode == "in_process":
            scores = await program.evaluate(x, y, batch_size=batch_size, verbose=0, resume=False)
        elif mode == "work_pool":
            from synaprefect.orchestration.sharding import evaluate_on_work_pool

            scores = await evaluate_on_work_pool(
                program,
                x,
                y,
                deployment="synaprefect-shard/shard",
                shards=2,
                batch_size=batch_size,
                work_queue_name=QUEUE,
                poll_seconds=0.25,
            )
        elif mode in ("dask", "dask_cluster"):
            from prefect_dask import DaskTaskRunner

            runner = (
                DaskTaskRunner(address=dask_address)
                if mode == "dask_cluster"
                else DaskTaskRunner(
                    cluster_kwargs={
                        "n_workers": 2,
                        "threads_per_worker": 1,
                        "processes": True,
                        "dashboard_address": None,
                    }
                )
            )
            scores = await program.evaluate(
                x, y, batch_size=batch_size, verbose=0, resume=False, task_runner=runner
            )
        else:
            raise ValueError(f"mode must be one of {SCALE_OUT_MODES}, got {mode!r}")
    result.extra["accuracy"] = scores["reward"]
    return result


def _prefect(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scale_out_workload(
    endpoint: Endpoint,
    params: dict[str, Any],
    *,
    rounds: int,
    env: dict[str, str],
    scratch: Path,
    warmup: int,
) -> dict[str, Any]:
    """Deploy ``shard`` on the harness's Prefect API, start 2 process workers and a Dask
    cluster of 2 worker processes, and run every mode and CPU setting once per round, in
    an order rotated each round."""
    env = {
        **env,
        "OPENAI_API_KEY": endpoint.api_key,
        # BusyReward lives here: shard workers and Dask workers import it.
        "PYTHONPATH": str(REPO),
    }
    _prefect(env, "work-pool", "create", POOL, "--type", "process", "--overwrite")
    _prefect(
        env,
        "--no-prompt",
        "deploy",
        "--prefect-file",
        "deployments/prefect.yaml",
        "--name",
        "shard",
    )
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    commands = [
        *(
            [
                sys.executable,
                "-m",
                "prefect",
                "worker",
                "start",
                "--pool",
                POOL,
                "--work-queue",
                QUEUE,
            ]
            for _ in range(2)
        ),
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_worker",
            address,
            "--nworkers",
            "2",
            "--nthreads",
            "1",
            "--no-dashboard",
        ],
    ]
    services, logs = [], []
    try:
        for index, command in enumerate(commands):
            logs.append(
                log := open(scratch / f"scale-out-service-{index}.log", "w", encoding="utf-8")
            )
            services.append(
                subprocess.Popen(
                    command,
                    cwd=REPO,
                    env={**env, "PREFECT_WORKER_QUERY_SECONDS": "1"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        cases = [(mode, cpu_ms) for cpu_ms in (0.0, params["cpu_ms"]) for mode in SCALE_OUT_MODES]
        results: dict[str, Any] = {
            f"{mode}_cpu{cpu_ms:g}": {"mode": mode, "cpu_ms": cpu_ms, "runs": []}
            for mode, cpu_ms in cases
        }
        for round_index in range(rounds):
            shift = round_index % len(cases)
            for mode, cpu_ms in cases[shift:] + cases[:shift]:
                reset_server(endpoint)
                results[f"{mode}_cpu{cpu_ms:g}"]["runs"].append(
                    run_worker(
                        "scale_out",
                        endpoint.base_url,
                        {
                            "n": params["n"],
                            "concurrency": params["concurrency"],
                            "batch_size": params["batch_size"],
                            "mode": mode,
                            "cpu_ms": cpu_ms,
                            "dask_address": address,
                        },
                        env=env,
                        scratch=scratch,
                        warmup=warmup,
                    )
                )
        return results
    finally:
        for service in services:
            service.terminate()
        for service in services:
            try:
                service.wait(15)
            except subprocess.TimeoutExpired:
                service.kill()
        for log in logs:
            log.close()
