"""Prefect's embedded API keeps what a job sent it when the process exits right after.

With no ``PREFECT_API_URL``, Prefect serves its API from a child process that it stops
when the user's process exits. Its task-run recorder writes task runs in batches, at
most ``flush_interval`` seconds apart (``synaprefect._prefect_defaults``); whatever it
still holds when the server stops is lost. So a process that ran a job on the embedded
API and exits within that interval waits for one more flush. Prefect sends the events
it queued first: its services drain before ``atexit`` handlers run, and this module's
handler, registered after the server started, runs before the server stops.

Example: ``job_ended()`` after each tracked flow run.
"""

from __future__ import annotations

import atexit
import time

from prefect.settings import get_current_settings

__all__ = ["job_ended"]

# Time for the flush itself once its interval is over.
_FLUSH_MARGIN_SECONDS = 0.5

_last_job_end: float | None = None


def job_ended() -> None:
    """Note that a tracked job just ended; on the embedded API, the first call makes the
    process wait at exit for the server's next flush (when the job ended recently)."""
    global _last_job_end
    if get_current_settings().api.url is not None:
        return  # a server of its own outlives this process
    if _last_job_end is None:
        atexit.register(_wait_for_the_next_flush)
    _last_job_end = time.monotonic()


def _flush_window() -> float:
    # Task runs, not the event feed: Prefect's event persister flushes every 5 s, too
    # long to wait for at every exit.
    interval = get_current_settings().server.services.task_run_recorder.flush_interval
    return interval + _FLUSH_MARGIN_SECONDS


def _wait_for_the_next_flush() -> None:
    window = _flush_window()
    if _last_job_end is not None and time.monotonic() - _last_job_end < window:
        time.sleep(window)
