"""The seam between the training loop and Prefect.

The trainer only ever talks to a ``Runtime``: it runs the fit as a *flow*, a tuner trial
as a *stage*, each epoch, batch, module call and optimizer update as a *task*, and publishes
*artifacts*. ``LocalRuntime`` runs everything as plain coroutines (tracking off);
``PrefectRuntime`` (``orchestration.prefect_runtime``) maps the same calls onto Prefect
flow runs, task runs and artifacts. The trainers never import Prefect nor the
orchestration layer above them: ``orchestration`` installs its runtime here when it is
imported (``set_tracked_runtime``), as it installs its rate limiter.

Example:
```python
from synaprefect.trainers.runtime import get_runtime, tracking

with tracking(False):
    runtime = get_runtime()     # LocalRuntime: plain coroutines, nothing sent to Prefect
```
"""

import asyncio
import contextlib
import contextvars
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from synaprefect.language_models.errors import (
    PermanentLanguageModelError,
    TransientLanguageModelError,
)
from synaprefect.utils.context import bound

T = TypeVar("T")
Body = Callable[[], Awaitable[T]]

__all__ = [
    "Runtime",
    "LocalRuntime",
    "get_runtime",
    "set_tracking",
    "tracking",
    "is_tracking",
    "is_transient",
    "is_retryable_run",
    "should_retry_task",
    "counted_attempts",
    "mark_final",
    "set_run_tags",
    "run_tags",
    "set_tracked_runtime",
]

_tracking_override: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "synaprefect_tracking", default=None
)
_tracking_default: bool | None = None


def is_tracking() -> bool:
    """Whether runs are tracked in Prefect: ``tracking()`` blocks win, then
    ``set_tracking()``, then ``$SYNAPREFECT_TRACKING`` (default on)."""
    override = _tracking_override.get()
    if override is not None:
        return override
    if _tracking_default is not None:
        return _tracking_default
    return os.environ.get("SYNAPREFECT_TRACKING", "1").lower() not in ("0", "false", "no", "off")


_run_tags: tuple[str, ...] = ()


def set_run_tags(tags: list[str]) -> None:
    """Tags put on every tracked flow run and task run from now on (``[]`` clears them).

    Example: ``set_run_tags(["qa-experiments"])``
    """
    global _run_tags
    if isinstance(tags, str) or not all(isinstance(t, str) and t for t in tags):
        raise ValueError(f"`tags` must be a list of non-empty strings, got {tags!r}.")
    _run_tags = tuple(tags)


def run_tags() -> tuple[str, ...]:
    """The tags set by ``set_run_tags``."""
    return _run_tags


def set_tracking(enabled: bool) -> None:
    """Turn Prefect tracking on or off for the process (off: same loop, no Prefect)."""
    global _tracking_default
    _tracking_default = bool(enabled)


@contextlib.contextmanager
def tracking(enabled: bool):
    """Run the block with tracking on or off.

    Example:
    ```python
    with synaprefect.orchestration.tracking(False):
        history = await program.fit(x, y)      # plain asyncio, nothing sent to Prefect
    ```
    """
    with bound(_tracking_override, bool(enabled)):
        yield


def is_transient(error: BaseException) -> bool:
    """Errors worth retrying a task for: transient model errors and I/O hiccups, never
    bad input, bad configuration or a permanent model error."""
    if isinstance(error, PermanentLanguageModelError):
        return False
    return isinstance(error, (TransientLanguageModelError, ConnectionError, TimeoutError))


_RETRIED = "_synaprefect_task_retried"


def should_retry_task(error: BaseException) -> bool:
    """Whether a task retries ``error``: a transient one that no task inside it has
    already retried. One layer of task retries, however tasks nest: a failed call is tried
    ``model retry x (task retries + 1)`` times, not once more per enclosing task."""
    return is_transient(error) and not getattr(error, _RETRIED, False)


def counted_attempts(body: Body[T], retries: int) -> Body[T]:
    """``body`` as the attempts of one task: an error that ends its last attempt (or that
    no retry can fix) is marked, so enclosing tasks do not retry it again."""
    attempts = 0

    async def attempt():
        nonlocal attempts
        attempts += 1
        try:
            return await body()
        except Exception as error:
            if attempts > retries or not should_retry_task(error):
                mark_final(error)
            raise

    return attempt


