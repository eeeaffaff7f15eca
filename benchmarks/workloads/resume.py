"""A fit killed half-way (SIGKILL) and run again, against one uninterrupted fit.

1. An uninterrupted fit in a fresh ``SYNAPREFECT_HOME``: its time and LM requests.
2. The same fit in another fresh home, killed once the simulated LM has received half as
   many requests as the first one made.
3. The same command again in that home: it resumes, replaying the persisted steps and
   journaled calls. Calls paid twice = requests of 2 + 3 - requests of 1.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from benchmarks.launch import run_worker, spawn_worker
from benchmarks.workloads.common import Endpoint, reset_server, server_requests

__all__ = ["resume_workload"]

_POLL_S = 0.02


def _fresh(directory: Path) -> Path:
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def resume_workload(
    endpoint: Endpoint, params: dict[str, Any], *, env: dict[str, str], scratch: Path
) -> dict[str, Any]:
    """Run the three fits (no warm-up: each pays the same start-up) and compare them."""
    params = {**params, "resume": True}
    reset_server(endpoint)
    first = run_worker(
        "fit",
        endpoint.base_url,
        params,
        scratch=scratch,
        env={**env, "SYNAPREFECT_HOME": str(_fresh(scratch / "resume-a"))},
    )
    killed_env = {**env, "SYNAPREFECT_HOME": str(_fresh(scratch / "resume-b"))}
    started = scratch / "resume-started"
    started.unlink(missing_ok=True)
    reset_server(endpoint)
    before = server_requests(endpoint)
    worker = spawn_worker(
        "fit", endpoint.base_url, params, env=killed_env, scratch=scratch, started=started
    )
    while (
        worker.process.poll() is None and server_requests(endpoint) - before < first["requests"] / 2
    ):
        time.sleep(_POLL_S)
    if worker.process.poll() is not None:
        raise RuntimeError("the fit to kill finished before half of its requests were made")
    killed_at = time.time()
    worker.kill()
    killed = {
        "requests": server_requests(endpoint) - before,
        "wall_s": killed_at - float(started.read_text()),
    }
    reset_server(endpoint)
    resumed = run_worker("fit", endpoint.base_url, params, env=killed_env, scratch=scratch)
    return {
        "uninterrupted": first,
        "killed": killed,
        "resumed": resumed,
        "calls_paid_twice": killed["requests"] + resumed["requests"] - first["requests"],
        "resumed_time_ratio": resumed["wall_s"] / first["wall_s"],
    }
