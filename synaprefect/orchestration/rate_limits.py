"""A Prefect rate limit shared by every process that calls a model.

``LanguageModel(..., rate_limit="openai-rpm")`` takes one slot of the Prefect global
concurrency limit ``openai-rpm`` before each request; the limit's slot decay refills it,
so every flow and worker using that name together stays under the provider's rate.

Taking a slot is one request to the Prefect API, and Prefect serialises them per limit:
measured here at ~65–85 ms each, which would cap a process at ~13 calls per second. So the
callers of one process that wait at the same moment share one request: a single
``rate_limit(name, occupy=n)`` for the ``n`` waiting callers (at most the limit's size).
Each granted slot is spent at once by the caller it was taken for; none are held for later,
so the limit is never exceeded by a hoarded burst. A request is all-or-nothing, so one
asks for at most a quarter of the limit (and at most 32 slots: a slot request costs ~15 ms
for 32 slots, ~435 ms for 200), leaving room for the other processes sharing it.
"""

import asyncio
import collections

from synaprefect.utils.async_utils import PerLoop

__all__ = ["acquire_rate_limit", "RateLimitNotFoundError"]

_MAX_GRANT = 32


class RateLimitNotFoundError(ValueError):
    """The named rate limit does not exist on the Prefect API, or has no slot decay."""


def _create_hint(name: str) -> str:
    return (
        f"Create it with `prefect gcl create {name} --limit N "
        f"--slot-decay-per-second R` (N requests at once, R per second)."
    )


class _SharedGate:
    """The waiting callers of one event loop for one limit, granted slots together."""

    def __init__(self, name: str):
        self.name = name
        self.size: int | None = None  # the limit's size, read once
        self.waiting: collections.deque[asyncio.Future] = collections.deque()
        self.pump: asyncio.Task | None = None

    async def acquire(self) -> None:
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        if self.pump is None or self.pump.done():
            self.pump = asyncio.create_task(self._grant_all())
        await future

    async def _grant_all(self) -> None:
        from prefect.concurrency.asyncio import rate_limit

        callers: list[asyncio.Future] = []
        try:
            if self.size is None:
                self.size = await self._read_size()
            grant = min(_MAX_GRANT, max(1, self.size // 4))
            while self.waiting:
                await asyncio.sleep(0)  # callers started in the same tick join this grant
                callers = self._take(grant)
                if callers:
                    await rate_limit(self.name, occupy=len(callers), strict=True)
                    for caller in callers:
                        if not caller.done():
                            caller.set_result(None)
                callers = []
        except Exception as error:  # every waiting caller sees it; nobody waits forever
            self._fail([*callers, *self.waiting], error)
        except asyncio.CancelledError:
            self._fail([*callers, *self.waiting], None)
            raise
        finally:
            self.pump = None  # the task refers to its loop: keep the loop collectable

    def _fail(self, callers: list[asyncio.Future], error: Exception | None) -> None:
        """Hand ``error`` to every caller (``None``: cancel them)."""
        self.waiting.clear()
        for caller in callers:
            if caller.done():
                continue
            if error is None:
                caller.cancel()
            else:
                caller.set_exception(error)

    def _take(self, count: int) -> list[asyncio.Future]:
        callers: list[asyncio.Future] = []
        while self.waiting and len(callers) < count:
            caller = self.waiting.popleft()
            if not caller.done():  # a cancelled caller needs no slot
                callers.append(caller)
        return callers

    async def _read_size(self) -> int:
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        async with get_client() as client:
            try:
                limit = await client.read_global_concurrency_limit_by_name(self.name)
            except ObjectNotFound:
                raise RateLimitNotFoundError(
                    f"The rate limit {self.name!r} does not exist on the Prefect API "
                    f"{client.api_url}. {_create_hint(self.name)}"
                ) from None
        if not limit.slot_decay_per_second or limit.slot_decay_per_second <= 0:
            raise RateLimitNotFoundError(
                f"The concurrency limit {self.name!r} has no slot decay, so it is not a "
                f"rate limit: its slots would never come back. {_create_hint(self.name)}"
            )
        return max(1, limit.limit)


# One gate per event loop and limit name: asyncio futures belong to one loop.
_gates: PerLoop[dict[str, _SharedGate]] = PerLoop(dict)


async def acquire_rate_limit(name: str) -> None:
    """Wait for one slot of the Prefect rate limit ``name``.

    Raises ``RateLimitNotFoundError`` (a ``ValueError``) when the limit does not exist or
    has no slot decay, before any model request is sent.

    Example:
    ```python
    await acquire_rate_limit("openai-rpm")   # then send one request
    ```
    """
    gates = await _gates.get()
    gate = gates.get(name)
    if gate is None:
        gate = gates[name] = _SharedGate(name)
    await gate.acquire()
