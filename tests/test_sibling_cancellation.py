"""When one of several concurrent sibling calls fails, the others are cancelled at once
instead of running on (and paying for LM calls) after their batch has already failed.

Each test runs a failing sibling next to a slow one that waits on an event. The failing
sibling raises only once the slow one is running; after the failure has propagated, the
test releases the event and lets the loop run: a slow sibling that was left running would
then finish, a cancelled one never does.
"""

import asyncio
from typing import Any

import pytest

import synaprefect as sp
from synaprefect import metrics, rewards
from synaprefect.testing.skills import language_model_for


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


class Siblings:
    """A slow sibling (``slow``) and a failing one (``fail``), and what became of the slow one."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.outcome: str | None = None  # "finished" or "cancelled"

    async def slow(self) -> None:
        self.started.set()
        try:
            await asyncio.wait_for(self.release.wait(), timeout=5)
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            raise
        self.outcome = "finished"

    async def fail(self) -> None:
        await self.started.wait()  # fail while the slow sibling is mid-flight
        raise RuntimeError("sibling failed")

    async def settle(self) -> None:
        """Give a slow sibling that was left running every chance to finish."""
        self.release.set()
        for _ in range(5):
            await asyncio.sleep(0)


async def test_reward_compute_batch_cancels_siblings_when_one_fails():
    siblings = Siblings()

    async def score(y_true: Any, y_pred: Any) -> float:
        await (siblings.fail() if y_pred["answer"] == "bad" else siblings.slow())
        return 1.0

    reward = rewards.RewardFunctionWrapper(score)
    with pytest.raises(RuntimeError, match="sibling failed"):
        await reward.compute_batch(
            [Answer(answer="a")] * 2, [Answer(answer="slow"), Answer(answer="bad")]
        )
    await siblings.settle()
    assert siblings.outcome == "cancelled"


async def test_mean_metric_wrapper_cancels_siblings_when_one_fails():
    siblings = Siblings()

    async def score(y_true: Any, y_pred: Any) -> float:
        await (siblings.fail() if y_pred["answer"] == "bad" else siblings.slow())
        return 1.0

    metric = metrics.MeanMetricWrapper(score)
    with pytest.raises(RuntimeError, match="sibling failed"):
        await metric.update_state(
            [Answer(answer="a")] * 2, [Answer(answer="slow"), Answer(answer="bad")]
        )
    await siblings.settle()
    assert siblings.outcome == "cancelled"
    assert metric.result() == 0.0  # the failed batch added nothing


async def test_branch_cancels_sibling_branches_when_one_fails(simulated_lm):
    # Both labels chosen, so both branches run concurrently.
    simulated_lm.set_responder(lambda request: {"thinking": "t", "choices": ["slow", "bad"]})
    siblings = Siblings()

    async def slow(inputs: Any) -> dict:
        await siblings.slow()
        return {"answer": "slow"}

    async def bad(inputs: Any) -> dict:
        await siblings.fail()
        return {"answer": "bad"}

    branch = sp.Branch(
        question="Which?",
        labels=["slow", "bad"],
        decision_type=sp.MultiDecision,
        language_model=language_model_for(simulated_lm),
        branches=[sp.Lambda(slow, data_model=Answer), sp.Lambda(bad, data_model=Answer)],
    )
    with pytest.raises(RuntimeError, match="sibling failed"):
        await branch(Query(query="q"))
    await siblings.settle()
    assert siblings.outcome == "cancelled"
