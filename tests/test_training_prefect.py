"""fit / evaluate / predict as Prefect runs, read back from a real Prefect API."""

import copy
import uuid

from helpers import as_student, capitals, capitals_program

import synaprefect as sp
from synaprefect.data_models.trainable import trained_fields
from synaprefect.orchestration import artifacts, read_variable_history
from synaprefect.testing import Fault


class Snapshots(sp.callbacks.Callback):
    """The trainable variable's value after each optimizer update."""

    def __init__(self):
        super().__init__()
        self.values = []

    def on_train_batch_end(self, batch, logs=None):
        self.values.append(copy.deepcopy(self.program.trainable_variables[0].value()))


data = capitals


def make_program(server, name, **lm_kwargs):
    return capitals_program(
        as_student(server), name=name, api_key="sk-must-stay-secret", **lm_kwargs
    )


async def runs_of(client, program_name):
    """The flow runs of a program (its fit / evaluate / predict) and of their epochs."""
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    names = [f"{kind}-{program_name}" for kind in ("fit", "evaluate", "predict")]
    names += [f"{program_name}-epoch-{i}" for i in range(1, 10)]
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names))
    )


async def test_fit_is_a_flow_with_epoch_runs_batch_tasks_and_variable_artifacts(
    prefect_api, simulated_lm, caplog
):
    name = f"tracked_{uuid.uuid4().hex[:8]}"
    program = await make_program(simulated_lm, name)
    snapshots = Snapshots()
    x, y = data(12)
    await program.fit(
        x,
        y,
        epochs=2,
        batch_size=3,
        validation_split=0.25,
        verbose=0,
        callbacks=[snapshots],
        resume=False,
    )  # 9 train samples: 3 batches
    async with prefect_api.client() as client:
        runs = {run.name: run for run in await runs_of(client, name)}
        assert set(runs) == {f"fit-{name}"}  # the epochs are task runs, not subflows
        fit_run = runs[f"fit-{name}"]
        assert fit_run.state.is_completed()
    # per epoch: the epoch, 3 train batches + 3 updates + 1 validation batch, and one
    # module task (the generator over the whole batch) inside each of the last seven
    task_runs = await prefect_api.read_task_runs([fit_run.id], count=2 * 15)
    by_id = {run.id: run for run in task_runs}
    epochs = {run.name: run for run in task_runs if "-epoch-" in run.name}
    assert set(epochs) == {f"{name}-epoch-1", f"{name}-epoch-2"}
    assert all(run.state.is_completed() for run in task_runs)

    def parents(run):
        return [by_id[parent.id] for parent in run.task_inputs.get("__parents__", [])]

    for number in (1, 2):
        epoch = epochs[f"{name}-epoch-{number}"]
        assert parents(epoch) == []
        inside = [run for run in task_runs if parents(run) == [epoch]]
        names = [run.name for run in inside]
        assert sum(n.endswith("-train-batch") for n in names) == 3
        assert sum(n.endswith("-optimizer-update") for n in names) == 3
        assert sum(n.startswith("val-batch-") for n in names) == 1
        for run in inside:  # each holds the module's task
            [module] = [r for r in task_runs if parents(r) == [run]]
            assert module.name.endswith("-answerer")
    assert len(task_runs) == 2 * 15

    history = await read_variable_history(name, "answerer/state_answerer")
    # A version each time what the program uses changed (after an update, then at the
    # end): the optimizer's bookkeeping is not shown and repeats are not published.
    final = program.trainable_variables[0].value()
    trained = [trained_fields(value) for value in [*snapshots.values, final]]
    changes = [v for i, v in enumerate(trained) if i == 0 or v != trained[i - 1]]
    assert [h["value"] for h in history] == changes
    assert all(set(h["value"]) == {"examples", "instructions"} for h in history)
    async with prefect_api.client() as client:
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

        for key in (artifacts.history_table_key(name), artifacts.summary_key(name)):
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
            )
            assert found, key
        summary = found[0].data
        assert "| inference |" in summary and "Best candidate" in summary
        everything = await client.read_artifacts()
        assert all("sk-must-stay-secret" not in str(a.data) for a in everything)
    assert all("sk-must-stay-secret" not in r.getMessage() for r in caplog.records)
    assert fit_run.parameters.get("kind") == "fit"


