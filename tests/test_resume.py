"""Resume without re-paying, fault tolerance, permanent errors, concurrent writers."""

import asyncio
import json
import subprocess
import sys

import pytest
from helpers import (
    KNOWLEDGE,
    as_student,
    capitals,
    capitals_program,
    kill_then_resume,
)

import synaprefect as sp
from synaprefect.language_models import (
    AuthenticationError,
    ModelNotFoundError,
    PermanentLanguageModelError,
    TransientLanguageModelError,
)
from synaprefect.orchestration import tracking
from synaprefect.testing import Fault, FaultPlan
from synaprefect.testing.skills import style_student


@pytest.fixture(autouse=True)
def _no_tracking():
    with tracking(False):
        yield


data = capitals


@pytest.mark.e2e  # processes killed and run again
@pytest.mark.parametrize("tracked", [False, True], ids=["untracked", "tracked"])
def test_killed_fit_resumes_without_repaying_calls(
    simulated_lm_factory, tmp_path, request, tracked
):
    if tracked:  # the default configuration: a real Prefect API, module tasks
        request.getfixturevalue("prefect_api")
    server = simulated_lm_factory(responder=style_student(KNOWLEDGE), latency=0.05)
    home = tmp_path / "home"
    reference, resumed, reference_calls, paid = kill_then_resume(
        server, tmp_path, home, home, tracked=tracked
    )
    assert not reference_calls - paid  # nothing lost
    # Calls answered before the kill were journaled and not paid again; only a call in
    # flight at the kill (the server may finish it after the client died, max_concurrency
    # is 2) can be paid twice.
    assert sum((paid - reference_calls).values()) <= 2
    assert resumed["replayed"] > 0
    assert resumed["variables"] == reference["variables"]
    assert resumed["history"] == reference["history"]


def make_program(server, **lm_kwargs):
    return capitals_program(as_student(server), name="faulty", **lm_kwargs)