def mark_final(error: BaseException) -> None:
    """Mark ``error`` as retried already: no task (this one or one around it) retries it."""
    try:
        setattr(error, _RETRIED, True)
    except AttributeError:  # an exception type with __slots__: left as is
        pass


def is_retryable_run(error: BaseException) -> bool:
    """Whether retrying a whole flow run can help: not for a permanent model error
    (bad key, unknown model) nor for bad input (``ValueError``/``TypeError``)."""
    return not isinstance(error, (PermanentLanguageModelError, ValueError, TypeError))


class Runtime:
    """What the training loop needs from an orchestrator."""

    tracking = False

    async def flow(
        self,
        name: str,
        body: Body[T],
        *,
        run_name: str,
        parameters: dict | None = None,
        retries: int = 0,
        task_runner: Any = None,
    ) -> T:
        """Run ``body`` as the top-level run of fit / evaluate / predict / search,
        retrying the whole run ``retries`` times if it fails with an error retrying can
        help (see ``is_retryable_run``); ``remote`` tasks go to ``task_runner``."""
        raise NotImplementedError

    async def stage(
        self, name: str, body: Body[T], *, run_name: str, parameters: dict | None = None
    ) -> T:
        """Run ``body`` as a tracked sub-run (one tuner trial); ``parameters`` are
        shown with it."""
        raise NotImplementedError

    async def task(
        self, name: str, body: Body[T], *, run_name: str, retries: int = 0, retry_delay: float = 0.0
    ) -> T:
        """Run ``body`` as one task (a batch, a module call, an optimizer update).

        Transient failures are retried ``retries`` times, unless a task inside this one
        already retried them (see ``should_retry_task``).
        """
        raise NotImplementedError

    async def remote(self, name: str, request: dict, *, run_name: str) -> dict:
        """Run the shard ``request`` (JSON, see ``trainers.shards``) as a task on the
        flow's task runner, in whichever process that runner picks; returns the shard's
        results as JSON."""
        raise NotImplementedError(f"{type(self).__name__} has no task runner.")

    async def publish_json(self, key: str, value: Any, description: str = "") -> None:
        """Add a version of the JSON document stored under ``key``."""

    async def publish_table(self, key: str, rows: list[dict], description: str = "") -> None:
        """Add a version of the table stored under ``key``."""

    async def publish_markdown(self, key: str, markdown: str, description: str = "") -> None:
        """Add a version of the markdown document stored under ``key``."""

    async def progress(self, key: str, percent: float, description: str = "") -> None:
        """Create or update the progress artifact ``key`` (0 to 100)."""

    def log(self, message: str) -> None:
        """A line in the run's log."""
        logging.getLogger("synaprefect").info(message)


class LocalRuntime(Runtime):
    """Tracking off: every run is a plain coroutine, artifacts go nowhere."""

    async def flow(self, name, body, *, run_name, parameters=None, retries=0, task_runner=None):
        for attempt in range(retries + 1):
            try:
                return await body()
            except Exception as error:
                if attempt >= retries or not is_retryable_run(error):
                    raise

    async def stage(self, name, body, *, run_name, parameters=None):
        return await body()

    async def task(self, name, body, *, run_name, retries=0, retry_delay=0.0):
        body = counted_attempts(body, retries)
        for attempt in range(retries + 1):
            try:
                return await body()
            except Exception as error:
                if attempt >= retries or not should_retry_task(error):
                    raise
                await asyncio.sleep(retry_delay)


# What runs tracked jobs: ``orchestration`` installs ``PrefectRuntime`` when imported
# (``import synaprefect`` does), without importing Prefect until a job asks for it.
_tracked_runtime: Callable[[], Runtime] | None = None


def set_tracked_runtime(factory: Callable[[], Runtime] | None) -> None:
    """Install the factory of the runtime of tracked jobs (``None`` removes it).

    Example: ``set_tracked_runtime(PrefectRuntime)`` (what ``orchestration`` does)
    """
    global _tracked_runtime
    _tracked_runtime = factory


def get_runtime() -> Runtime:
    """``PrefectRuntime`` when tracking is on, else ``LocalRuntime``."""
    if not is_tracking():
        return LocalRuntime()
    if _tracked_runtime is None:
        raise RuntimeError(
            "Tracking is on but no orchestrator is installed: import "
            "synaprefect.orchestration (`import synaprefect` does), or turn "
            "tracking off (`tracking(False)`, SYNAPREFECT_TRACKING=0)."
        )
    return _tracked_runtime()
