"""Prefect's embedded API keeps what a job sent it when the process exits right after.

With no ``PREFECT_API_URL``, Prefect serves its API from a child process that it stops
when the user's process exits. Its task-run recorder writes task runs from the events
the process sent, in batches (``synaprefect._prefect_defaults``); whatever it has not
written when the server stops is lost, and so is a batch it is writing then (Prefect
3.8.8 logs "Error flushing N events"). A process that ran 2,000 task runs and exited at
once kept 1,662 of them. So a process that ran a job on the embedded API waits at exit
until the API holds the task runs it ended there (the last ``_WATCHED``) in a final
state: about ``RECORD_TIMEOUT`` seconds at most, then it logs what is still missing.
Prefect sends the events it queued first: its services drain before ``atexit``
handlers run, and this module's handler, registered again at each job's end (after the
server started), runs before the server stops.

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

# About this long at exit: a server that far behind is not catching up.
RECORD_TIMEOUT = 30.0
# The task runs waited for at exit: the last ones ended are those likely unwritten.
_WATCHED = 5000
# Each request: one try, briefly (Prefect's client retries for up to a minute).
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
    server = _running_embedded_server()
    if not missing or server is None or not _embedded():
        return  # nothing to wait for, or no way to ask the server that has them
    from prefect.client.orchestration import get_client

    started = time.monotonic()
    error: Exception | None = None
    try:
        with (
            temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}),
            get_client(httpx_settings={"timeout": _REQUEST_TIMEOUT}, sync_client=True) as client,
        ):
            told = False
            while True:
                try:
                    missing -= _final_runs(client, list(missing))
                    error = None
                except Exception as failure:  # busy (503) or timed out: ask again
                    error = failure
                waited = time.monotonic() - started
                if not missing or waited > RECORD_TIMEOUT:
                    break
                if not told and waited > _TELL_AFTER:
                    _logger.warning(  # at the level an exit shows
                        "Waiting for Prefect's embedded API to record %d task runs "
                        "(Ctrl-C to stop waiting).",
                        len(missing),
                    )
                    told = True
                time.sleep(_POLL_SECONDS)
    except KeyboardInterrupt:
        pass
    except Exception as failure:  # no client: nothing more can be checked
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


def _running_embedded_server() -> Any:
    """Prefect's embedded API server if it still runs: asking for a client otherwise
    would start a new one, at exit."""
    from prefect.server.api.server import SubprocessASGIServer

    # Prefect keeps its servers by port; the embedded one asked for none (prefect==3.8.8).
    server = SubprocessASGIServer._instances.get(None)
    return server if server is not None and server.running else None


def _final_runs(client: Any, ids: list[UUID]) -> set[UUID]:
    """Those of ``ids`` that the API has in a final state."""
    from prefect.client.schemas.filters import (
        TaskRunFilter,
        TaskRunFilterId,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import TERMINAL_STATES

    page = get_current_settings().server.api.default_limit  # the most a request returns
    final: set[UUID] = set()
    for start in range(0, len(ids), page):
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(
                id=TaskRunFilterId(any_=ids[start : start + page]),
                state=TaskRunFilterState(type=TaskRunFilterStateType(any_=list(TERMINAL_STATES))),
            ),
            limit=page,
        )
        final.update(run.id for run in runs)
    return final
