"""A real Prefect API for tests: an isolated ``PREFECT_HOME`` and one server per session.

Prefect reads its settings when it is imported, so the environment is set first, in the
root ``conftest.py``, before anything imports Prefect::

    from synaprefect.testing.prefect_harness import configure_prefect_test_environment

    configure_prefect_test_environment(session_tmp_dir)
    pytest_plugins = ["synaprefect.testing.prefect_harness"]

Tests that need the API request the session fixture ``prefect_api``; the others neither
import Prefect nor start anything::

    async def test_fit_is_tracked(prefect_api):
        async with prefect_api.client() as client:
            runs = await client.read_flow_runs()

The fixture starts the server Prefect itself uses in ephemeral mode and for
``prefect_test_harness`` (API only, the ephemeral set of services), sets
``PREFECT_API_URL`` for this process and its subprocesses, and stops it at the end. Its
SQLite database starts as a copy of a migrated template kept in pytest's cache (made from
the first fresh start); the process imports Prefect while the server boots. Here that
brings the start from ~10 s (``prefect_test_harness``: a fresh database each time) to
~4 s.

Task runs reach the API as events recorded by a server service, a moment after the run
ends: read them with ``prefect_api.read_task_runs(...)``, which waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.metadata
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from synaprefect._prefect_defaults import PREFECT_DEFAULTS

if TYPE_CHECKING:
    from prefect.client.orchestration import PrefectClient
    from prefect.client.schemas.objects import TaskRun

__all__ = [
    "PrefectTestAPI",
    "configure_prefect_test_environment",
    "start_prefect_api",
    "prefect_api",
]

STARTUP_TIMEOUT_SECONDS = 120
_SQLITE_URL_PREFIX = "sqlite+aiosqlite:///"


def configure_prefect_test_environment(base_dir: str | os.PathLike) -> Path:
    """Point Prefect, once imported, at ``<base_dir>/prefect`` and return that folder.

    Every inherited ``PREFECT_*`` variable is dropped first: a developer's
    ``PREFECT_API_URL`` or database URL must never receive test runs. Must be called
    before anything imports Prefect.

    Example:
    ```python
    # conftest.py, before any import that may import prefect
    configure_prefect_test_environment(tempfile.mkdtemp(prefix="tests-"))
    ```
    """
    if "prefect" in sys.modules:
        raise RuntimeError(
            "configure_prefect_test_environment() must run before Prefect is imported: "
            "Prefect reads its settings at import. Call it at the top of conftest.py."
        )
    home = Path(base_dir) / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    for name in [name for name in os.environ if name.startswith("PREFECT_")]:
        del os.environ[name]
    os.environ.update(
        {
            # What a user's process runs with (their own settings are dropped above).
            **PREFECT_DEFAULTS,
            "PREFECT_HOME": str(home),
            # Code using Prefect without the fixture starts Prefect's ephemeral server; on a
            # fresh database and a busy 2-core machine that has taken over the 20 s default.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": str(STARTUP_TIMEOUT_SECONDS),
            # Run logs would add a database write per line; tests read runs, not logs.
            "PREFECT_LOGGING_TO_API_ENABLED": "false",
            # SQLite answers 503 while the server's own writers hold the lock; back off longer
            # rather than fail the test.
            "PREFECT_CLIENT_MAX_RETRIES": "10",
            # Tests read task runs back: they exist only once this service records them.
            "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "true",
        }
    )
    # The flow heartbeat stays on: the setting cannot be unset from the environment (only
    # an integer >= 30 is accepted), and async flows do not wait for the heartbeat thread.
    return home


@dataclasses.dataclass
class PrefectTestAPI:
    """The session's Prefect API: its URL, how it started, and read-back helpers."""

    api_url: str
    startup_seconds: float
    from_template: bool
    database: Path | None = None  # the server's SQLite file
    _process: subprocess.Popen | None = dataclasses.field(repr=False, default=None)
    _prior_api_url: str | None = dataclasses.field(repr=False, default=None)

    @contextlib.asynccontextmanager
    async def client(self) -> AsyncIterator[PrefectClient]:
        """A Prefect client of this API, for the ``async with`` block.

        Example:
        ```python
        async with prefect_api.client() as client:
            flow_run = await client.read_flow_run(flow_run_id)
        ```
        """
        from prefect.client.orchestration import get_client

        async with get_client() as client:
            yield client

    async def read_task_runs(
        self,
        flow_run_ids: Iterable[UUID],
        count: int,
        timeout: float = 30.0,
        where: Callable[[TaskRun], bool] | None = None,
    ) -> list[TaskRun]:
        """The task runs of the given flow runs, once ``count`` of them (of those ``where``
        accepts, if given) are recorded in a final state (task runs arrive as events,
        shortly after they end).

        Example:
        ```python
        task_runs = await prefect_api.read_task_runs([flow_run.id], count=6)
        epochs = await prefect_api.read_task_runs(
            [flow_run.id], count=2, where=lambda run: "-epoch-" in run.name
        )
        ```
        """
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        flow_run_filter = FlowRunFilter(id=FlowRunFilterId(any_=list(flow_run_ids)))
        deadline = time.monotonic() + timeout
        async with self.client() as client:
            while True:
                task_runs = await client.read_task_runs(flow_run_filter=flow_run_filter)
                if where is not None:
                    task_runs = [run for run in task_runs if where(run)]
                final = [run for run in task_runs if run.state and run.state.is_final()]
                if len(final) >= count and len(final) == len(task_runs):
                    return task_runs
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"Expected {count} finished task runs within {timeout} s; the API "
                        f"has {len(task_runs)}, {len(final)} of them finished."
                    )
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        """Stop the server and restore ``PREFECT_API_URL`` (the fixture does it at the end
        of the session)."""
        if self._process is None:
            return
        # Events still queued in this process would otherwise be sent to a closed port.
        from prefect.events.worker import EventsWorker

        EventsWorker.drain_all(timeout=5)
        _terminate(self._process)
        self._process = None
        _set_api_url(self._prior_api_url)


