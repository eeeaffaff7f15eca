"""Cost budgets and call estimates, against the simulated LM."""

import json

import pytest
from helpers import Query, as_student, capitals, capitals_program

import synaprefect as sp
from synaprefect.language_models import TransientLanguageModelError
from synaprefect.orchestration import tracking
from synaprefect.testing import FaultPlan
from synaprefect.testing.skills import language_model_for


@pytest.fixture(autouse=True)
def _no_tracking():
    with tracking(False):
        yield


def make_program(server, **lm_kwargs):
    return capitals_program(as_student(server), name="budgeted", **lm_kwargs)


data = capitals


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(epochs=2, batch_size=4, validation_split=0.25),
        dict(epochs=3, batch_size=5, validation_split=0.0),
        dict(epochs=1, batch_size=3, validation_split=0.25, minibatch_size=2),
    ],
)
async def test_estimate_matches_the_calls_a_fit_makes(simulated_lm, kwargs):
    program = await make_program(simulated_lm)
    x, y = data(16)
    estimate = program.estimate_calls(x, **kwargs)
    assert simulated_lm.stats().requests == 0
    spent = _SpentAtEnd()
    await program.fit(x, y, verbose=0, callbacks=[spent], **kwargs)
    # Every estimated call is either paid or answered by an identical step of the same
    # fit (the same best candidate validated at two epoch ends is replayed, free): the
    # budget counts what was paid, once.
    counters = program.language_models()[0].counters
    paid = simulated_lm.stats().requests
    assert spent.totals["calls"] == paid == counters()["calls"] <= estimate["total"]
    assert estimate["inference"] >= counters("inference")["calls"]
    assert estimate["optimizer"] == counters("optimizer")["calls"]


class _SpentAtEnd(sp.callbacks.Callback):
    def on_train_end(self, logs=None):
        self.totals = self.program.spent_totals()  # paid and replayed calls of the fit


async def test_estimate_of_evaluate_and_omega(simulated_lm):
    program = await make_program(simulated_lm)
    x, _ = data(10)
    assert program.estimate_calls(x, kind="evaluate") == {
        "inference": 10,
        "optimizer": 0,
        "reward": 0,
        "total": 10,
    }
    omega = sp.optimizers.OMEGA(language_model=language_model_for(simulated_lm))
    program.compile(reward=sp.rewards.ExactMatch(), optimizer=omega)
    estimate = program.estimate_calls(x, epochs=1, batch_size=5, validation_split=0.0)
    assert estimate["optimizer"] == 2 * (5 + 1)  # candidates scored + one writer call


async def test_fit_prints_the_estimate(simulated_lm, capsys):
    program = await make_program(simulated_lm)
    x, y = data(8)
    await program.fit(x, y, epochs=1, batch_size=4, validation_split=0.25, verbose=1)
    assert "Estimated LM calls for fit: ~" in capsys.readouterr().out


async def test_cost_budget_stops_cleanly_and_saves(simulated_lm, tmp_path):
    program = await make_program(simulated_lm)
    x, y = data(24)
    path = tmp_path / "stopped.json"
    budget = sp.callbacks.CostBudget(max_calls=20, filepath=str(path))
    history = await program.fit(
        x, y, epochs=5, batch_size=4, validation_split=0.0, verbose=0, callbacks=[budget]
    )
    # each batch makes 4 + 4 calls: the budget trips after the third batch
    assert simulated_lm.stats().requests == 24
    assert budget.reason and "20" in budget.reason and program.stop_reason == budget.reason
    assert program.optimizer.iterations == 3 and len(history.epoch) == 1
    saved = json.loads(path.read_text())
    assert saved["variables"]["optimizer_variables"]
    assert sp.Program.load(path).optimizer.iterations == 3


def test_budget_needs_a_limit():
    with pytest.raises(ValueError, match="at least one"):
        sp.callbacks.CostBudget()
    with pytest.raises(ValueError, match="max_cost"):
        sp.callbacks.CostBudget(max_cost=-1)


