"""Scale-out on real parts: a sharded evaluate and predict over a process work pool with
two workers (``prefect server start``, the ``shard`` deployment of
``deployments/prefect.yaml``), one worker killed mid-run, and an evaluate on a Dask
cluster; all against the simulated LM served from this process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest
from helpers import Answer, as_student, capitals, capitals_hypermodel, capitals_program
from stack import PrefectStack, Service

from synaprefect.orchestration import tracking
from synaprefect.testing import SimulatedLM

pytestmark = pytest.mark.e2e  # real Prefect servers, workers or processes

DEPLOYMENT = "synaprefect-shard/shard"


@pytest.fixture(scope="module")
def simulated_model() -> Iterator[SimulatedLM]:
    with SimulatedLM(latency=0.05) as server:
        yield as_student(server)


@pytest.fixture(scope="module")
def pool(tmp_path_factory, simulated_model, prefect_api) -> Iterator[PrefectStack]:
    """The `shard` deployment and two process workers on the pool, on the session's
    Prefect server (a real server process)."""
    stack = PrefectStack(tmp_path_factory.mktemp("scale-out"), api_url=prefect_api.api_url)
    try:
        stack.deploy("--name", "shard")
        for index in (1, 2):
            # Every queue of the pool; helpers (the tuning test's hypermodel) importable.
            stack.start_worker(
                f"worker-{index}",
                queue=None,
                OPENAI_API_KEY="sk-simulated",
                PYTHONPATH=str(Path(__file__).parent),
                SYNAPREFECT_TEST_LM_URL=simulated_model.base_url,
            )
        yield stack
    finally:
        stack.stop()


def half_styled(n: int):
    """``n`` capitals; every other target in the student's style (title case), so
    rewards differ from sample to sample."""
    x, y = capitals(n)
    y = np.array(
        [Answer(answer=t.answer.title()) if i % 2 else t for i, t in enumerate(y)], dtype=object
    )
    return x, y


async def shard_runs(stack: PrefectStack, parent_id) -> list:
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    async with stack.client() as client:
        return await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id])
            )
        )


async def test_sharded_evaluate_and_predict_equal_in_process(pool, simulated_model):
    from synaprefect.orchestration.sharding import evaluate_on_work_pool, predict_on_work_pool

    program = await capitals_program(simulated_model, name="sharded")
    x, y = half_styled(20)
    with tracking(False):
        expected = await program.evaluate(x, y, batch_size=3, verbose=0)
        expected_outputs = await program.predict(x, batch_size=3, verbose=0)
    assert 0.0 < expected["reward"] < 1.0
    simulated_model.reset_stats()
    # This test is about equal results. The session's SQLite API, still writing the task
    # runs of the tests before, has kept a starting shard's writes backing off for over a
    # minute: a generous timeout, so that it is not taken for a dead worker here (the
    # tests below cover dead workers and a locked API).
    patient = {"poll_seconds": 0.5, "heartbeat_timeout": 300.0}
    scores = await evaluate_on_work_pool(
        program, x, y, deployment=DEPLOYMENT, shards=3, batch_size=3, **patient
    )
    outputs = await predict_on_work_pool(
        program, x, deployment=DEPLOYMENT, shards=2, batch_size=3, **patient
    )
    assert scores == expected
    assert [o.get_json() for o in outputs] == [o.get_json() for o in expected_outputs]
    assert simulated_model.stats().requests == 40  # the workers called the model
    shards = await shards_of_evaluation(pool, "sharded")
    assert sorted(run.name for run in shards) == [f"shard-{i}-attempt-1" for i in (1, 2, 3)]
    assert all(run.state.is_completed() for run in shards)


async def test_tuning_trials_run_on_the_pool_workers(pool, simulated_model, monkeypatch, tmp_path):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    from synaprefect import tuners

    tuners.disable_keras_backend()
    monkeypatch.setenv("SYNAPREFECT_TEST_LM_URL", simulated_model.base_url)
    tuner = tuners.RandomSearch(
        capitals_hypermodel,
        objective="val_reward",
        max_trials=2,
        directory=str(tmp_path),
        project_name="pooled",
        seed=3,
    )
    x, y = capitals(12)
    simulated_model.reset_stats()
    await tuner.asearch(
        x,
        y,
        epochs=1,
        batch_size=3,
        validation_split=0.25,
        verbose=0,
        concurrent_trials=2,
        deployment=DEPLOYMENT,
    )
    trials = tuner.oracle.trials
    assert len(trials) == 2
    assert all(t.status == "COMPLETED" and t.score is not None for t in trials.values())
    assert simulated_model.stats().requests > 0  # the workers trained the programs
    async with pool.client() as client:
        deployment = await client.read_deployment_by_name(DEPLOYMENT)
        for trial_id, trial in trials.items():
            [run] = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    name=FlowRunFilterName(any_=[f"pooled-trial-{trial_id}-attempt-1"])
                )
            )
            assert run.deployment_id == deployment.id and run.state.is_completed()
            [stage] = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    name=FlowRunFilterName(any_=[f"pooled-trial-{trial_id}"])
                )
            )
            assert stage.parameters == {"temperature": trial.hyperparameters["temperature"]}
    # The variables a worker ended with came back: the best model is that program.
    best_trial = tuner.oracle.get_best_trials(1)[0]
    saved = json.loads(Path(tuner._variables_path(best_trial.trial_id)).read_text())
    best = tuner.get_best_models(1)[0]
    assert best.get_state_tree()["trainable_variables"] == saved["trainable_variables"]
    assert saved["trainable_variables"]  # the worker's fit trained something


async def test_a_shard_cancelled_in_prefect_stops_the_job(pool, simulated_model):
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterWorkQueueName,
    )
    from prefect.states import Cancelled

    from synaprefect.orchestration.sharding import ShardError, evaluate_on_work_pool

    # A paused queue: its runs wait, scheduled, for the cancel below.
    pool.prefect("work-queue", "create", "held", "--pool", "synaprefect")
    pool.prefect("work-queue", "pause", "held", "--pool", "synaprefect")
    program = await capitals_program(simulated_model, name="cancelled")
    x, y = capitals(4)
    simulated_model.reset_stats()
    driver = asyncio.create_task(
        evaluate_on_work_pool(
            program,
            x,
            y,
            deployment=DEPLOYMENT,
            shards=2,
            batch_size=2,
            work_queue_name="held",
            poll_seconds=0.2,
        )
    )
    names = FlowRunFilterName(any_=["shard-1-attempt-1", "shard-2-attempt-1"])
    async with pool.client() as client:
        deadline = time.monotonic() + 60
        while (
            len(
                runs := await client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(
                        name=names, work_queue_name=FlowRunFilterWorkQueueName(any_=["held"])
                    )
                )
            )
            < 2
        ):
            assert time.monotonic() < deadline and not driver.done()
            await asyncio.sleep(0.2)
        await client.set_flow_run_state(runs[0].id, Cancelled(), force=True)
        with pytest.raises(ShardError, match="was cancelled, so the rest is stopped"):
            await asyncio.wait_for(driver, timeout=60)
        other = await client.read_flow_run(runs[1].id)  # the job cancelled its other run
        assert other.state.name in ("Cancelling", "Cancelled")
    assert simulated_model.stats().requests == 0


async def test_a_shard_no_worker_takes_stops_the_job_instead_of_waiting(pool, simulated_model):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterWorkQueueName

    from synaprefect.orchestration.sharding import ShardError, evaluate_on_work_pool

    pool.prefect("work-queue", "create", "unstaffed", "--pool", "synaprefect")
    pool.prefect("work-queue", "pause", "unstaffed", "--pool", "synaprefect")
    program = await capitals_program(simulated_model, name="unstaffed")
    with pytest.raises(ShardError, match="no worker took it: start one"):
        await asyncio.wait_for(
            evaluate_on_work_pool(
                program,
                *capitals(4),
                deployment=DEPLOYMENT,
                shards=2,
                batch_size=2,
                work_queue_name="unstaffed",
                poll_seconds=0.2,
                start_timeout=3.0,
            ),
            timeout=60,
        )
    async with pool.client() as client:  # nothing left waiting to run (and pay) later
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                work_queue_name=FlowRunFilterWorkQueueName(any_=["unstaffed"])
            )
        )
    assert runs and all(run.state.name in ("Cancelling", "Cancelled") for run in runs)


def busy_worker(stack: PrefectStack) -> Service | None:
    """A worker running a flow run (it has a child process)."""
    for service in stack.services:
        if service.name.startswith("worker") and service.process.poll() is None:
            if psutil.Process(service.process.pid).children(recursive=True):
                return service
    return None


async def slow_sharded_evaluate(simulated_model, name: str, heartbeat_timeout: float):
    """A sharded evaluate of 24 samples in 2 shards, at 0.3 s per LM call (long enough to
    act on it mid-run), started as a task; with the in-process scores it must equal."""
    from synaprefect.orchestration.sharding import evaluate_on_work_pool

    simulated_model.set_latency(0.3)
    program = await capitals_program(simulated_model, name=name)
    x, y = half_styled(24)
    with tracking(False):
        expected = await program.evaluate(x, y, batch_size=2, verbose=0)
    simulated_model.reset_stats()
    driver = asyncio.create_task(
        evaluate_on_work_pool(
            program,
            x,
            y,
            deployment=DEPLOYMENT,
            shards=2,
            batch_size=2,
            heartbeat_seconds=0.5,
            heartbeat_timeout=heartbeat_timeout,
            poll_seconds=0.5,
        )
    )
    return driver, expected


async def shards_of_evaluation(stack: PrefectStack, name: str) -> list:
    """The shard runs of the sharded evaluate of the program ``name``."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    async with stack.client() as client:
        [run] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"evaluate-sharded-{name}"]))
        )
    return await shard_runs(stack, run.id)