def start_prefect_api(
    database_dir: str | os.PathLike,
    template_dir: str | os.PathLike | None = None,
    timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> PrefectTestAPI:
    """Start a Prefect API server on ``<database_dir>/prefect.db`` and point this process
    (``PREFECT_API_URL``) and its future subprocesses at it.

    With ``template_dir``, the database starts as a copy of the migrated template stored
    there for this Prefect version, or becomes that template after a fresh start.

    Example:
    ```python
    api = start_prefect_api(tempfile.mkdtemp(), template_dir=Path(".cache"))
    print(api.api_url, api.startup_seconds)
    api.stop()
    ```
    """
    started = time.perf_counter()
    database = Path(database_dir) / "prefect.db"
    template: Path | None = None
    if template_dir is not None:
        template = Path(template_dir) / f"prefect-{_installed_prefect_version()}.db"
    fresh = not database.exists()
    from_template = fresh and template is not None and template.exists()
    if from_template and template is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, database)
    # The server boots in its own process while this one imports Prefect.
    process, api_url = _launch_server(database, _TEMPLATE_STARTUP if from_template else {})
    prior_api_url = os.environ.get("PREFECT_API_URL")
    _set_api_url(api_url)
    try:
        process, api_url = _wait_until_healthy(
            process, api_url, database, from_template, deadline=time.monotonic() + timeout
        )
    except BaseException:
        _set_api_url(prior_api_url)
        raise
    if fresh and template is not None and not from_template:
        _save_template(database, template)
    return PrefectTestAPI(
        api_url=api_url,
        startup_seconds=time.perf_counter() - started,
        from_template=from_template,
        database=database,
        _process=process,
        _prior_api_url=prior_api_url,
    )


# A template is migrated and has its block types registered for this Prefect version:
# checking both again is most of a start once imports are done (~5.4 s -> ~3.7 s here).
_TEMPLATE_STARTUP = {
    "PREFECT_API_DATABASE_MIGRATE_ON_START": "false",
    "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
}
_API_STASH_KEY = pytest.StashKey["PrefectTestAPI"]()


