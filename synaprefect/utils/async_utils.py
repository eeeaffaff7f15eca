"""Run coroutines from synchronous code, and await values that may be plain."""

import asyncio
import concurrent.futures
import contextvars
import inspect
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["maybe_await", "gather_or_cancel", "run_sync", "DONE"]

T = TypeVar("T")


async def maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


async def gather_or_cancel(*awaitables: Any) -> list:
    """``asyncio.gather`` that cancels the others as soon as one fails, so no orphaned
    call keeps running (and paying) after its batch has already failed."""
    tasks = [asyncio.ensure_future(a) for a in awaitables]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from sync code, even inside a running loop.

    Inside a running loop (a notebook, an async main) the coroutine runs on its own fresh
    loop in a worker thread, with the caller's context (a ``tracking(False)`` block still
    applies there).
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


class _Done:
    """An awaitable that is already done; awaiting it gives None."""

    __slots__ = ()

    def __await__(self):
        return iter(())

    def __repr__(self) -> str:
        return "DONE"


# What a plain (synchronous) hook returns when Synalinks' version of it is a coroutine:
# both `obj.hook(...)` and `await obj.hook(...)` then work, e.g. an `async def` override
# that calls `await super().hook(...)`.
DONE = _Done()
