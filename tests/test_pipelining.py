"""A large batch keeps the model busy from its first moment: samples start as slots free
up (a window of four times the model's ``max_concurrency``), not all prepared up front; and a
job keeps the collector's full passes off the objects that were there before it."""

import asyncio
import gc
import inspect

import pytest

import synaprefect as sp
from synaprefect.testing.skills import language_model_for
from synaprefect.trainers.models import sample_window
from synaprefect.utils.async_utils import gather_or_cancel
from synaprefect.utils.memory import frozen_heap
from tests.helpers import Answer, Query, capitals, capitals_program


async def test_a_limited_gather_runs_at_most_limit_at_once_and_keeps_the_order():
    running, peak = 0, 0

    async def one(i):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001 * (i % 3))
        running -= 1
        return i

    assert await gather_or_cancel(*(one(i) for i in range(20)), limit=4) == list(range(20))
    assert peak == 4
    peak = 0
    assert await gather_or_cancel(*(one(i) for i in range(20))) == list(range(20))
    assert peak == 20


async def test_a_failed_limited_gather_starts_nothing_more_and_leaves_no_coroutine_behind():
    started = []

    async def one(i):
        started.append(i)
        await asyncio.sleep(0)
        if i == 1:
            raise ValueError("boom")
        await asyncio.sleep(10)

    coroutines = [one(i) for i in range(10)]
    with pytest.raises(ValueError, match="boom"):
        await gather_or_cancel(*coroutines, limit=2)
    # The failure frees a turn, which the next sample may take before the cancellation
    # arrives; nothing after it starts, and the others are closed, not left pending (a
    # "never awaited" warning each).
    assert started in ([0, 1], [0, 1, 2])
    assert all(inspect.getcoroutinestate(c) == inspect.CORO_CLOSED for c in coroutines)


class _CountingGenerator(sp.Generator):
    """A Generator that notes how many of its calls are under way at once."""

    running = 0
    peak = 0

    async def call(self, inputs, training: bool = False, tools=None, tool_schemas=None):
        cls = type(self)
        cls.running += 1
        cls.peak = max(cls.peak, cls.running)
        try:
            return await super().call(inputs, training=training)
        finally:
            cls.running -= 1


async def _counting_program(server, max_concurrency):
    lm = language_model_for(server, max_concurrency=max_concurrency)
    inputs = sp.Input(data_model=Query)
    outputs = await _CountingGenerator(data_model=Answer, language_model=lm, name="answerer")(
        inputs
    )
    program = sp.Program(inputs=inputs, outputs=outputs, name="counting")
    program.compile(reward=sp.rewards.ExactMatch(in_mask=["answer"]))
    return program


@pytest.mark.parametrize("max_concurrency, window", [(2, 8), (None, 20)])
async def test_a_batch_starts_its_samples_as_the_model_frees_slots(
    prefect_api, simulated_lm, max_concurrency, window
):
    program = await _counting_program(simulated_lm, max_concurrency)
    assert sample_window(program.get_module("answerer")) == (window if max_concurrency else None)
    _CountingGenerator.peak = 0
    x, y = capitals(20)
    scores = await program.evaluate(x, y, batch_size=20, verbose=0, resume=False)
    assert _CountingGenerator.peak == window
    assert simulated_lm.stats().completed == 20 and "reward" in scores


def test_the_window_follows_the_largest_cap_of_the_models_a_module_calls(simulated_lm):
    capped = sp.Generator(
        data_model=Answer, language_model=language_model_for(simulated_lm, max_concurrency=8)
    )
    assert sample_window(capped) == 32
    capped.language_model.fallback = language_model_for(simulated_lm, max_concurrency=3)
    assert sample_window(capped) == 32
    capped.language_model.fallback = language_model_for(simulated_lm)  # no cap: no window
    assert sample_window(capped) is None
    assert sample_window(sp.Identity()) is None  # calls no model


# Frozen objects that die meanwhile leave the count: compare with a margin, never exactly.


def test_the_heap_is_frozen_inside_the_outermost_block_only():
    assert gc.get_freeze_count() == 0
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        kept = []
        with frozen_heap():
            kept.append([object() for _ in range(1000)])  # made inside: not frozen
            assert gc.get_freeze_count() <= frozen  # nested: nothing more frozen
        assert gc.get_freeze_count() > frozen // 2  # still frozen after the inner block
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_the_process_stays_frozen():
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > frozen // 2  # not given back by the block
    finally:
        gc.unfreeze()


class _FreezeWatcher(sp.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        self.seen.append(gc.get_freeze_count())


async def test_a_fit_runs_with_the_heap_frozen_and_gives_it_back(prefect_api, simulated_lm):
    program = await capitals_program(simulated_lm, name="frozen")
    watcher = _FreezeWatcher()
    x, y = capitals(6)
    await program.fit(x, y, epochs=2, batch_size=3, verbose=0, callbacks=[watcher], resume=False)
    assert len(watcher.seen) == 2 and all(count > 0 for count in watcher.seen)
    assert gc.get_freeze_count() == 0
