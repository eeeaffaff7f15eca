"""Heartbeats of flow runs on a work pool (``orchestration.work_pools``).

A running flow run shows it is alive by updating a progress artifact every few seconds;
a run that watches it reads the artifact's ``updated`` time. A run whose worker died
stops beating, but so does every run while the API takes no writes (a SQLite database
locked under load), so the watcher beats too and counts another run's silence on its
own beats' clock: ``Heartbeat.api_seconds`` only advances while the API takes them
promptly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import AsyncIterator

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

__all__ = ["Heartbeat", "beating"]

_logger = logging.getLogger("synaprefect.orchestration")


@dataclasses.dataclass
class Heartbeat:
    """This run's beats: when one last got through, and for how many seconds the API
    has taken them (``api_seconds``).

    Example: ``async with beating(2.0, "my-run-alive") as beat: ... beat.api_seconds``
    """

    interval: float
    written_at: float
    api_seconds: float = 0.0

    def wrote(self, sent: float, landed: float) -> None:
        """Record a beat sent at ``sent`` that the API took at ``landed``
        (``time.monotonic()``)."""
        # Only a beat answered within a beat's time counts: SQLite lets writers that wait
        # starve, so an API slow to take this run's beats may be holding others' longer.
        # A gap over two beats is time the API took no writes: it does not count either.
        if landed - sent <= self.interval:
            self.api_seconds += min(landed - self.written_at, 2 * self.interval)
        self.written_at = landed


@contextlib.asynccontextmanager
async def beating(seconds: float, key: str, description: str) -> AsyncIterator[Heartbeat]:
    """Beat every ``seconds`` (a progress artifact of the current flow run under ``key``)
    until the block ends.

    Example: ``async with beating(2.0, "shard-alive", "shard alive"): await work()``
    """
    artifact_id = await acreate_progress_artifact(progress=0.0, key=key, description=description)
    started = time.monotonic()
    heartbeat = Heartbeat(interval=seconds, written_at=started)

    async def beat() -> None:
        # One try per beat: the client's own retries back off for up to 30 s, long after
        # the API takes writes again, and a beat that late reads as a dead run.
        with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}):
            while True:
                await asyncio.sleep(seconds)
                # The value only has to change: watchers read the `updated` time.
                sent = time.monotonic()
                elapsed = sent - started
                try:
                    # A request stuck behind others is dropped for a fresh one: SQLite's
                    # waiting writers retry less often the longer they have waited.
                    await asyncio.wait_for(
                        aupdate_progress_artifact(
                            artifact_id=artifact_id,
                            progress=min(99.0, elapsed / 60.0),
                            description=f"alive after {elapsed:.0f} s",
                        ),
                        timeout=max(5 * seconds, 5.0),
                    )
                except Exception as error:  # one API hiccup must not silence the run
                    _logger.warning(
                        "Heartbeat not sent (%s: %s); retrying.", type(error).__name__, error
                    )
                else:
                    heartbeat.wrote(sent, time.monotonic())

    task = asyncio.create_task(beat())
    try:
        yield heartbeat
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
