"""Prefect's embedded API keeps what a job sent it when the process exits right after.

With no ``PREFECT_API_URL``, Prefect serves its API from a child process that it stops
when the user's process exits. Its task-run recorder writes task runs from the events
the process sent, in batches (``synaprefect._prefect_defaults``); whatever it has not
written when the server stops is lost, and so is a batch it is writing then (Prefect
3.8.8 logs "Error flushing N events"). A process that ran 2,000 task runs and exited at
once kept 1,662 of them. So a process that ran a job on the embedded API waits at exit
until the API holds the task runs it ended there (the last ``_WATCHED``) in a final
state, for ``RECORD_TIMEOUT`` seconds at most (and the request then out), then logs what
is still missing. Prefect sends the events it queued first: its services drain before
``atexit`` handlers run, and this module's handler, registered again at each job's end
(after the server started), runs before the server stops.

Example: ``task_run_ended(task_run.id)`` as each run ends, ``job_ended()`` after each
tracked flow run.
"""

from __future__ import annotations

import atexit
import collections
import logging
import time
from typing import Any
from uuid import UUID

from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, get_current_settings, temporary_settings

__all__ = ["job_ended", "task_run_ended", "RECORD_TIMEOUT"]

# No new request after this long at exit: a server that far behind is not catching up.
RECORD_TIMEOUT = 30.0
# The task runs waited for at exit: the last ones ended are those likely unwritten.
_WATCHED = 5000
# Each request: one try, briefly (Prefect's client retries for up to a minute; a busy
# answer, 503, still waits about 2 s before it fails).
_REQUEST_TIMEOUT = 5.0
_POLL_SECONDS = 0.1
# A wait longer than this is said, so that an exit does not look hung.
_TELL_AFTER = 2.0

_logger = logging.getLogger("synaprefect")
_ended: collections.deque[UUID] = collections.deque(maxlen=_WATCHED)


def task_run_ended(task_run_id: UUID) -> None:
    """Note that Prefect's engine ended the task run ``task_run_id`` (its final state is
    on its way to the API), if the run went to the embedded API."""
    if _embedded():
        _ended.append(task_run_id)


def job_ended() -> None:
    """Note that a tracked job just ended: on the embedded API, the process waits at exit
    until the API has recorded its task runs."""
    if _embedded():
        # Registered last, so called first at exit: before the server's own handler
        # (atexit runs them in reverse), whichever job started the server.
        atexit.unregister(_wait_until_recorded)
        atexit.register(_wait_until_recorded)


def _embedded() -> bool:
    return get_current_settings().api.url is None


def _wait_until_recorded() -> None:
    missing = set(_ended)
    if not missing or not _embedded() or not _embedded_server_runs():
        return  # nothing to wait for, or no server to ask
    import httpx
    from prefect.client.orchestration import get_client

    started = time.monotonic()
    error: Exception | None = None
    try:
        with (
            temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}),
            get_client(httpx_settings={"timeout": _REQUEST_TIMEOUT}, sync_client=True) as client,
        ):
            told = False
            while missing and time.monotonic() - started < RECORD_TIMEOUT:
                for page in _pages(list(missing)):
                    try:
                        missing -= _final_runs(client, page)
                        error = None
                    except httpx.ConnectError:
                        raise  # the server is gone: nothing more will be written
                    except Exception as failure:  # busy (503) or slow: ask again
                        error = failure
                    if time.monotonic() - started >= RECORD_TIMEOUT:
                        break
                if missing and not told and time.monotonic() - started > _TELL_AFTER:
                    _logger.warning(  # at the level an exit shows
                        "Waiting for Prefect's embedded API to record %d task runs "
                        "(Ctrl-C to stop waiting).",
                        len(missing),
                    )
                    told = True
                if missing:
                    time.sleep(_POLL_SECONDS)
    except KeyboardInterrupt:
        pass
    except Exception as failure:  # no client, or no server any more
        error = failure
    if missing:
        cause = f" (last error: {type(error).__name__}: {error})" if error else ""
        _logger.warning(
            "Prefect's embedded API had not recorded %d task runs of this process after "
            "%.0f s%s; they will be missing or unfinished in the Prefect UI.",
            len(missing),
            time.monotonic() - started,
            cause,
        )


def _embedded_server_runs() -> bool:
    """Whether Prefect's embedded API server still runs: asking for a client otherwise
    would start a new one, at exit."""
    from prefect.server.api.server import SubprocessASGIServer

    # Prefect keeps its servers by the port asked for: none for the embedded one
    # (prefect==3.8.8). A Ctrl-C in a terminal may have stopped its process already.
    server = SubprocessASGIServer._instances.get(None)
    process = getattr(server, "server_process", None)
    return bool(server is not None and server.running and process and process.poll() is None)


def _pages(ids: list[UUID]) -> list[list[UUID]]:
    size = get_current_settings().server.api.default_limit  # the most a request returns
    return [ids[start : start + size] for start in range(0, len(ids), size)]


def _final_runs(client: Any, ids: list[UUID]) -> set[UUID]:
    """Those of ``ids`` (a page) that the API has in a final state."""
    from prefect.client.schemas.filters import (
        TaskRunFilter,
        TaskRunFilterId,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import TERMINAL_STATES

    runs = client.read_task_runs(
        task_run_filter=TaskRunFilter(
            id=TaskRunFilterId(any_=ids),
            state=TaskRunFilterState(type=TaskRunFilterStateType(any_=list(TERMINAL_STATES))),
        ),
        limit=len(ids),
    )
    return {run.id for run in runs}
