"""``PerLoop``: the one-object-per-event-loop cache behind the HTTP sessions, the models'
semaphores and the rate-limit gates."""

import asyncio
import gc

from synaprefect.utils.async_utils import PerLoop


def test_one_object_per_loop_made_on_first_use():
    made = []

    def make():
        made.append(id(asyncio.get_running_loop()))
        return asyncio.Semaphore(2)

    per_loop = PerLoop(make)

    async def twice():
        first, second = await per_loop.get(), await per_loop.get()
        assert first is second
        return first

    one, other = asyncio.run(twice()), asyncio.run(twice())
    assert one is not other and len(made) == 2
    gc.collect()
    assert len(per_loop._values) == 0  # the loops are gone, and their entries with them


def test_a_dead_object_is_made_again_and_coroutine_factories_are_awaited():
    async def make():
        await asyncio.sleep(0)
        return {"closed": False}

    per_loop = PerLoop(make, alive=lambda value: not value["closed"])

    async def main():
        first = await per_loop.get()
        first["closed"] = True
        second = await per_loop.get()
        assert second is not first and not second["closed"]
        assert await per_loop.get() is second

    asyncio.run(main())
