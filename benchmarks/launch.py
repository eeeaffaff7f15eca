"""Starting workers: one fresh Python process per measured run.

A fresh process per run keeps the systems from sharing anything (imported modules,
client pools, DSPy's threads, Prefect's background workers, garbage).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["REPO", "Worker", "WorkerError", "spawn_worker", "run_worker"]

REPO = Path(__file__).resolve().parents[1]
# A worker that runs longer than this is stuck (the longest one takes about a minute).
WORKER_TIMEOUT_S = 600


class WorkerError(RuntimeError):
    """A worker failed; the message ends with the tail of its output."""


@dataclass
class Worker:
    """A running ``benchmarks.worker`` process, its result file and its output log."""

    name: str
    process: subprocess.Popen
    out: Path
    log: Path

    def result(self) -> dict[str, Any]:
        """Wait for the worker and return its result."""
        try:
            self.process.wait(timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.returncode != 0 or not self.out.stat().st_size:
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-25:])
            raise WorkerError(f"{self.name} worker exited with {self.process.returncode}:\n{tail}")
        result = json.loads(self.out.read_text())
        self._clean()
        return result

    def kill(self) -> None:
        """SIGKILL the worker (nothing of it runs afterwards) and drop its files."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self._clean()

    def _clean(self) -> None:
        self.out.unlink(missing_ok=True)
        self.log.unlink(missing_ok=True)


def spawn_worker(
    name: str,
    base_url: str,
    params: dict[str, Any],
    *,
    env: dict[str, str],
    scratch: Path,
    warmup: int = 0,
    started: Path | None = None,
) -> Worker:
    """Start ``python -m benchmarks.worker``; its output goes to a log file (a pipe
    nobody reads could block it)."""
    scratch.mkdir(parents=True, exist_ok=True)
    descriptor, out = tempfile.mkstemp(prefix=f"{name}-", suffix=".json", dir=scratch)
    os.close(descriptor)
    out = Path(out)
    log = out.with_suffix(".log")
    command = [
        sys.executable,
        "-m",
        "benchmarks.worker",
        name,
        "--endpoint",
        base_url,
        "--params",
        json.dumps(params),
        "--warmup",
        str(warmup),
        "--out",
        str(out),
    ]
    if started is not None:
        command += ["--started", str(started)]
    with open(log, "w", encoding="utf-8") as output:
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    return Worker(name, process, out, log)


def run_worker(
    name: str,
    base_url: str,
    params: dict[str, Any],
    *,
    env: dict[str, str],
    scratch: Path,
    warmup: int = 0,
) -> dict[str, Any]:
    """Run one worker to the end and return its result."""
    return spawn_worker(name, base_url, params, env=env, scratch=scratch, warmup=warmup).result()