async def test_a_shard_whose_worker_dies_runs_again_elsewhere(pool, simulated_model):
    driver, expected = await slow_sharded_evaluate(simulated_model, "survivor", 20.0)
    deadline = time.monotonic() + 120
    while (victim := busy_worker(pool)) is None:
        assert time.monotonic() < deadline and not driver.done(), "no shard started"
        await asyncio.sleep(0.2)
    while simulated_model.stats().completed < 2:  # let the shards answer a few calls
        assert time.monotonic() < deadline and not driver.done(), "no shard called the LM"
        await asyncio.sleep(0.1)
    tree = [victim.process.pid, *(p.pid for p in psutil.Process(victim.process.pid).children(True))]
    for pid in tree:  # the machine is gone: the worker and its flow-run process
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()
    scores = await asyncio.wait_for(driver, timeout=240)
    simulated_model.set_latency(0.05)
    assert scores == expected
    shards = await shards_of_evaluation(pool, "survivor")
    crashed = [r for r in shards if r.state.is_crashed()]
    assert crashed and all("silent" in r.state.message for r in crashed)
    for run in crashed:  # each shard of the dead worker ran again, to completion
        retried = run.name.replace("attempt-1", "attempt-2")
        assert [r.state.is_completed() for r in shards if r.name == retried] == [True]
    assert sum(r.state.is_completed() for r in shards) == 2