async def test_flow_retry_resumes_from_persisted_steps(simulated_lm, monkeypatch):
    monkeypatch.setenv("SYNAPREFECT_TASK_RETRIES", "0")  # a failed task fails the attempt
    x, y = data(16)
    sp.set_seed(4)
    reference = await make_program(simulated_lm, retry=1)
    await reference.fit(
        x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0, resume=False
    )
    expected = reference.get_state_tree()["trainable_variables"]
    reference_calls = simulated_lm.stats().requests
    simulated_lm.reset_stats()

    sp.clear_session()
    sp.set_seed(4)
    program = await make_program(simulated_lm, retry=1)
    # One request two thirds of the way fails, and nothing retries it but the flow: the
    # second attempt replays what the first one finished.
    simulated_lm.set_faults(FaultPlan.at({2 * reference_calls // 3: "server_error"}))
    await program.fit(
        x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0, resume=False, flow_retries=1
    )
    stats = simulated_lm.stats()
    assert stats.by_fault == {"server_error": 1}
    assert program.replayed_steps >= 6  # the batches and updates of the first attempt
    assert stats.completed == reference_calls  # nothing paid twice
    assert program.get_state_tree()["trainable_variables"] == expected


async def test_fit_under_faults_matches_a_fault_free_fit(simulated_lm_factory):
    x, y = data(12)
    results = []
    for faults in (
        None,
        FaultPlan(
            every=3,
            kinds=("rate_limit", "server_error", "timeout", "malformed"),
            retry_after=0.1,
            hang_seconds=3,
        ),
    ):
        sp.clear_session()
        sp.set_seed(9)
        server = simulated_lm_factory(faults=faults)
        program = await make_program(server, timeout=0.5, retry=6)
        await program.fit(
            x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0, resume=False
        )
        counters = program.language_models()[0].counters()
        results.append((program.get_state_tree()["trainable_variables"], counters, server.stats()))
    (clean, clean_counters, _), (faulty, counters, stats) = results
    assert faulty == clean
    assert sum(stats.by_fault.values()) >= stats.requests // 3 - 1
    assert set(stats.by_fault) == {"rate_limit", "server_error", "timeout", "malformed"}
    assert counters["failed_calls"] == 0 and counters["retries"] == sum(stats.by_fault.values())
    assert counters["calls"] == clean_counters["calls"]  # nothing lost, nothing extra


@pytest.mark.parametrize(
    "kind,error", [("unauthorized", AuthenticationError), ("not_found", ModelNotFoundError)]
)
async def test_permanent_errors_stop_the_fit_at_once(simulated_lm_factory, kind, error):
    server = simulated_lm_factory(faults=FaultPlan(every=1, kinds=(kind,)))
    program = await make_program(server, max_concurrency=1)
    x, y = data(8)
    with pytest.raises(error, match="openai/simulated"):
        await program.fit(
            x, y, epochs=2, batch_size=4, validation_split=0.25, verbose=0, resume=False
        )
    assert server.stats().requests <= 2  # no retries, no further batches


async def test_concurrency_cap_is_observed_at_the_server(simulated_lm_factory):
    server = simulated_lm_factory(latency=0.05)
    program = await make_program(server, max_concurrency=3)
    await program.evaluate(*data(12), batch_size=12, resume=False)
    assert server.stats().requests == 12 and server.stats().max_in_flight == 3


async def interrupt_second_batch(server, method, *args):
    """Run ``method`` (batches of 4, of a program whose model sends one request at a time
    and tries once) so that the server fails the requests of its second batch (those
    that go out before the first failure stops it); nothing retries them
    (``$SYNAPREFECT_TASK_RETRIES=0``)."""
    first = server.stats().requests + 4
    server.set_faults(FaultPlan.at(dict.fromkeys(range(first, first + 4), "server_error")))
    with pytest.raises(TransientLanguageModelError, match="openai/simulated"):
        await method(*args, batch_size=4, verbose=0)
    server.set_faults(None)
    assert server.stats().completed == 4  # the first batch was paid for


def interruptible_program(server, monkeypatch):
    monkeypatch.setenv("SYNAPREFECT_TASK_RETRIES", "0")
    return make_program(server, retry=1, max_concurrency=1)


@pytest.mark.parametrize("kind", ["evaluate", "predict"])
async def test_interrupted_evaluate_and_predict_resume_finished_ones_restart(
    simulated_lm, monkeypatch, kind
):
    program = await interruptible_program(simulated_lm, monkeypatch)
    x, y = data(8)
    args = (x, y) if kind == "evaluate" else (x,)
    method = getattr(program, kind)
    await interrupt_second_batch(simulated_lm, method, *args)
    first = await method(*args, batch_size=4, verbose=0)
    assert program.replayed_steps == 1 and simulated_lm.stats().completed == 8
    again = await method(*args, batch_size=4, verbose=0)  # finished: computed afresh
    assert program.replayed_steps == 0 and simulated_lm.stats().completed == 16
    if kind == "evaluate":
        assert again == first
    else:
        assert [o.get_json() for o in again] == [o.get_json() for o in first]


async def test_changed_reward_or_optimizer_never_replays_stale_results(simulated_lm, monkeypatch):
    program = await interruptible_program(simulated_lm, monkeypatch)
    x, y = data(8)
    await interrupt_second_batch(simulated_lm, program.evaluate, x, y)
    program.compile(reward=sp.rewards.ExactMatch(), optimizer="random_few_shot")
    await program.evaluate(x, y, batch_size=4, verbose=0)
    assert program.replayed_steps == 0  # another reward: nothing replayed
    assert simulated_lm.stats().completed == 4 + 8


async def test_a_second_job_on_a_busy_program_is_refused(simulated_lm):

    simulated_lm.set_latency(0.05)
    program = await make_program(simulated_lm)
    x, y = data(4)
    first = asyncio.ensure_future(program.evaluate(x, y, verbose=0))
    await asyncio.sleep(0.01)
    with pytest.raises(RuntimeError, match="already running evaluate"):
        await program.predict(x, verbose=0)
    assert "reward" in await first


WRITER = """
import sys, asyncio, synaprefect as sp
class Q(sp.DataModel):
    query: str
class Notes(sp.Trainable):
    notes: list[str] = []
async def main(path, tag):
    x0 = sp.Input(data_model=Q)
    program = sp.Program(inputs=x0, outputs=await sp.Identity(name="echo")(x0), name="p")
    for i in range(60):
        program.description = tag * (1 + i % 50) * 200   # files of varying size
        program.save(path)
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


def test_concurrent_writers_never_leave_a_corrupt_file(tmp_path):
    path = tmp_path / "shared.json"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    writers = [
        subprocess.Popen([sys.executable, str(script), str(path), tag]) for tag in ("a", "b")
    ]
    reads = 0
    while any(w.poll() is None for w in writers):
        if path.exists():
            document = json.loads(path.read_text())  # never a partial file
            assert set(document["config"]["description"]) in ({"a"}, {"b"})
            reads += 1
    assert all(w.returncode == 0 for w in writers) and reads > 0
    assert sp.Program.load(path).name == "p"
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_retried_batch_task_does_not_repay_its_finished_calls(simulated_lm, concurrency):
    """One call fails past the model's own retries: the batch task is retried, and the
    calls that had succeeded in the first attempt come from the journal. With all four
    calls out at once, the siblings of the failed call are not thrown away when it fails:
    they finish, are recorded, and the retry replays them."""
    program = await make_program(simulated_lm, retry=1, max_concurrency=concurrency)
    student = style_student(KNOWLEDGE)

    async def third_fails_at_once(request):
        if request.index == 2:
            return Fault("server_error")
        if concurrency > 1:
            await asyncio.sleep(0.3)  # the siblings are still out when it fails
        return student(request)

    simulated_lm.set_responder(third_fails_at_once)
    x, y = data(4)
    scores = await program.evaluate(x, y, batch_size=4, verbose=0, resume=False)
    assert "reward" in scores
    assert simulated_lm.stats().requests == 4 + 1  # only the failed call is made again


def test_the_call_journal_survives_a_line_torn_by_a_kill(tmp_path):
    from synaprefect.trainers.replay import RunStore

    store = RunStore(tmp_path / "run")
    store.record("a", {"answer": "Paris"})
    store.record("b", {"answer": "Ottawa"})
    journal = tmp_path / "run" / "calls.jsonl"
    with open(journal, "a", encoding="utf-8") as file:
        file.write('["c", {"answer": "Be')  # the process died mid-write
    again = RunStore(tmp_path / "run")
    assert again.lookup("a") == {"answer": "Paris"}
    assert again.lookup("b") == {"answer": "Ottawa"}
    assert again.lookup("c") is None and again.replayed_calls == 2
    again.record("c", {"answer": "Bern"})  # appends after the cut, on its own line
    assert RunStore(tmp_path / "run").lookup("c") == {"answer": "Bern"}
    assert journal.read_text().count("\n") == 3


def test_an_answer_the_journal_cannot_write_still_replays_in_this_process(tmp_path, monkeypatch):
    from synaprefect.trainers import call_journal
    from synaprefect.trainers.replay import RunStore

    store = RunStore(tmp_path / "run")

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(call_journal, "open", full_disk, raising=False)
    with pytest.raises(OSError, match="No space left"):
        store.record("a", {"answer": "Paris"}, {"cost": 0.1, "calls": 1.0, "tokens": 5.0})
    # A retried task of this process replays it instead of paying again; it was paid
    # here, so it is not counted a second time.
    assert store.lookup("a") == {"answer": "Paris"}
    assert store.replayed_usage == {}


class Answer(sp.DataModel):
    answer: str


async def test_broken_answers_count_in_the_budget_of_a_resumed_job(simulated_lm, tmp_path):
    from synaprefect.language_models.call_store import use_call_store
    from synaprefect.testing.skills import language_model_for
    from synaprefect.trainers.replay import RunStore

    messages = [{"role": "user", "content": "The capital of France?"}]
    schema = Answer.get_schema()
    lm = language_model_for(simulated_lm, retry=2)

    async def step():
        return (await lm(messages, schema=schema)).get_json()

    # The first process: both attempts come back broken (billed), the call fails for
    # good (one failed call), the step fails.
    simulated_lm.set_faults(FaultPlan.at({0: "malformed", 1: "malformed"}))
    first = RunStore(tmp_path / "run")
    with use_call_store(first), pytest.raises(TransientLanguageModelError):
        await first.step(["batch", 1], step)
    broken_tokens = lm.counters()["total_tokens"]
    assert lm.counters()["calls"] == lm.counters()["failed_calls"] == 1
    assert broken_tokens > 0 and first.replayed_usage == {}  # paid here: counted live
    # The second process resumes: it pays one answer, and counts the two broken ones
    # and the failed call as the first process's counters did.
    simulated_lm.set_faults(None)
    lm.reset_counters()
    second = RunStore(tmp_path / "run")
    with use_call_store(second):
        paid = await second.step(["batch", 1], step)
    answer_tokens = lm.counters()["total_tokens"]
    assert second.replayed_usage == {"tokens": broken_tokens, "cost": 0.0, "calls": 1.0}
    # A third process replays the whole step: the step's price has all three answers
    # and both calls (the failed one and the answered one).
    third = RunStore(tmp_path / "run")
    with use_call_store(third):
        assert await third.step(["batch", 1], step) == paid
    assert third.replayed_steps == 1 and simulated_lm.stats().requests == 3
    assert third.replayed_usage == {
        "tokens": broken_tokens + answer_tokens,
        "cost": 0.0,
        "calls": 2.0,
    }


async def test_a_call_that_failed_for_good_counts_in_a_resumed_job(simulated_lm, tmp_path):
    """A failed prediction does not fail its step: the step is stored, and a job that
    replays it counts the failed call as the job that ran it did."""
    from synaprefect.language_models.call_store import use_call_store
    from synaprefect.testing.skills import language_model_for
    from synaprefect.trainers.replay import RunStore

    messages = [{"role": "user", "content": "The capital of France?"}]
    lm = language_model_for(simulated_lm, retry=1)

    async def step():
        try:
            return (await lm(messages, schema=Answer.get_schema())).get_json()
        except PermanentLanguageModelError:
            return None  # the sample scores what the reward gives None

    simulated_lm.set_faults(FaultPlan.at({0: "unauthorized"}))
    first = RunStore(tmp_path / "run")
    with use_call_store(first):
        assert await first.step(["batch", 1], step) is None
    assert lm.counters()["calls"] == lm.counters()["failed_calls"] == 1
    second = RunStore(tmp_path / "run")
    with use_call_store(second):
        assert await second.step(["batch", 1], step) is None
    assert second.replayed_steps == 1 and simulated_lm.stats().requests == 1
    assert second.replayed_usage == {"cost": 0.0, "calls": 1.0, "tokens": 0}


async def test_a_retried_attempt_counts_only_what_other_processes_paid(tmp_path):
    from synaprefect.language_models.call_store import use_call_store
    from synaprefect.trainers.replay import RunStore

    earlier, here = (
        {"cost": 1.0, "calls": 1.0, "tokens": 10.0},
        {"cost": 0.5, "calls": 1.0, "tokens": 5.0},
    )
    first = RunStore(tmp_path / "run")
    first.record("old", {"answer": "Paris"}, earlier)
    first.close()  # that process died

    store = RunStore(tmp_path / "run")

    async def body():
        store.lookup("old")  # paid by the earlier process
        if store.lookup("new") is None:
            store.record("new", {"answer": "Rome"}, here)  # paid by this one
        store.record_broken("new", {"cost": 0.25, "calls": 0.0, "tokens": 2.0})
        return "done"

    with use_call_store(store):
        store.start_attempt()
        await store.step(["batch", 1], body)
        assert store.replayed_usage == earlier
        # A retried flow run in this process: the models' counters still hold what this
        # process paid, so the replayed step counts only the earlier process's answer.
        store.start_attempt()
        assert await store.step(["batch", 1], body) == "done"
        assert store.replayed_steps == 1 and store.replayed_usage == earlier
        store.start_attempt()
        store.lookup("new")
        assert store.replayed_usage == {}


def test_a_broken_answer_the_journal_cannot_write_counts_once(tmp_path, monkeypatch):
    from synaprefect.trainers import call_journal
    from synaprefect.trainers.replay import RunStore

    store = RunStore(tmp_path / "run")
    monkeypatch.setattr(
        call_journal,
        "open",
        lambda *a, **k: (_ for _ in ()).throw(OSError(28, "full")),
        raising=False,
    )
    with pytest.raises(OSError):
        store.record_broken("a", {"cost": 0.1, "calls": 0.0, "tokens": 3.0})
    with pytest.raises(OSError):
        store.record("a", {"answer": "Paris"}, {"cost": 0.2, "calls": 1.0, "tokens": 5.0})
    # Both were paid here (the counters have them): a replay in this process adds nothing.
    assert store.lookup("a") == {"answer": "Paris"}
    assert store.replayed_usage == {}
