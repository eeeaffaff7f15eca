"""Shards of an evaluate or predict as JSON (``trainers.shards``), run in this process:
what the work-pool and Dask paths send to other processes."""

import json
import time

import numpy as np
import pytest
from helpers import Answer, CaseBlindMatch, as_student, capitals, capitals_program
from prefect.client.schemas.actions import ArtifactCreate
from prefect.states import Completed, Pending

import synaprefect as sp
from synaprefect.orchestration import tracking
from synaprefect.orchestration.artifacts import json_markdown
from synaprefect.orchestration.work_pools import _RESULT_KEY, _check, _Pool, _Shard, shard_flow
from synaprefect.trainers.shards import combine, run_shard, shard_bounds, shard_request


@pytest.mark.parametrize(
    "size, batch_size, shards, expected",
    [
        (10, 3, 2, [(0, 6), (6, 10)]),
        (5, 2, 9, [(0, 2), (2, 4), (4, 5)]),  # never more shards than batches
        (8, 8, 3, [(0, 8)]),
        (12, 2, 3, [(0, 4), (4, 8), (8, 12)]),
    ],
)
def test_shards_hold_whole_batches(size, batch_size, shards, expected):
    assert shard_bounds(size, batch_size, shards) == expected


@pytest.mark.parametrize(
    "arguments, name", [((0, 2, 2), "size"), ((4, 0, 2), "batch_size"), ((4, 2, 0), "shards")]
)
def test_shard_bounds_name_the_bad_argument(arguments, name):
    with pytest.raises(ValueError, match=f"`{name}` must be an integer >= 1"):
        shard_bounds(*arguments)


async def test_shards_combine_into_the_in_process_scores_and_outputs(simulated_lm, monkeypatch):
    program = await capitals_program(as_student(simulated_lm), name="sharded_here")
    program.compile(
        reward=CaseBlindMatch(),
        metrics=[sp.metrics.Accuracy(in_mask=["answer"]), sp.metrics.F1Score()],
        optimizer="random_few_shot",
    )
    x, y = capitals(10)
    y = np.array(
        [Answer(answer="wrong") if i % 3 == 0 else t for i, t in enumerate(y)], dtype=object
    )
    # Keys never travel with the program: the receiving process reads its own.
    monkeypatch.setenv("OPENAI_API_KEY", simulated_lm.api_key or "sk-simulated")
    with tracking(False):
        expected = await program.evaluate(x, y, batch_size=3, verbose=0)
        outputs = await program.predict(x, batch_size=3, verbose=0)
        bounds = shard_bounds(len(x), 3, 2)
        requests = [shard_request(program, "evaluate", x[a:b], y[a:b], 3) for a, b in bounds]
        # What travels is JSON, and names the custom reward's module for the receiver.
        requests = [json.loads(json.dumps(request)) for request in requests]
        assert all(request["imports"] == ["helpers"] for request in requests)
        results = [await run_shard(request) for request in requests]
        predicted = [
            await run_shard(shard_request(program, "predict", x[a:b], None, 3)) for a, b in bounds
        ]
    assert 0.0 < expected["reward"] < 1.0
    scores = await combine(program, "evaluate", results, len(x), y)
    assert scores == expected
    combined = await combine(program, "predict", predicted, len(x))
    assert [o.get_json() for o in combined] == [o.get_json() for o in outputs]
    with pytest.raises(ValueError, match="returned 6 results for 10 samples"):
        await combine(program, "evaluate", results[:1], len(x), y)


async def test_bad_requests_fail_before_any_call(simulated_lm):
    program = await capitals_program(simulated_lm, name="bad_requests")
    x, y = capitals(2)
    with pytest.raises(ValueError, match="must be one of"):
        shard_request(program, "fit", x, y, 2)
    with pytest.raises(ValueError, match="is the dict `shard_request\\(\\)` returns"):
        await run_shard({"kind": "evaluate"})
    request = shard_request(program, "evaluate", x, y, 2)
    request["imports"] = ["no_such_module_here"]
    with pytest.raises(ImportError, match="install it where shards run"):
        await run_shard(request)
    assert simulated_lm.stats().requests == 0


async def test_a_completed_run_whose_result_is_null_is_collected(prefect_api):
    # A request kind registered by a package above may return any JSON, null included:
    # the driver collects it like any result instead of polling the finished run forever.
    async with prefect_api.client() as client:
        run = await client.create_flow_run(
            shard_flow, parameters={"request": {}}, state=Completed()
        )
        await client.create_artifact(
            ArtifactCreate(
                key=_RESULT_KEY, type="markdown", data=json_markdown(None), flow_run_id=run.id
            )
        )
        shard = _Shard(0, "shard-1", {"kind": "null"}, run_id=run.id)
        reason = await _check(client, _pool(start_timeout=600.0), shard)
    assert reason is None
    assert shard.collected
    assert shard.result is None


def _pool(start_timeout: float) -> _Pool:
    """How the driver watches runs: beats every 0.5 s, dead after 2 s of silence."""
    return _Pool("shard/shard", None, 0.5, 2.0, start_timeout, driver=None)


async def test_a_run_taken_but_still_starting_is_not_silent_until_start_timeout(prefect_api):
    """A worker took the run (Pending) and it has not beaten yet: pulling an image or
    importing takes time, and is not silence. Only past ``start_timeout`` is it
    crashed, to be run again."""
    async with prefect_api.client() as client:
        run = await client.create_flow_run(shard_flow, parameters={"request": {}}, state=Pending())
        shard = _Shard(0, "shard-1", {}, run_id=run.id, submitted_at=time.monotonic() - 30)
        assert await _check(client, _pool(start_timeout=60.0), shard) is None  # starting
        assert (await client.read_flow_run(run.id)).state.is_pending()
        reason = await _check(client, _pool(start_timeout=10.0), shard)
        assert reason is not None and "not started after 30 s" in reason
        assert (await client.read_flow_run(run.id)).state.is_crashed()
