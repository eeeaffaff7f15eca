"""Real Prefect processes for end-to-end tests: ``prefect server start`` with its own
``PREFECT_HOME``, the work pool and deployments of ``deployments/prefect.yaml``, and
process workers, set up as a user would."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from synaprefect._prefect_defaults import PREFECT_DEFAULTS
from synaprefect.testing.postgres import Postgres

__all__ = [
    "ROOT",
    "PREFECT_YAML",
    "POOL",
    "TEST_QUEUE",
    "Service",
    "PrefectStack",
    "free_port",
    "tail",
    "run_command",
    "wait_until",
    "migrated_template",
    "Postgres",
]

ROOT = Path(__file__).resolve().parents[1]
PREFECT_YAML = ROOT / "deployments" / "prefect.yaml"
POOL = yaml.safe_load(PREFECT_YAML.read_text())["definitions"]["work_pool"]["name"]
# The test worker serves only this queue of the pool: runs the tests trigger go there,
# while the nightly runs wait in the deployment's own queue (a suite running at 02:00 UTC
# must not see a scheduled retrain move the champion).
TEST_QUEUE = "e2e"
STARTUP_SECONDS = 120
RUN_SECONDS = 240


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 60) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


class Service:
    """A long-running subprocess with its output in a log file."""

    def __init__(self, name: str, command: list[str], env: dict, log_dir: Path):
        self.name, self.log = name, log_dir / f"{name}.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command,
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def check(self) -> None:
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.process.returncode}:\n{tail(self.log)}")

    def stop(self) -> None:
        # A Prefect worker stops on SIGINT and escalates on the next signals; uvicorn
        # stops on either. Only this process (by its pid), then what is left of its group.
        for signum, grace in ((signal.SIGINT, 10), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            if self.process.poll() is not None:
                break
            self.process.send_signal(signum)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


def run_command(command: list[str], env: dict, timeout: float = 120) -> str:
    done = subprocess.run(
        command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout


def wait_until(check, what: str, timeout: float, services: tuple = (), pause: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for service in services:
            service.check()
        with contextlib.suppress(httpx.TransportError):
            value = check()
            if value:
                return value
        time.sleep(pause)
    logs = "\n".join(f"--- {s.name}\n{tail(s.log)}" for s in services)
    pytest.fail(f"Timed out after {timeout} s waiting for {what}.\n{logs}")


class PrefectStack:
    """``prefect server start`` with its own PREFECT_HOME (or a running server at
    ``api_url``); then the work pool, the deployments of prefect.yaml and process
    workers, as a user would set them up."""

    def __init__(
        self,
        base: Path,
        database_url: str | None = None,
        template: Path | None = None,
        api_url: str | None = None,
    ):
        self.base = base
        env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
        self.env = {
            **env,
            # The server settings docs/operations.md recommends (synaprefect's own).
            **PREFECT_DEFAULTS,
            "PREFECT_HOME": str(base / "prefect"),
            "SYNAPREFECT_HOME": str(base / "synaprefect"),
        }
        self.services: list[Service] = []
        self.startup_seconds = 0.0
        if api_url is not None:
            self.api_url, self.ui_url = api_url, api_url.removesuffix("/api")
            self.env["PREFECT_API_URL"] = api_url
            return
        port = free_port()
        self.ui_url = f"http://127.0.0.1:{port}"
        self.api_url = f"{self.ui_url}/api"
        server_env = {**self.env, "PREFECT_UI_API_URL": self.api_url}
        if database_url:
            server_env["PREFECT_API_DATABASE_CONNECTION_URL"] = database_url
        elif template is not None:  # SQLite at its default place, already migrated
            (base / "prefect").mkdir()
            shutil.copyfile(template, base / "prefect" / "prefect.db")
            server_env.update(
                PREFECT_API_DATABASE_MIGRATE_ON_START="false",
                PREFECT_API_BLOCKS_REGISTER_ON_START="false",
            )
        self.services = [
            Service(
                "server",
                [
                    sys.executable,
                    "-m",
                    "prefect",
                    "server",
                    "start",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                server_env,
                base,
            )
        ]
        self.env["PREFECT_API_URL"] = self.api_url
        started = time.monotonic()
        wait_until(
            lambda: httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200,
            "the Prefect server to answer /api/health",
            STARTUP_SECONDS,
            tuple(self.services),
        )
        self.startup_seconds = time.monotonic() - started

    def prefect(self, *args: str) -> str:
        return run_command([sys.executable, "-m", "prefect", *args], self.env)

    def deploy(self, *args: str) -> None:
        self.prefect("work-pool", "create", POOL, "--type", "process")
        self.prefect(
            "--no-prompt", "deploy", "--prefect-file", str(PREFECT_YAML.relative_to(ROOT)), *args
        )

    def start_worker(
        self, name: str = "worker", queue: str | None = TEST_QUEUE, **env: str
    ) -> Service:
        """A process worker of the pool, on one of its queues (``None``: all of them)."""
        queues = ["--work-queue", queue] if queue else []
        worker = Service(
            name,
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, *queues],
            {**self.env, "PREFECT_WORKER_QUERY_SECONDS": "1", **env},
            self.base,
        )
        self.services.append(worker)
        return worker

    def client(self):
        from prefect.client.orchestration import PrefectClient

        return PrefectClient(self.api_url)

    async def run_deployment(self, name: str, **parameters: Any):
        """Trigger a run of deployment ``name`` as `prefect deployment run` does (on the
        test worker's queue), and wait until it is final."""
        async with self.client() as client:
            deployment = await client.read_deployment_by_name(name)
            run = await client.create_flow_run_from_deployment(
                deployment.id, parameters=parameters, work_queue_name=TEST_QUEUE
            )
            deadline = time.monotonic() + RUN_SECONDS
            while not run.state.is_final():
                for service in self.services:
                    service.check()
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"{name} run {run.id} still {run.state.name} after "
                        f"{RUN_SECONDS} s.\n{self.logs()}"
                    )
                await asyncio.sleep(1)
                run = await client.read_flow_run(run.id)
        assert run.state.is_completed(), f"{name} run {run.state}:\n{self.logs()}"
        return run

    def logs(self) -> str:
        return "\n".join(f"--- {s.name}\n{tail(s.log)}" for s in self.services)

    def stop(self) -> None:
        for service in reversed(self.services):  # the worker before the server
            service.stop()


def migrated_template(config: pytest.Config) -> Path | None:
    """The empty, migrated SQLite database the session's Prefect API (``prefect_api``,
    synaprefect.testing.prefect_harness) keeps in pytest's cache for this Prefect
    version: a server started on a copy skips ~10 s of migrations."""
    cache = getattr(config, "cache", None)
    if cache is None:
        return None
    version = importlib.metadata.version("prefect")
    template = cache.mkdir("synaprefect-prefect") / f"prefect-{version}.db"
    return template if template.exists() else None