@pytest.fixture(scope="session")
def prefect_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrefectTestAPI]:
    """The session's Prefect API (started at first use, stopped at the end).

    Example:
    ```python
    async def test_tracked(prefect_api):
        async with prefect_api.client() as client:
            assert await client.read_flow_runs(limit=1) is not None
    ```
    """
    cache = getattr(request.config, "cache", None)  # None under `-p no:cacheprovider`
    template_dir = cache.mkdir("synaprefect-prefect") if cache is not None else None
    api = start_prefect_api(tmp_path_factory.mktemp("prefect-api"), template_dir)
    request.config.stash[_API_STASH_KEY] = api
    yield api
    api.stop()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """One line on how the session's Prefect API started, when a test used it."""
    api = config.stash.get(_API_STASH_KEY, None)
    if api is not None:
        origin = "a template database" if api.from_template else "a fresh database"
        terminalreporter.write_line(
            f"Prefect API: started in {api.startup_seconds:.1f} s on {origin}."
        )


def _installed_prefect_version() -> str:
    # Read from the package metadata: importing Prefect here would serialize what the
    # server's boot and this process's import do in parallel.
    return importlib.metadata.version("prefect")


def _launch_server(database: Path, extra_env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    # The command and flags of Prefect's own ephemeral server (SubprocessASGIServer): API
    # only, no UI, and only the services an ephemeral server runs, among them the task-run
    # recorder and the event persister. Launching it directly skips importing the server
    # package (~2 s) in this process and lets this process import Prefect meanwhile.
    env = {
        **os.environ,
        **extra_env,
        "PREFECT_API_DATABASE_CONNECTION_URL": f"{_SQLITE_URL_PREFIX}{database}",
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",
        "PREFECT__SERVER_FINAL": "1",
    }
    env.pop("PREFECT_API_URL", None)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]
    return subprocess.Popen(command, env=env), f"http://127.0.0.1:{port}/api"


def _wait_until_healthy(
    process: subprocess.Popen, api_url: str, database: Path, from_template: bool, deadline: float
) -> tuple[subprocess.Popen, str]:
    import httpx

    # Imported while the server boots, so that the first test does not pay for it.
    import prefect  # noqa: F401

    launches = 1
    with httpx.Client() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                # Most likely the port was taken between choosing and binding it.
                if launches == 3:
                    break
                launches += 1
                process, api_url = _launch_server(
                    database, _TEMPLATE_STARTUP if from_template else {}
                )
                _set_api_url(api_url)
                continue
            with contextlib.suppress(httpx.TransportError):
                if http.get(f"{api_url}/health", timeout=2).status_code == 200:
                    return process, api_url
            time.sleep(0.1)
    _terminate(process)
    raise RuntimeError(
        f"The Prefect API server did not become healthy ({launches} launch(es), exit code "
        f"{process.returncode}); its errors are in the captured stderr above."
    )


def _set_api_url(api_url: str | None) -> None:
    # Prefect reads its settings when imported; an earlier import is told to read again.
    if api_url is None:
        os.environ.pop("PREFECT_API_URL", None)
    else:
        os.environ["PREFECT_API_URL"] = api_url
    if "prefect.context" in sys.modules:
        sys.modules["prefect.context"].refresh_global_settings_context()


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _terminate(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _save_template(database: Path, template: Path) -> None:
    # SQLite's backup API copies a consistent snapshot of the live database (a file copy
    # could catch the write-ahead log half applied); the rename makes concurrent test
    # sessions see either no template or a whole one.
    template.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(prefix=template.name, dir=template.parent)
    os.close(descriptor)
    try:
        with (
            contextlib.closing(sqlite3.connect(database)) as source,
            contextlib.closing(sqlite3.connect(partial)) as target,
        ):
            source.backup(target)
        os.replace(partial, template)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
