"""What every workload shares: the endpoint, the data and the measurement.

Nothing here imports synaprefect: the litellm and DSPy workloads must not pay for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from benchmarks.responders import answer_for

__all__ = [
    "Endpoint",
    "Measurement",
    "questions",
    "measure",
    "server_requests",
    "reset_server",
    "prefect_server_cpu",
    "prefect_server_pid",
    "find_api_server_pid",
    "wait_until_idle",
    "PREFECT_SERVER_PID_ENV",
]

# Set by the harness: the Prefect API server's pid, so workloads can report its CPU time.
PREFECT_SERVER_PID_ENV = "BENCH_PREFECT_SERVER_PID"


@dataclass(frozen=True)
class Endpoint:
    """The simulated LM every client talks to."""

    base_url: str
    model: str = "openai/simulated"
    api_key: str = "sk-simulated"


@dataclass
class Measurement:
    """One timed run: wall time, CPU time of this process (every thread), CPU time of the
    Prefect API server over the same interval, LM requests the server received, and
    anything the workload adds (accuracy, replayed steps, ...)."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    prefect_server_cpu_s: float | None = None
    requests: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The figures as one flat JSON object."""
        return {
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "prefect_server_cpu_s": self.prefect_server_cpu_s,
            "requests": self.requests,
            **self.extra,
        }


def questions(n: int) -> list[tuple[str, str]]:
    """``n`` (question, answer) pairs; the simulated LM answers every one correctly."""
    pairs = []
    for i in range(n):
        question = f"What is the code name of benchmark item {i}?"
        pairs.append((question, answer_for(question)))
    return pairs


def server_requests(endpoint: Endpoint) -> int:
    """Requests the simulated LM has received since it started (or was reset)."""
    with urllib.request.urlopen(f"{endpoint.base_url}/_sim/stats", timeout=30) as response:
        return int(json.loads(response.read())["requests"])


def reset_server(endpoint: Endpoint) -> None:
    """Clear the simulated LM's statistics: its stats document lists every prompt it
    answered, and polling a large one would slow the server down."""
    request = urllib.request.Request(f"{endpoint.base_url}/_sim/reset", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=30):
        pass


def prefect_server_pid() -> int | None:
    """The Prefect API server's pid, as the harness set it (None outside the harness)."""
    pid = os.environ.get(PREFECT_SERVER_PID_ENV)
    return int(pid) if pid else None


def find_api_server_pid(api_url: str) -> int:
    """The pid of the Prefect API server serving ``api_url``, a child of this process."""
    import psutil

    port = urlsplit(api_url).port
    for child in psutil.Process().children(recursive=True):
        command = " ".join(child.cmdline())
        if "prefect.server.api.server:create_app" in command and f"--port {port}" in command:
            return child.pid
    raise RuntimeError(f"no Prefect API server child process on port {port}")


def prefect_server_cpu() -> float | None:
    """CPU seconds (user + system) the Prefect API server and its children have used."""
    pid = prefect_server_pid()
    if pid is None:
        return None
    import psutil

    try:
        process = psutil.Process(pid)
        processes = [process, *process.children(recursive=True)]
        return sum(p.cpu_times().user + p.cpu_times().system for p in processes)
    except psutil.Error:
        return None


def wait_until_idle(pid: int, timeout: float = 15.0) -> None:
    """Wait until the Prefect server has digested what it was sent (its CPU use falls
    below 10 %), so that one run's backlog is not charged to the next."""
    import psutil

    deadline = time.monotonic() + timeout
    process = psutil.Process(pid)
    while time.monotonic() < deadline and process.cpu_percent(interval=0.3) > 10.0:
        pass


@contextlib.contextmanager
def measure(endpoint: Endpoint) -> Iterator[Measurement]:
    """Time the block: fills the ``Measurement`` it yields when the block ends."""
    result = Measurement()
    requests = server_requests(endpoint)
    server_cpu = prefect_server_cpu()
    cpu = time.process_time()
    wall = time.perf_counter()
    yield result
    result.wall_s = time.perf_counter() - wall
    result.cpu_s = time.process_time() - cpu
    if server_cpu is not None:
        result.prefect_server_cpu_s = prefect_server_cpu() - server_cpu
    result.requests = server_requests(endpoint) - requests