async def test_a_shard_is_not_run_again_while_the_api_takes_no_writes(
    pool, simulated_model, prefect_api
):
    """The API's SQLite file locked for longer than the heartbeat timeout: the shards'
    beats cannot get through, and neither can the driver's own, so no live shard is
    declared dead and paid for twice."""
    assert prefect_api.database is not None
    driver, expected = await slow_sharded_evaluate(simulated_model, "patient", 12.0)

    async def both_shards_run() -> bool:
        # Until then a worker may still be submitting one, and a worker that cannot
        # submit (503 under the lock) crashes the run: another failure than this test's.
        with contextlib.suppress(ValueError):  # the driver's flow run is not created yet
            shards = await shards_of_evaluation(pool, "patient")
            return sum(bool(r.state and r.state.is_running()) for r in shards) == 2
        return False

    deadline = time.monotonic() + 120
    while simulated_model.stats().completed < 6 or not await both_shards_run():
        assert time.monotonic() < deadline and not driver.done(), "the shards did not start"
        await asyncio.sleep(0.2)

    def hold_the_write_lock(seconds: float) -> None:
        connection = sqlite3.connect(prefect_api.database, timeout=60)
        try:
            connection.execute("BEGIN EXCLUSIVE")
            time.sleep(seconds)
        finally:
            connection.rollback()
            connection.close()

    await asyncio.to_thread(hold_the_write_lock, 25.0)  # twice the heartbeat timeout
    scores = await asyncio.wait_for(driver, timeout=240)
    simulated_model.set_latency(0.05)
    assert scores == expected
    assert simulated_model.stats().requests == 24  # each sample paid once
    shards = await shards_of_evaluation(pool, "patient")
    assert sorted(r.name for r in shards if r.state.is_completed()) == [
        "shard-1-attempt-1",
        "shard-2-attempt-1",
    ]
    assert not [r for r in shards if r.state.is_crashed()]


