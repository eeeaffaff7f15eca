"""Wall time of ``make demo`` once set up, as a user runs it: Prefect's ephemeral API,
on a fresh ``PREFECT_HOME`` (the database is created) and then on that warm one."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from benchmarks.launch import REPO
from benchmarks.workloads.common import PREFECT_SERVER_PID_ENV

__all__ = ["demo_workload"]

DEMO_TIMEOUT_S = 300


def _make_demo(env: dict[str, str]) -> dict[str, Any]:
    start = time.perf_counter()
    completed = subprocess.run(
        ["make", "demo"], cwd=REPO, env=env, capture_output=True, text=True, timeout=DEMO_TIMEOUT_S
    )
    wall = time.perf_counter() - start
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-25:])
        raise RuntimeError(f"make demo exited with {completed.returncode}:\n{tail}")
    return {"wall_s": wall}


def demo_workload(env: dict[str, str], scratch: Path) -> dict[str, Any]:
    """``make setup`` (not timed), then ``make demo`` twice: fresh, then warm."""
    subprocess.run(["make", "setup"], cwd=REPO, env=env, check=True, capture_output=True)
    prefect_home = scratch / "demo-prefect"
    shutil.rmtree(prefect_home, ignore_errors=True)
    shutil.rmtree(scratch / "demo-home", ignore_errors=True)
    demo_env = {
        key: value
        for key, value in env.items()
        if key not in ("PREFECT_API_URL", PREFECT_SERVER_PID_ENV)
    }
    demo_env.update(
        {"PREFECT_HOME": str(prefect_home), "SYNAPREFECT_HOME": str(scratch / "demo-home")}
    )
    return {"fresh_prefect_home": _make_demo(demo_env), "warm_prefect_home": _make_demo(demo_env)}
