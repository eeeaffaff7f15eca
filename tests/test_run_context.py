"""The run context (``trainers.job``) in the default configuration: tracking on, module
tasks, real Prefect task retries. Each test counts what the simulated LM was paid for."""

import asyncio
import os
import threading
from pathlib import Path

import pytest
from helpers import KNOWLEDGE, as_student, capitals, capitals_program

import synaprefect as sp
from synaprefect.language_models import AuthenticationError, TransientLanguageModelError
from synaprefect.orchestration import tracking
from synaprefect.testing import Fault, FaultPlan
from synaprefect.testing.skills import style_student
from synaprefect.trainers.replay import list_runs, prune_runs


@pytest.fixture(autouse=True)
def _fast_task_retries(monkeypatch):
    monkeypatch.setenv("SYNAPREFECT_TASK_RETRY_DELAY", "0")


def make_program(server, **lm_kwargs):
    return capitals_program(as_student(server), name="context", **lm_kwargs)


@pytest.mark.parametrize("granularity", ["module", "sample", "batch"])
async def test_a_retried_task_resends_only_the_failed_call(prefect_api, simulated_lm, granularity):
    # No model-level retry and one call at a time: the third call fails, its task is
    # retried by Prefect, and the calls finished before it come from the journal.
    program = await make_program(simulated_lm, retry=1, max_concurrency=1)
    program.task_granularity = granularity
    simulated_lm.set_faults(FaultPlan.at({2: "server_error"}))
    x, y = capitals(4)
    scores = await program.evaluate(x, y, batch_size=4, verbose=0, resume=False)
    assert scores["reward"] >= 0.0
    assert simulated_lm.stats().requests == 4 + 1


async def test_siblings_out_when_a_call_fails_are_recorded_not_repaid(prefect_api, simulated_lm):
    # All four calls out at once; the third fails at once while the others are still
    # answering: they finish and are recorded, and Prefect's retry of the module task
    # sends only the failed call again.
    program = await make_program(simulated_lm, retry=1, max_concurrency=4)
    student = style_student(KNOWLEDGE)

    async def third_fails_at_once(request):
        if request.index == 2:
            return Fault("server_error")
        await asyncio.sleep(0.3)
        return student(request)

    simulated_lm.set_responder(third_fails_at_once)
    x, y = capitals(4)
    scores = await program.evaluate(x, y, batch_size=4, verbose=0, resume=False)
    assert scores["reward"] >= 0.0
    assert simulated_lm.stats().requests == 4 + 1


@pytest.mark.parametrize("tracked", [True, False], ids=["tracked", "untracked"])
async def test_a_failing_call_is_tried_model_retry_times_task_attempts(
    request, simulated_lm, tracked
):
    # One layer of task retries, whatever nests: 2 model attempts x (1 + 1 task retry),
    # with tracking on or off; not once more per enclosing batch task.
    if tracked:
        request.getfixturevalue("prefect_api")
    program = await make_program(simulated_lm, retry=2)
    simulated_lm.set_faults(FaultPlan(every=1, kinds=("server_error",)))
    x, y = capitals(1)
    with tracking(tracked), pytest.raises(TransientLanguageModelError):
        await program.evaluate(x, y, batch_size=1, verbose=0, resume=False)
    assert simulated_lm.stats().requests == 2 * 2


async def test_a_rerun_with_other_operational_settings_replays_finished_steps(
    prefect_api, simulated_lm
):
    program = await make_program(simulated_lm, max_concurrency=1)
    simulated_lm.set_faults(FaultPlan.at({4: "unauthorized"}))  # the second batch dies
    x, y = capitals(8)
    with pytest.raises(AuthenticationError):
        await program.evaluate(x, y, batch_size=4, verbose=0)
    # The second batch's first call fails; the call that had taken the free place by then
    # is not thrown away: it finishes and is recorded (and replayed below).
    assert simulated_lm.stats().requests == 6
    simulated_lm.set_faults(None)
    simulated_lm.reset_stats()

    # After a crash caused by rate limits a user changes exactly these.
    sp.clear_session()
    again = await make_program(
        simulated_lm, max_concurrency=4, timeout=300.0, retry=5, caching=True, retry_max_wait=7.0
    )
    scores = await again.evaluate(x, y, batch_size=4, verbose=0)
    assert again.replayed_steps == 1
    assert simulated_lm.stats().requests == 3  # the unfinished batch, but its recorded call
    assert scores["reward"] >= 0.0


