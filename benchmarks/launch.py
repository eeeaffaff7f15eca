"""Starting workers: one fresh Python process per measured run.

A fresh process per run keeps the systems from sharing anything (imported modules,
client pools, DSPy's threads, Prefect's background workers, garbage).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["REPO", "WorkerError", "spawn_worker", "collect", "run_worker"]

REPO = Path(__file__).resolve().parents[1]
# A worker that runs longer than this is stuck (the longest one takes about a minute).
WORKER_TIMEOUT_S = 600


class WorkerError(RuntimeError):
    """A worker failed; the message ends with the tail of its output."""


def spawn_worker(name: str, base_url: str, params: dict[str, Any], *, env: dict[str, str],
                 scratch: Path, warmup: int = 0,
                 started: Path | None = None) -> tuple[subprocess.Popen, Path]:
    """Start ``python -m benchmarks.worker``; returns the process and its result file."""
    scratch.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkstemp(prefix=f"{name}-", suffix=".json", dir=scratch)[1])
    command = [sys.executable, "-m", "benchmarks.worker", name, "--endpoint", base_url,
               "--params", json.dumps(params), "--warmup", str(warmup), "--out", str(out)]
    if started is not None:
        command += ["--started", str(started)]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    return process, out


def collect(process: subprocess.Popen, out: Path) -> dict[str, Any]:
    """Wait for a worker and return its result."""
    try:
        output, _ = process.communicate(timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    if process.returncode != 0 or not out.stat().st_size:
        tail = "\n".join((output or "").splitlines()[-25:])
        raise WorkerError(f"{process.args[3]} worker exited with {process.returncode}:\n{tail}")
    result = json.loads(out.read_text())
    out.unlink()
    return result


def run_worker(name: str, base_url: str, params: dict[str, Any], *, env: dict[str, str],
               scratch: Path, warmup: int = 0) -> dict[str, Any]:
    """Run one worker to the end and return its result."""
    process, out = spawn_worker(name, base_url, params, env=env, scratch=scratch,
                                warmup=warmup)
    return collect(process, out)
