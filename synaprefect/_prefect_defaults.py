"""The Prefect settings synaprefect runs with unless the user sets them.

Importing this module sets each one not already set; ``import synaprefect`` imports it
before anything imports Prefect (Prefect reads its settings once, at import). Prefect's
embedded API server is a child process of the user's and inherits them; a server the
user starts (``prefect server start``) does not, so ``docs/operations.md`` recommends
the server ones there too.
"""

from __future__ import annotations

import os

__all__ = ["PREFECT_DEFAULTS"]

PREFECT_DEFAULTS: dict[str, str] = {
    # Offline always: the server would send telemetry unless told not to.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Prefect gives its embedded API 20 s to start; a fresh database on a busy 2-core
    # machine takes longer, and a newcomer's first `make demo` failed.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # The server turns the client's events into task runs. Prefect's default writes one
    # event per transaction: about 3.5 s of server CPU per 90 task runs (a small fit),
    # and a backlog that the embedded server drops when the process exits (41 of 600 task
    # runs were kept). In batches of up to 500, flushed every second: 1.5 s, all 600
    # kept, and a run shows in the UI at most a second late. (The same for the event
    # persister made the API take no writes for a minute after SQLite was locked 25 s.)
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "500",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_FLUSH_INTERVAL": "1",
}

for _name, _value in PREFECT_DEFAULTS.items():
    os.environ.setdefault(_name, _value)