async def test_a_changed_model_or_sampling_never_replays(prefect_api, simulated_lm):
    program = await make_program(simulated_lm)
    x, y = capitals(4)
    await program.evaluate(x, y, batch_size=4, verbose=0)
    sp.clear_session()
    hotter = await make_program(simulated_lm, temperature=0.9)
    await hotter.evaluate(x, y, batch_size=4, verbose=0)
    assert hotter.replayed_steps == 0 and simulated_lm.stats().requests == 8


async def test_a_finished_job_leaves_no_run_folder(simulated_lm, monkeypatch):
    program = await make_program(simulated_lm)
    x, y = capitals(4)
    with tracking(False):
        await program.predict(x, batch_size=2, verbose=0)
        assert list_runs() == []
        monkeypatch.setenv("SYNAPREFECT_KEEP_RUNS", "1")
        await program.predict(x, batch_size=2, verbose=0)
        await program.predict(x[:2], batch_size=2, verbose=0)
        kept = list_runs("context")
        assert len(kept) == 1 and kept[0]["finished"]  # only the newest job


async def test_unfinished_jobs_are_kept_until_pruned(simulated_lm):
    program = await make_program(simulated_lm)
    simulated_lm.set_faults(FaultPlan.at({2: "unauthorized"}))
    x, y = capitals(4)
    with tracking(False), pytest.raises(AuthenticationError):
        await program.evaluate(x, y, batch_size=2, verbose=0)
    [run] = list_runs("context")
    assert not run["finished"] and run["bytes"] > 0
    assert prune_runs("context") == []  # an unfinished job would resume: kept
    assert prune_runs("context", unfinished=True) == [run["path"]]
    assert list_runs() == []


async def test_step_files_are_synced_off_the_event_loop(simulated_lm, monkeypatch):
    loop_thread = threading.get_ident()
    threads = []
    real_fsync = os.fsync

    def watched_fsync(fd):
        threads.append(threading.get_ident())
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", watched_fsync)
    program = await make_program(simulated_lm)
    x, y = capitals(4)
    with tracking(False):
        await program.evaluate(x, y, batch_size=2, verbose=0)
    assert threads and loop_thread not in threads
    assert asyncio.get_running_loop().is_running()


async def test_one_module_at_two_nodes_keeps_two_answers_on_resume(simulated_lm):
    # The same Generator called twice on the same input sends identical requests: each
    # must keep its own answer in the journal, or a resume replays one answer twice.
    from helpers import Answer, Query

    from synaprefect.testing.skills import language_model_for, parse_prompt

    paid = []

    def respond(request):
        paid.append(parse_prompt(request).inputs["query"])
        return {"answer": f"a{len(paid) - 1}"}

    simulated_lm.set_responder(respond)
    generator = sp.Generator(
        data_model=Answer,
        language_model=language_model_for(simulated_lm, max_concurrency=1),
        name="twice",
    )
    inputs = sp.Input(data_model=Query)
    program = sp.Program(
        inputs=inputs, outputs=[await generator(inputs), await generator(inputs)], name="twice"
    )
    simulated_lm.set_faults(FaultPlan.at({2: "unauthorized"}))  # the second batch dies
    x = [Query(query="Capital of France?"), Query(query="Capital of Peru?")]
    with tracking(False):
        with pytest.raises(AuthenticationError):
            await program.predict(x, batch_size=1, verbose=0)
        [run] = list_runs("twice")
        for step in (Path(run["path"]) / "steps").rglob("*.json"):
            step.unlink()  # the first batch comes back from the journal alone
        simulated_lm.set_faults(None)
        outputs = await program.predict(x, batch_size=1, verbose=0)
    assert [o.get_json()["answer"] for o in outputs[0]] == ["a0", "a1"]
    assert paid.count("Capital of France?") == 2  # the first batch was not paid again
