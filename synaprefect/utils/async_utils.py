"""Run coroutines from synchronous code, await values that may be plain, and keep one
object per event loop."""

import asyncio
import concurrent.futures
import contextvars
import inspect
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

__all__ = ["maybe_await", "gather_or_cancel", "run_sync", "DONE", "PerLoop"]

T = TypeVar("T")


async def maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


async def gather_or_cancel(*awaitables: Any, limit: int | None = None) -> list:
    """``asyncio.gather`` that cancels the others as soon as one fails, so no orphaned
    call keeps running (and paying) after its batch has already failed. With ``limit``,
    at most that many run at once, started in order as earlier ones finish."""
    waiting = awaitables
    if limit is not None and len(awaitables) > limit:
        turns = asyncio.Semaphore(limit)

        async def in_turn(awaitable: Any) -> Any:
            async with turns:
                return await awaitable

        waiting = tuple(in_turn(a) for a in awaitables)
    tasks = [asyncio.ensure_future(a) for a in waiting]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for awaitable in awaitables:  # never given a turn: close it, nothing ran
            if inspect.iscoroutine(awaitable) and (
                inspect.getcoroutinestate(awaitable) == inspect.CORO_CREATED
            ):
                awaitable.close()
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


class PerLoop(Generic[T]):
    """One object per running event loop, made on first use by ``make`` (a function or a
    coroutine function) and made again once ``alive(value)`` is false: asyncio
    primitives, client sessions and futures belong to the loop that made them. An entry
    goes away with its loop (weak keys). A ``make`` that suspends may run twice for one
    loop when two callers race; the last value made is kept.

    Example:
    ```python
    semaphores = PerLoop(lambda: asyncio.Semaphore(4))
    async with await semaphores.get():
        ...
    ```
    """

    def __init__(self, make: Callable[[], Any], alive: Callable[[T], bool] | None = None):
        self._make = make
        self._alive = alive
        self._values: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    async def get(self) -> T:
        """The running loop's object, made if it has none (or a dead one)."""
        loop = asyncio.get_running_loop()
        value = self._values.get(loop)
        if value is None or (self._alive is not None and not self._alive(value)):
            value = self._values[loop] = await maybe_await(self._make())
        return value
