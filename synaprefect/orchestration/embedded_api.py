"""Prefect's embedded API keeps what a job sent it when the process exits right after.

With no ``PREFECT_API_URL``, Prefect serves its API from a child process that it stops
when the user's process exits. Its task-run recorder writes task runs from the events
the process sent, in batches (``synaprefect._prefect_defaults``); whatever it has not
written when the server stops is lost, and so is a batch it is writing then (Prefect
3.8.8 logs "Error flushing N events"). A process that ran 2,000 task runs and exited at
once kept 1,662 of them. So a process that ran a job on the embedded API waits at exit
until the API holds every task run it ended (the last ``_WATCHED`` of them) in a final
state, at most ``RECORD_TIMEOUT`` seconds, and logs what is still missing then. Prefect
sends the events it queued first: its services drain before ``atexit`` handlers run,
and this module's handler, registered after the server started, runs before the server
stops.

Example: ``task_run_ended(task_run.id)`` as each run ends, ``job_ended()`` after each
tracked flow run.
"""

from __future__ import annotations

import atexit
import collections
import logging
import time
from uuid import UUID

from prefect.settings import get_current_settings

__all__ = ["job_ended", "task_run_ended", "RECORD_TIMEOUT"]

# At most this long at exit: a server that far behind is not catching up.
RECORD_TIMEOUT = 30.0
# The task runs waited for at exit: the last ones ended are those likely unwritten.
_WATCHED = 5000
# The API returns at most this many runs per request.
_PAGE = 200
_POLL_SECONDS = 0.1
# A wait longer than this is said, so that an exit does not look hung.
_TELL_AFTER = 2.0

_logger = logging.getLogger("synaprefect")
_ended: collections.deque[UUID] = collections.deque(maxlen=_WATCHED)
_waits_at_exit = False


def task_run_ended(task_run_id: UUID) -> None:
    """Note that Prefect's engine ended the task run ``task_run_id`` (its final state is
    on its way to the API)."""
    _ended.append(task_run_id)


def job_ended() -> None:
    """Note that a tracked job just ended; on the embedded API, the first call makes the
    process wait at exit until the API has recorded its task runs."""
    global _waits_at_exit
    if _waits_at_exit or get_current_settings().api.url is not None:
        return  # a server of its own outlives this process
    atexit.register(_wait_until_recorded)
    _waits_at_exit = True


def _wait_until_recorded() -> None:
    from prefect.client.orchestration import get_client

    missing = set(_ended)
    started = time.monotonic()
    told = False
    try:
        with get_client(sync_client=True) as client:
            while missing:
                missing -= _final_runs(client, list(missing))
                waited = time.monotonic() - started
                if not missing or waited > RECORD_TIMEOUT:
                    break
                if waited > _TELL_AFTER and not told:
                    _logger.warning(  # at the level an exit shows
                        "Waiting for Prefect's embedded API to record %d task runs "
                        "(Ctrl-C to stop waiting).",
                        len(missing),
                    )
                    told = True
                time.sleep(_POLL_SECONDS)
    except Exception as error:  # the server is gone: nothing more can be written
        _logger.warning(
            "Could not check that Prefect's embedded API recorded this process's task runs: %s: %s",
            type(error).__name__,
            error,
        )
        return
    if missing:
        _logger.warning(
            "Prefect's embedded API had not recorded %d task runs of this process after "
            "%.0f s; they will be missing or unfinished in the Prefect UI.",
            len(missing),
            RECORD_TIMEOUT,
        )


def _final_runs(client, ids: list[UUID]) -> set[UUID]:
    """Those of ``ids`` that the API has in a final state."""
    from prefect.client.schemas.filters import (
        TaskRunFilter,
        TaskRunFilterId,
        TaskRunFilterState,
        TaskRunFilterStateType,
    )
    from prefect.client.schemas.objects import TERMINAL_STATES

    final: set[UUID] = set()
    for start in range(0, len(ids), _PAGE):
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(
                id=TaskRunFilterId(any_=ids[start : start + _PAGE]),
                state=TaskRunFilterState(type=TaskRunFilterStateType(any_=list(TERMINAL_STATES))),
            ),
            limit=_PAGE,
        )
        final.update(run.id for run in runs)
    return final
