"""Offline, OpenAI-compatible simulated language-model server: ``SimulatedLM``.

``SimulatedLM`` is a real HTTP server on the loopback interface that litellm (or any OpenAI
client) talks to like a hosted provider. It answers chat completions with schema-valid
JSON, serves deterministic embeddings, injects faults on a schedule and keeps cheap
statistics, so programs can be tested and benchmarked without network access. It runs in a
thread of this process or in a subprocess of its own.

The parts live next to this launcher: ``wire.py`` (requests, JSON, errors), ``faults.py``
(``Fault``, ``FaultPlan``), ``answers.py`` (completion and embedding bodies),
``simulation.py`` (state, latency, statistics), ``app.py`` (the aiohttp front end) and
``cli.py``. Run it standalone with::

    python -m synaprefect.testing.server --port 8000 --latency 0.05 --fault-every 3
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# `X as X`: what this module defined before it was split stays importable from here.
from synaprefect.testing.app import serve
from synaprefect.testing.cli import main
from synaprefect.testing.faults import FAULT_KINDS as FAULT_KINDS
from synaprefect.testing.faults import Fault as Fault
from synaprefect.testing.faults import FaultHook, FaultPlan
from synaprefect.testing.simulation import Responder, ServerStats, Simulation
from synaprefect.testing.wire import CHAT_PATH as CHAT_PATH
from synaprefect.testing.wire import EMBEDDINGS_PATH as EMBEDDINGS_PATH
from synaprefect.testing.wire import MODELS_PATH as MODELS_PATH
from synaprefect.testing.wire import SIMULATED_MODEL
from synaprefect.testing.wire import SimulatedRequest as SimulatedRequest
from synaprefect.testing.wire import compute_prompt_key as compute_prompt_key

__all__ = ["SimulatedLM", "main"]


class SimulatedLM:
    """Offline OpenAI-compatible LM server for tests and benchmarks.

    ``mode="thread"`` serves from a daemon thread with its own event loop (any callable
    responder). ``mode="process"`` runs ``python -m synaprefect.testing.server`` in a
    subprocess so the server does not share the client's GIL; the responder must then be
    an import path ``"package.module:function"`` and faults a :class:`FaultPlan`.

    Example::

        import litellm
        from synaprefect.testing import SimulatedLM, FaultPlan

        with SimulatedLM(latency=0.05, faults=FaultPlan(every=3)) as lm:
            response = await litellm.acompletion(
                model=lm.model, api_base=lm.base_url, api_key=lm.api_key,
                messages=[{"role": "user", "content": "hello"}],
            )
            print(lm.stats().completed)
    """

    model: str = f"openai/{SIMULATED_MODEL}"

    def __init__(
        self,
        *,
        responder: Responder | str | None = None,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        faults: FaultPlan | FaultHook | None = None,
        api_key: str | None = None,
        models: list[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        mode: str = "thread",
        embedding_dim: int = 64,
    ) -> None:
        if mode not in ("thread", "process"):
            raise ValueError("mode must be 'thread' or 'process'")
        if mode == "process":
            if responder is not None and not isinstance(responder, str):
                raise TypeError(
                    "process mode needs the responder as an import path 'package.module:function'"
                )
            if faults is not None and not isinstance(faults, FaultPlan):
                raise TypeError(
                    "process mode needs faults as a FaultPlan (callables cannot cross processes)"
                )
        self.mode = mode
        self.host = host
        self.port = port
        self._settings: dict[str, Any] = {
            "responder": responder,
            "latency": latency,
            "latency_jitter": latency_jitter,
            "faults": faults,
            "api_key": api_key,
            "models": models,
            "embedding_dim": embedding_dim,
        }
        self._base_url: str | None = None
        # thread mode
        self._simulation: Simulation | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        # process mode
        self._process: subprocess.Popen[str] | None = None

    # ---- lifecycle

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``; available once started."""
        if self._base_url is None:
            raise RuntimeError("SimulatedLM is not started; use start() or a with-block")
        return self._base_url

    @property
    def api_key(self) -> str:
        """Key to send: the configured one, or a placeholder clients insist on having."""
        return self._settings["api_key"] or "sk-simulated"

    @property
    def litellm_kwargs(self) -> dict[str, str]:
        """``model``, ``api_base`` and ``api_key`` for ``litellm.acompletion(**lm.litellm_kwargs, ...)``."""
        return {"model": self.model, "api_base": self.base_url, "api_key": self.api_key}

    def start(self) -> SimulatedLM:
        """Start serving (idempotent) and return ``self``."""
        if self._base_url is None:
            if self.mode == "thread":
                self._start_thread()
            else:
                self._start_process()
        return self

    def stop(self) -> None:
        """Stop serving, cancelling requests still in progress (idempotent)."""
        if self._thread is not None:
            assert self._loop is not None and self._stop_event is not None
            if self._thread.is_alive():
                self._loop.call_soon_threadsafe(self._stop_event.set)
                self._thread.join(timeout=10)
            self._thread = None
        if self._process is not None:
            self._stop_process()
        self._base_url = None

    def __enter__(self) -> SimulatedLM:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _start_thread(self) -> None:
        settings = dict(self._settings)
        simulation = self._simulation = Simulation(**settings)
        loop = asyncio.new_event_loop()
        stop_event = asyncio.Event()
        ready = threading.Event()
        failure: list[BaseException] = []

        def started(url: str) -> None:
            self._base_url = url
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(
                    serve(simulation, self.host, self.port, started, stop_event)
                )
            except BaseException as exc:  # reported to the starting thread (e.g. port in use)
                failure.append(exc)
                ready.set()
            finally:
                loop.close()

        self._loop, self._stop_event = loop, stop_event
        self._thread = threading.Thread(target=run, name="simulated-lm", daemon=True)
        self._thread.start()
        if not ready.wait(timeout=10) or failure:
            self._thread.join(timeout=1)
            self._thread = None
            raise RuntimeError("simulated LM server failed to start") from (
                failure[0] if failure else None
            )

    def _start_process(self) -> None:
        settings = self._settings
        command = [
            sys.executable, "-m", "synaprefect.testing.server",
            "--host", self.host,
            "--port", str(self.port),
            "--latency", str(settings["latency"]),
            "--latency-jitter", str(settings["latency_jitter"]),
            "--embedding-dim", str(settings["embedding_dim"]),
        ]  # fmt: skip
        if settings["responder"]:
            command += ["--responder", settings["responder"]]
        if settings["api_key"]:
            command += ["--api-key", settings["api_key"]]
        if settings["models"]:
            command += ["--models", ",".join(settings["models"])]
        if settings["faults"] is not None:
            command += ["--faults-json", json.dumps(settings["faults"].to_dict())]
        env = dict(os.environ)
        # Make the child import this very copy of the package even when it is not installed.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        process = self._process = subprocess.Popen(
            command, stdout=subprocess.PIPE, text=True, env=env
        )
        stdout = process.stdout
        assert stdout is not None  # stdout=PIPE
        first_line: list[str] = []
        # readline() has no timeout: read in a helper thread so a stuck child cannot hang us.
        reader = threading.Thread(target=lambda: first_line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout=60)
        url = first_line[0].strip() if first_line else ""
        if not url.startswith("http://"):
            self._stop_process()
            raise RuntimeError(f"simulated LM process did not report its URL (got {url!r})")
        self._base_url = url
        deadline = time.monotonic() + 30
        while True:  # the URL is printed once listening; still confirm it answers
            try:
                self._control("GET", "/_sim/stats")
                return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()  # SIGTERM: the CLI shuts down cleanly
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()

    # ---- control

    def _control(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        """Call a ``/_sim`` endpoint of a process-mode server."""
        parts = urlsplit(self.base_url)
        connection = http.client.HTTPConnection(parts.netloc, timeout=30)  # "host:port"
        try:
            body = json.dumps(payload).encode() if payload is not None else None
            connection.request(
                method, path, body=body, headers={"Content-Type": "application/json"}
            )
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status != 200:
            raise RuntimeError(
                f"simulated LM control {path} failed: {response.status} {data.decode()}"
            )
        return json.loads(data)

    def _started_simulation(self) -> Simulation:
        if self._simulation is None:
            raise RuntimeError("SimulatedLM is not started")
        return self._simulation

    def _in_loop(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``function`` on the serving loop (the only thread that touches server state)."""
        if self._loop is None or self._thread is None:
            raise RuntimeError("SimulatedLM is not started")
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(function(*args, **kwargs))
            except BaseException as exc:
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(call)
        return future.result(timeout=30)

    def _configure(self, **changes: Any) -> None:
        self._settings.update(changes)
        if self._base_url is None:
            return  # applied at start
        if self.mode == "thread":
            self._in_loop(self._started_simulation().configure, **changes)
        else:
            if "faults" in changes and changes["faults"] is not None:
                changes["faults"] = changes["faults"].to_dict()
            self._control("POST", "/_sim/config", changes)

    def stats(self) -> ServerStats:
        """Snapshot of the server statistics."""
        if self.mode == "thread":
            return self._in_loop(self._started_simulation().stats)
        return ServerStats.from_dict(self._control("GET", "/_sim/stats"))

    def reset_stats(self) -> None:
        """Clear statistics, restart request indexes at 0 and rewind the fault plan."""
        if self.mode == "thread":
            self._in_loop(self._started_simulation().reset)
        else:
            self._control("POST", "/_sim/reset", {})

    def set_responder(self, responder: Responder | str | None) -> None:
        """Replace the responder (``None`` restores :func:`schema_responder`)."""
        if self.mode == "process" and responder is not None and not isinstance(responder, str):
            raise TypeError(
                "process mode needs the responder as an import path 'package.module:function'"
            )
        self._configure(responder=responder)

    def set_faults(self, faults: FaultPlan | FaultHook | None) -> None:
        """Replace the fault plan (``None`` disables faults)."""
        if self.mode == "process" and faults is not None and not isinstance(faults, FaultPlan):
            raise TypeError(
                "process mode needs faults as a FaultPlan (callables cannot cross processes)"
            )
        self._configure(faults=faults)

    def set_latency(self, latency: float, jitter: float | None = None) -> None:
        """Set the per-request delay in seconds (and optionally the random extra ``jitter``)."""
        changes: dict[str, Any] = {"latency": latency}
        if jitter is not None:
            changes["latency_jitter"] = jitter
        self._configure(**changes)


if __name__ == "__main__":
    sys.exit(main())
