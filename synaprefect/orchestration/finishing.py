"""Task runs whose value reaches the caller before Prefect has recorded their end.

Prefect's engine works about as long after a task's body returns (the Completed state,
its event, the run's bookkeeping) as before the body starts, on the program's thread. In
a training step that sits between two rounds of LM calls: four task runs a step made a
tracked fit 1.25-1.3x as long as an untracked one. Inside a synaprefect flow run the
body's value now goes to the caller as soon as the body returns, and the engine's last
part waits until the program next waits for an LM answer (``utils.waiting``), at most
``MAX_DEFER`` seconds: the run is recorded while the program waits anyway. A run's end
is then recorded a few milliseconds late.

Nothing is lost or reordered for Prefect: a task run ends only after the task runs nested
in it, and the flow run only after all of its task runs. A body that fails is not
answered early: Prefect decides on retries as before, and its final error is the answer.
Outside a synaprefect flow run (a user's own flow run) a task run is awaited whole. A run
parked after answering keeps what it holds meanwhile, a Prefect tag concurrency slot
included: with tag limits on synaprefect's runs, the next run may wait up to
``MAX_DEFER`` for that slot.

Example:
```python
async with finishing.scope():      # a flow run's body
    value = await finishing.run(lambda early: prefect_task(body=early(body), run_name="x"))
```
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from typing import TypeVar

from synaprefect.trainers.runtime import mark_final
from synaprefect.utils.waiting import program_waits, until_program_waits

__all__ = ["run", "scope", "MAX_DEFER"]

T = TypeVar("T")
Body = Callable[[], Awaitable[T]]

# How long the end of a run waits, at most, for the program to wait.
MAX_DEFER = 0.05
# Once the program waits: the moment its other requests of that round take to go out.
_SETTLE = 0.002


class _Scope:
    """The engines started in one run that are still finishing, each with the answer
    its caller got."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.engines: dict[asyncio.Future, asyncio.Future] = {}

    def forget_if_done_well(self, engine: asyncio.Future) -> None:
        # A run recorded without error needs no more waiting for: drop it (and its value).
        if not engine.cancelled() and engine.exception() is None:
            self.engines.pop(engine, None)

    async def wait(self, failing: bool) -> None:
        while self.engines:
            engines = list(self.engines)
            # asyncio.wait, not gather: cancelling the waiter must not cancel the runs.
            await asyncio.wait(engines)
            for engine in engines:
                answer = self.engines.pop(engine, None)
                if answer is None or engine.cancelled() or engine.exception() is None:
                    continue
                # An error its caller already got is not raised twice; one that came
                # after the value was handed over (Prefect failing to record the run) is.
                if _handed_over(answer) and not failing:
                    raise engine.exception()  # type: ignore[misc]


def _handed_over(answer: asyncio.Future) -> bool:
    """Whether the caller got a value (not an error, not a cancellation)."""
    return answer.done() and not answer.cancelled() and answer.exception() is None


_scope: ContextVar[_Scope | None] = ContextVar("synaprefect_finishing", default=None)


@contextlib.asynccontextmanager
async def scope(last: bool = False) -> AsyncIterator[None]:
    """The task runs started inside the block have ended when it exits. ``last``: the
    enclosing run ends with the block, so nothing waits for the program any more."""
    current = _Scope()
    token = _scope.set(current)
    try:
        yield
    except BaseException:
        if last:
            program_waits()
        await current.wait(failing=True)
        raise
    else:
        if last:
            program_waits()
        await current.wait(failing=False)
    finally:
        _scope.reset(token)


async def run(start: Callable[[Callable[[Body[T]], Body[T]]], Awaitable[T]]) -> T:
    """Run the task run ``start(early)`` makes, its body wrapped by ``early``; return
    the body's value as soon as it returns (or the run's final error)."""
    current = _scope.get()
    if current is None or current.loop is not asyncio.get_running_loop():
        return await start(lambda body: body)
    answer: asyncio.Future = current.loop.create_future()

    def early(body: Body[T]) -> Body[T]:
        async def attempt() -> T:
            if _handed_over(answer):
                return answer.result()  # answered already: never run the body twice
            try:
                async with scope():  # the task runs nested in this one end first
                    value = await body()
                    if not answer.done():
                        answer.set_result(value)
                        await until_program_waits(MAX_DEFER)
                        await asyncio.sleep(_SETTLE)
            except Exception as error:
                if answer.done():  # the caller has the value: a retry would change nothing
                    mark_final(error)
                raise
            return value

        return attempt

    engine = asyncio.ensure_future(start(early))
    current.engines[engine] = answer

    def settle(done: asyncio.Future) -> None:
        current.forget_if_done_well(done)
        if answer.done():
            return
        if done.cancelled():
            answer.cancel()
        elif done.exception() is not None:
            answer.set_exception(done.exception())  # type: ignore[arg-type]
        else:
            answer.set_result(done.result())

    engine.add_done_callback(settle)
    try:
        return await answer
    except asyncio.CancelledError:
        # The caller is cancelled (a sibling failed, say). A body that already answered
        # is left to be recorded; one still running is cancelled, and unwinds (a request
        # it has out is settled and counted) before the caller's cancellation goes on.
        if not answer.done() or answer.cancelled():
            engine.cancel()
            await asyncio.wait({engine})
        raise