def ran_a_shard() -> bool:
    import sys

    return "synaprefect.trainers.shards" in sys.modules


async def test_evaluate_and_predict_on_a_dask_cluster(prefect_api, simulated_model, monkeypatch):
    from distributed import Client, LocalCluster
    from prefect_dask import DaskTaskRunner

    program = await capitals_program(simulated_model, name="on_dask")
    x, y = half_styled(12)
    with tracking(False):
        expected = await program.evaluate(x, y, batch_size=3, verbose=0)
        expected_outputs = await program.predict(x, batch_size=3, verbose=0)
    simulated_model.reset_stats()
    # Keys never travel with the program: each worker reads its own environment.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-simulated")
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        runner = DaskTaskRunner(address=cluster.scheduler_address)
        scores = await program.evaluate(x, y, batch_size=3, verbose=0, task_runner=runner)
        outputs = await program.predict(
            x,
            batch_size=3,
            verbose=0,
            task_runner=DaskTaskRunner(address=cluster.scheduler_address),
        )
        workers_used = client.run(ran_a_shard)
    assert scores == expected
    assert [o.get_json() for o in outputs] == [o.get_json() for o in expected_outputs]
    assert simulated_model.stats().requests == 24
    assert sorted(workers_used.values()) == [True, True]  # both worker processes worked
    async with prefect_api.client() as api:
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

        [run] = await api.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["evaluate-on_dask"]))
        )
    task_runs = await prefect_api.read_task_runs([run.id], count=4)
    assert sorted(t.name for t in task_runs) == [f"test-batch-{i}" for i in (1, 2, 3, 4)]
    assert all(t.state.is_completed() for t in task_runs)


async def test_a_task_runner_needs_tracking(simulated_model):
    from prefect.task_runners import ThreadPoolTaskRunner

    program = await capitals_program(simulated_model, name="untracked")
    x, y = capitals(3)
    simulated_model.reset_stats()
    with tracking(False), pytest.raises(ValueError, match="needs tracking on"):
        await program.evaluate(x, y, verbose=0, task_runner=ThreadPoolTaskRunner())
    assert simulated_model.stats().requests == 0


def test_silence_is_counted_only_while_the_api_takes_the_drivers_beats():
    """The clock a shard's silence is counted on: a beat a second answered at once
    advances it by a second; a minute without beats (the API took no writes) by two beats
    at most; a beat the API was slow to take, not at all."""
    from synaprefect.orchestration.heartbeats import Heartbeat

    beats = Heartbeat(interval=1.0, written_at=100.0)
    for second in range(101, 111):
        beats.wrote(second - 0.1, float(second))
    assert beats.api_seconds == pytest.approx(10.0)
    beats.wrote(169.9, 170.0)  # the first beat through after a stall of a minute
    assert beats.api_seconds == pytest.approx(12.0)
    beats.wrote(171.0 - 0.1, 171.0)
    assert beats.api_seconds == pytest.approx(13.0)
    beats.wrote(171.5, 174.0)  # taken, but after 2.5 s behind other writers
    beats.wrote(174.9, 175.0)
    assert beats.api_seconds == pytest.approx(14.0)