async def test_a_resumed_fit_counts_what_its_replayed_steps_cost(simulated_lm, monkeypatch):
    monkeypatch.setenv("SYNAPREFECT_TASK_RETRIES", "0")  # a failed batch fails the fit
    x, y = data(24)
    sp.clear_session()
    sp.set_seed(3)
    crashing = await make_program(simulated_lm, retry=1, max_concurrency=1)
    # Two batches of 4 answers + 4 optimizer calls are paid; the third batch's requests
    # fail (those that go out before the failure stops it), and nothing retries them.
    simulated_lm.set_faults(FaultPlan.at(dict.fromkeys(range(16, 20), "server_error")))
    with pytest.raises(TransientLanguageModelError, match="openai/simulated"):
        await crashing.fit(x, y, epochs=5, batch_size=4, validation_split=0.0, verbose=0)
    simulated_lm.set_faults(None)
    assert simulated_lm.stats().completed == 16
    failed = crashing.spent_totals()["calls"] - 16  # counted as calls, though failed
    assert failed >= 1

    sp.clear_session()
    sp.set_seed(3)
    resumed = await make_program(simulated_lm, retry=1, max_concurrency=1)
    budget = sp.callbacks.CostBudget(max_calls=20)
    await resumed.fit(
        x, y, epochs=5, batch_size=4, validation_split=0.0, verbose=0, callbacks=[budget]
    )
    # The two replayed batches count their 16 calls and the crash's failed calls count as
    # they did in the crashed process: the budget trips after the third batch, as in an
    # uninterrupted fit, and only that batch is paid again.
    assert resumed.replayed_steps == 4 and resumed.optimizer.iterations == 3
    assert budget.reason.startswith(f"budget reached: {24 + failed:.0f} LM calls spent")
    assert simulated_lm.stats().completed == 24  # each call paid once


class _SpentAfterBatch(sp.callbacks.Callback):
    def __init__(self, batch: int):
        super().__init__()
        self.batch, self.totals = batch, None

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.batch and self.totals is None:
            self.totals = self.program.spent_totals()


async def test_calls_an_interrupted_step_paid_count_when_a_resume_replays_them(
    simulated_lm, monkeypatch
):
    monkeypatch.setenv("SYNAPREFECT_TASK_RETRIES", "0")  # a failed batch fails the fit
    x, y = data(24)
    fit = dict(epochs=5, batch_size=4, validation_split=0.0, verbose=0)

    async def program():
        sp.clear_session()
        sp.set_seed(3)
        return await make_program(simulated_lm, retry=1, max_concurrency=1)

    def fail_from(first: int) -> None:
        simulated_lm.reset_stats()  # request indices count from zero again
        simulated_lm.set_faults(
            FaultPlan.at(dict.fromkeys(range(first, first + 8), "server_error"))
        )

    # 1st run: two batches (8 calls each) are paid, then two answers of the third batch;
    # its next request fails and the fit with it.
    fail_from(18)
    first = await program()
    with pytest.raises(TransientLanguageModelError):
        await first.fit(x, y, **fit)
    assert simulated_lm.stats().completed == 18
    failed = first.spent_totals()["calls"] - 18  # counted as calls, though failed
    assert failed >= 1

    # 2nd run: the two batches replay, the third batch's two answers come from the
    # journal, its other two and its 4 optimizer calls are paid; the fourth batch fails.
    fail_from(6)
    spent = _SpentAfterBatch(2)
    with pytest.raises(TransientLanguageModelError):
        await (await program()).fit(x, y, callbacks=[spent], **fit)
    assert simulated_lm.stats().completed == 6  # nothing paid twice
    # 16 replayed + 2 from the journal + 6 paid, and the failed calls of the 1st run
    assert spent.totals["calls"] == 24 + failed

    # 3rd run: three batches replay whole; the third counts all it cost (the answers
    # its first attempt paid included), so the budget trips where an uninterrupted fit's
    # would.
    simulated_lm.reset_stats()
    simulated_lm.set_faults(None)
    budget = sp.callbacks.CostBudget(max_calls=20)
    resumed = await program()
    await resumed.fit(x, y, callbacks=[budget], **fit)
    assert resumed.replayed_steps == 6 and resumed.optimizer.iterations == 3
    assert budget.reason.startswith(f"budget reached: {24 + failed:.0f} LM calls spent")
    assert simulated_lm.stats().completed == 0


async def test_a_failed_call_counts_as_a_call_it_may_have_been_billed(simulated_lm):
    program = await make_program(simulated_lm, retry=1)
    model = program.language_models()[0]
    simulated_lm.set_faults(FaultPlan.at({0: "server_error"}))
    with pytest.raises(TransientLanguageModelError):
        await program(Query(query="What is the capital of France?"))
    simulated_lm.set_faults(None)
    assert model.counters()["failed_calls"] == 1
    assert program.spent_totals()["calls"] == 1
    await program(Query(query="What is the capital of Spain?"))
    assert program.spent_totals()["calls"] == 2