async def test_fit_inside_a_user_flow_is_a_subflow(prefect_api, simulated_lm):
    from prefect import flow

    name = f"nested_{uuid.uuid4().hex[:8]}"
    program = await make_program(simulated_lm, name)
    x, y = data(6)

    @flow(name=f"user-pipeline-{name}")
    async def pipeline():
        await program.fit(
            x, y, epochs=1, batch_size=3, validation_split=0.0, verbose=0, resume=False
        )
        return await program.evaluate(x, y, resume=False)

    scores = await pipeline()
    assert "reward" in scores
    async with prefect_api.client() as client:
        runs = {run.name: run for run in await runs_of(client, name)}
        assert runs[f"fit-{name}"].parent_task_run_id is not None
        assert runs[f"evaluate-{name}"].parent_task_run_id is not None


async def test_predict_and_evaluate_are_flows(prefect_api, simulated_lm):
    name = f"served_{uuid.uuid4().hex[:8]}"
    program = await make_program(simulated_lm, name)
    x, y = data(4)
    outputs = await program.predict(x, batch_size=2, resume=False)
    assert len(outputs) == 4
    await program.evaluate(x, y, batch_size=2, resume=False)
    async with prefect_api.client() as client:
        runs = {run.name for run in await runs_of(client, name)}
    assert runs == {f"predict-{name}", f"evaluate-{name}"}


async def test_flow_retry_resumes_a_fit_whose_batch_task_failed(
    prefect_api, simulated_lm, monkeypatch
):
    monkeypatch.setenv("SYNAPREFECT_TASK_RETRIES", "0")  # a failed task fails the run
    name = f"retried_{uuid.uuid4().hex[:8]}"
    x, y = data(12)
    sp.set_seed(4)
    reference = await make_program(simulated_lm, f"reference_{name}", retry=1, max_concurrency=1)
    await reference.fit(
        x, y, epochs=2, batch_size=3, validation_split=0.25, verbose=0, resume=False
    )
    reference_calls = simulated_lm.stats().requests
    simulated_lm.reset_stats()

    sp.clear_session()
    sp.set_seed(4)
    program = await make_program(simulated_lm, name, retry=1, max_concurrency=1)
    # The first answer of the fifth training batch (epoch 2, batch 2: the 13th request
    # about a training sample; the last 3 samples validate) fails, and nothing retries it
    # but the flow run.
    training = [sample.get_json()["query"] for sample in x[:9]]
    asked = []

    def fail_fifth_batch(request):
        if any(query in request.user_prompt for query in training):
            asked.append(request.index)
            if len(asked) == 13:
                return Fault("server_error")
        return None

    simulated_lm.set_faults(fail_fifth_batch)
    await program.fit(
        x, y, epochs=2, batch_size=3, validation_split=0.25, verbose=0, resume=False, flow_retries=1
    )
    assert simulated_lm.stats().by_fault == {"server_error": 1}
    assert program.replayed_steps >= 8  # 4 batches and 4 updates replayed
    assert simulated_lm.stats().completed == reference_calls  # no call paid twice
    assert (
        program.get_state_tree()["trainable_variables"]
        == reference.get_state_tree()["trainable_variables"]
    )
    async with prefect_api.client() as client:
        runs = await runs_of(client, name)
    (fit_run,) = [run for run in runs if run.name == f"fit-{name}"]
    assert fit_run.state.is_completed() and fit_run.run_count == 2  # one run, retried
    assert [run.name for run in runs] == [f"fit-{name}"]  # epochs are task runs in it
    # Task runs are recorded from events, after the run ends: wait for those expected.
    epochs = await prefect_api.read_task_runs(
        [fit_run.id], count=4, where=lambda run: "-epoch-" in run.name
    )
    assert sorted(t.name for t in epochs) == sorted([f"{name}-epoch-{n}" for n in (1, 2)] * 2)
    failed = await prefect_api.read_task_runs(
        [fit_run.id], count=3, where=lambda run: run.state is not None and run.state.is_failed()
    )
    assert sorted(t.name for t in failed) == [
        "epoch-2-batch-2-answerer",
        "epoch-2-batch-2-train-batch",
        f"{name}-epoch-2",
    ]
