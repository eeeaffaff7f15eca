"""Side effects (tool calls) that run once per job, however often the job is retried.

A side effect's result is recorded in the job's call store (the store LM answers are
replayed from, see ``language_models.call_store``) under a key made of its call scope, its
name, its arguments and how many identical calls came before it in that scope. A retried
task, a retried flow or a killed and rerun job replays the result of a call that finished
instead of running it again. Inside a job whose tasks are finer than a batch, each call
that does run is a task of the job (the job installs its task runner with
``use_task_runner``; the modules layer imports no trainer).

Example:
```python
result = await run_once("send_mail", {"to": "ada@example.com"},
                        lambda: send_mail(to="ada@example.com"))
```
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from typing import Any

from synaprefect.language_models.call_store import call_key, current_call_store
from synaprefect.utils.context import bound

__all__ = ["TaskRunner", "use_task_runner", "run_once"]

# (name, body, run_name) -> the body's result, run as a task with the job's retry policy.
TaskRunner = Callable[..., Awaitable[Any]]

_runner: contextvars.ContextVar[TaskRunner | None] = contextvars.ContextVar(
    "synaprefect_side_effect_runner", default=None
)


def use_task_runner(runner: TaskRunner | None) -> AbstractContextManager[Any]:
    """Run the side effects of the block through ``runner`` (None: plain awaits)."""
    return bound(_runner, runner)


async def run_once(name: str, arguments: Any, body: Callable[[], Awaitable[Any]]) -> Any:
    """``body()``'s JSON result, or the result recorded by an earlier attempt of this job
    for the same call. The key is taken before anything is awaited, so calls started
    together (``asyncio.gather``) are numbered in the order they were started."""
    store = current_call_store()
    key = call_key({"side_effect": name, "arguments": arguments}) if store else None
    if store is not None and key is not None:
        recorded = store.lookup(key)
        if recorded is not None:
            return recorded["result"]
    runner = _runner.get()
    if runner is None:
        result = await body()
    else:
        result = await runner(name, body, run_name=f"{name}-{key[:8] if key else 'call'}")
    if store is not None and key is not None:
        store.record(key, {"result": result})  # durable once this returns
    return result
