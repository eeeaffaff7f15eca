"""Bookkeeping parked until the program waits (``utils.waiting``)."""

import asyncio
import time

from synaprefect.utils.waiting import program_waits, until_program_waits


async def test_parked_work_goes_on_when_the_program_waits():
    order = []

    async def bookkeeping(name):
        await until_program_waits(5.0)
        order.append(name)

    parked = [asyncio.ensure_future(bookkeeping(n)) for n in ("a", "b")]
    await asyncio.sleep(0.05)
    assert order == []  # nobody waits yet: still parked
    program_waits()
    await asyncio.gather(*parked)
    assert order == ["a", "b"]


async def test_parked_work_goes_on_after_its_timeout_without_a_wait():
    start = time.monotonic()
    await until_program_waits(0.05)
    assert time.monotonic() - start >= 0.05
    program_waits()  # releasing nothing parked is harmless


def test_program_waits_outside_an_event_loop_does_nothing():
    program_waits()
