"""Artifacts off the critical path: published in the background, in order for each key,
by the run that asked, and all done before the outermost synaprefect flow run ends.

An artifact takes one or two API round trips (35-60 ms each on a local server); a fit
that awaited them between batches spent a second of a 7-second run waiting on progress
bars. Here each request becomes an asyncio task chained after the previous request of
its key, so the versions of a key (and a progress bar's creation and updates) arrive in
order, while different keys go out side by side (at most ``_MAX_IN_FLIGHT`` at once):
the four or five artifacts that end a fit do not wait for each other on the client. The
task copies the caller's context, so Prefect still links the artifact to the flow or
task run that published it. Progress updates are coalesced to one per
``PROGRESS_INTERVAL`` per key (the last value is always sent), since nobody reads a bar
that moves every 50 ms.

A request that fails is logged as a warning with its key: artifacts show a run, they are
not its results (those are the job's journal), so they never fail it.

Example:
```python
publisher = Publisher()
publisher.submit("qa-summary", lambda: acreate_markdown_artifact(markdown="# Done"))
await publisher.drain()  # at the end of the outermost flow run
```
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Publisher", "PROGRESS_INTERVAL"]

_logger = logging.getLogger("synaprefect")

# Seconds between two updates of one progress artifact.
PROGRESS_INTERVAL = 2.0
# Requests out at once, whatever the number of keys (a program with many variables
# publishes one version of each after a step): a SQLite API server writes one at a time.
_MAX_IN_FLIGHT = 4


@dataclass
class _Bar:
    """One progress artifact: its id once created (None before, or if creating it
    failed), when it was last sent, and the value waiting for the next update."""

    last_sent: float
    artifact_id: Any = None
    pending: tuple[float, str | None, Callable] | None = None


class Publisher:
    """Publishes artifacts in the background, in submission order for each key."""

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future] = {}  # key -> its last request
        self._bars: dict[str, _Bar] = {}
        self._in_flight = asyncio.Semaphore(_MAX_IN_FLIGHT)

    def submit(self, key: str, request: Callable[[], Awaitable[Any]]) -> None:
        """Run ``request()`` after the requests submitted before it for ``key``."""
        previous = self._tails.get(key)

        async def run() -> None:
            if previous is not None:
                await previous  # never raises: failures are logged below
            try:
                async with self._in_flight:
                    await request()
            except Exception as error:  # artifacts never fail the run they describe
                _logger.warning(
                    "Artifact %r was not published: %s: %s", key, type(error).__name__, error
                )

        self._tails[key] = asyncio.ensure_future(run())

    def progress(
        self,
        key: str,
        percent: float,
        description: str | None,
        create: Callable[[float, str | None], Awaitable[Any]],
        update: Callable[[Any, float, str | None], Awaitable[Any]],
    ) -> None:
        """Set the progress artifact ``key``: created by ``create(percent, description)``
        (which returns its id) the first time, then ``update(id, percent, description)``
        at most once per ``PROGRESS_INTERVAL``; ``drain`` sends the last value."""
        bar = self._bars.get(key)
        now = time.monotonic()
        if bar is None:
            bar = self._bars[key] = _Bar(last_sent=now)

            async def first() -> None:
                bar.artifact_id = await create(percent, description)

            self.submit(key, first)
        elif now - bar.last_sent >= PROGRESS_INTERVAL:
            bar.last_sent, bar.pending = now, None
            self._submit_update(key, bar, percent, description, update)
        else:
            bar.pending = (percent, description, update)

    def _submit_update(
        self, key: str, bar: _Bar, percent: float, description: str | None, update: Callable
    ) -> None:
        async def send() -> None:
            if bar.artifact_id is not None:  # None: creating it failed (and was logged)
                await update(bar.artifact_id, percent, description)

        self.submit(key, send)

    async def drain(self) -> None:
        """Send the pending progress values and wait for every request submitted."""
        for key, bar in self._bars.items():
            if bar.pending is not None:
                percent, description, update = bar.pending
                bar.pending = None
                self._submit_update(key, bar, percent, description, update)
        # Each tail waits for the requests of its key before it: all of them is all.
        while pending := [tail for tail in self._tails.values() if not tail.done()]:
            await asyncio.gather(*pending)

    def cancel(self) -> None:
        """Drop what has not been sent (the run was cancelled)."""
        for tail in self._tails.values():
            tail.cancel()
