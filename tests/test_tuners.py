"""Hyperparameter search: the four tuners against the simulated LM, objective directions,
the lazy keras-tuner import, Prefect tracking, concurrent trials and resume after a kill."""

import asyncio
import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

import synaprefect as sp
from synaprefect import tuners
from synaprefect.orchestration import tracking
from synaprefect.testing.skills import language_model_for, load_capitals, parse_prompt

tuners.disable_keras_backend()  # before anything imports keras_tuner

SCRIPT = Path(__file__).parent / "scripts" / "tune_search.py"
FLOW = Path(__file__).parent.parent / "flows" / "tune.py"
ROWS, _ = load_capitals()
FACTS = {row["query"]: row["answer"] for row in ROWS}


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


@pytest.fixture(autouse=True)
def _no_tracking():
    with tracking(False):
        yield


def data(n, start=0):
    rows = ROWS[start : start + n]
    return (
        np.array([Query(query=r["query"]) for r in rows], dtype=object),
        np.array([Answer(answer=r["answer"]) for r in rows], dtype=object),
    )


def cold_answers_right(request):
    """A model that is right only when sampled at temperature 0 (below 0.5 for floats)."""
    question = parse_prompt(request).inputs.get("query", "")
    temperature = request.body.get("temperature")
    right = temperature is not None and temperature < 0.5
    return {"answer": FACTS.get(question, "?") if right else "no idea"}


def builder(
    server, name, optimizer=None, values=(0.0, 0.5, 1.0), reward=lambda hp: sp.rewards.ExactMatch()
):
    """``build_program(hp)`` choosing the temperature among ``values``; ``reward(hp)``
    makes each program's reward."""
    lm = language_model_for(server)

    async def build_program(hp):
        inputs = sp.Input(data_model=Query)
        outputs = await sp.Generator(
            data_model=Answer,
            language_model=lm,
            name="answerer",
            temperature=hp.Choice("temperature", list(values)),
        )(inputs)
        program = sp.Program(inputs=inputs, outputs=outputs, name=name)
        program.compile(reward=reward(hp), optimizer=optimizer)
        return program

    return build_program


def run_python(code):
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


# ---- the four tuners ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "tuner_class, options",
    [
        (tuners.RandomSearch, {"max_trials": 3}),
        (tuners.GridSearch, {"max_trials": 3}),
        (tuners.BayesianOptimization, {"max_trials": 3, "num_initial_points": 2}),
    ],
)
async def test_tuner_finds_the_rewarded_temperature(tuner_class, options, simulated_lm, tmp_path):
    simulated_lm.set_responder(cold_answers_right)
    name = f"{tuner_class.__name__.lower()}_{uuid.uuid4().hex[:6]}"
    tuner = tuner_class(
        builder(simulated_lm, name),
        objective="val_reward",
        seed=1,
        directory=tmp_path,
        project_name=name,
        **options,
    )
    assert isinstance(tuner, tuner_class)
    assert simulated_lm.stats().requests == 0  # building programs calls no LM
    x, y = data(4)
    await tuner.asearch(x, y, validation_data=data(3, start=4), batch_size=4, verbose=0)

    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 3 and all(t.status == "COMPLETED" for t in trials)
    tried = {t.hyperparameters.values["temperature"] for t in trials}
    assert 0.0 in tried
    best = tuner.get_best_hyperparameters(num_trials=1)[0]
    assert best.values == {"temperature": 0.0}
    assert tuner.oracle.get_best_trials(1)[0].score == 1.0
    # no optimizer: each trial is evaluated once, on the 3 validation samples only
    assert simulated_lm.stats().requests == 3 * 3
    metrics = tuner.oracle.get_best_trials(1)[0].metrics
    assert metrics.get_last_value("reward") == metrics.get_last_value("val_reward") == 1.0


async def test_hyperband_fits_for_its_epochs_and_continues_the_best(simulated_lm, tmp_path):
    simulated_lm.set_responder(cold_answers_right)
    name = f"hyperband_{uuid.uuid4().hex[:6]}"

    class EpochLog(sp.callbacks.Callback):
        fits: list = []  # class level: every trial gets a deep copy of the callback

        def on_train_begin(self, logs=None):
            EpochLog.fits.append([])

        def on_epoch_end(self, epoch, logs=None):
            EpochLog.fits[-1].append(epoch)

    tuner = tuners.Hyperband(
        builder(simulated_lm, name, optimizer="random_few_shot"),
        objective="val_reward",
        max_epochs=2,
        factor=2,
        seed=2,
        directory=tmp_path,
        project_name=name,
    )
    x, y = data(4)
    await tuner.asearch(
        x, y, validation_data=data(2, start=4), batch_size=2, verbose=0, callbacks=[EpochLog()]
    )

    trials = [tuner.oracle.trials[i] for i in tuner.oracle.start_order]
    assert len(trials) >= 3, "the space was declared at construction: Hyperband runs"
    assert all(t.status == "COMPLETED" for t in trials)
    expected = [
        list(
            range(
                t.hyperparameters.values["tuner/initial_epoch"],
                t.hyperparameters.values["tuner/epochs"],
            )
        )
        for t in trials
    ]
    assert EpochLog.fits == expected
    continued = [t for t in trials if "tuner/trial_id" in t.hyperparameters.values]
    assert continued and continued[0].hyperparameters.values["tuner/initial_epoch"] == 1
    assert tuner.get_best_hyperparameters(1)[0].values["temperature"] == 0.0

    best_program = tuner.get_best_models(num_models=1)[0]
    assert isinstance(best_program, sp.Program) and best_program.name == name
    assert best_program.get_module("answerer").state["examples"], "trained variables"


def test_seed_usage_example_runs_as_written(simulated_lm, tmp_path, monkeypatch):
    """The usage example of the contract, against the simulated LM (a sync script)."""
    monkeypatch.chdir(tmp_path)
    simulated_lm.set_responder(cold_answers_right)
    language_model = language_model_for(simulated_lm)
    synaprefect = sp
    (x_train, y_train), (x_val, y_val) = data(4), data(4, start=4)

    synaprefect.tuners.disable_keras_backend()  # must come before kt is imported

    async def build_program(hp):
        inputs = synaprefect.Input(data_model=Query)
        outputs = await synaprefect.Generator(
            data_model=Answer,
            language_model=language_model,
            temperature=hp.Float("temperature", 0.0, 1.0),
        )(inputs)
        program = synaprefect.Program(inputs=inputs, outputs=outputs)
        program.compile(reward=synaprefect.rewards.ExactMatch())
        return program

    tuner = synaprefect.tuners.RandomSearch(
        hypermodel=build_program,
        objective=synaprefect.tuners.Objective("val_reward", direction="max"),
        max_trials=5,
        directory="runs",
        project_name="my_search",
    )
    tuner.search(
        x=x_train,
        y=y_train,
        validation_data=(x_val, y_val),
        epochs=3,
        batch_size=4,
    )
    best_hp = tuner.get_best_hyperparameters(num_trials=1)[0]

    assert len(tuner.oracle.trials) == 5
    scores = {
        t.hyperparameters.values["temperature"]: t.score for t in tuner.oracle.trials.values()
    }
    assert {score for t, score in scores.items() if t < 0.5} == {1.0}
    assert {score for t, score in scores.items() if t >= 0.5} <= {0.0}
    assert best_hp["temperature"] < 0.5
    assert (tmp_path / "runs" / "my_search" / "oracle.json").exists()
    program = tuner.hypermodel.build(best_hp)  # keras-tuner's way: a sync build
    assert isinstance(program, sp.Program)


async def test_search_inside_a_running_loop_keeps_one_loop_and_the_context(simulated_lm, tmp_path):
    """``search()`` from async code runs on its own loop, in a worker thread that sees
    the caller's ``tracking(False)``."""
    import asyncio
    import threading

    simulated_lm.set_responder(cold_answers_right)
    build = builder(simulated_lm, "looped")
    seen = []

    async def build_program(hp):
        seen.append(
            (threading.get_ident(), id(asyncio.get_running_loop()), sp.orchestration.is_tracking())
        )
        return await build(hp)

    tuner = tuners.GridSearch(
        build_program, objective="reward", directory=tmp_path, project_name="looped", max_trials=2
    )
    seen.clear()  # the build at construction declared the search space
    tuner.search(*data(2), verbose=0)
    assert len(seen) == 2 and len(set(seen)) == 1
    thread, _, tracked = seen[0]
    assert thread != threading.get_ident() and not tracked


async def test_multi_objective_reports_its_aggregate(simulated_lm, tmp_path):
    simulated_lm.set_responder(cold_answers_right)
    tuner = tuners.GridSearch(
        builder(simulated_lm, "multi", values=(1.0, 0.0)),
        objective=["val_reward", tuners.Objective("reward")],
        directory=tmp_path,
        project_name="multi",
    )
    await tuner.asearch(*data(2), verbose=0)
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.hyperparameters.values == {"temperature": 0.0}
    assert best.metrics.get_last_value("multi_objective") == -2.0  # both maximized


async def test_a_failing_trial_is_recorded_and_the_search_goes_on(simulated_lm, tmp_path):
    simulated_lm.set_responder(cold_answers_right)
    build = builder(simulated_lm, "flaky", values=(0.0, 1.0))

    async def build_program(hp):
        program = await build(hp)
        if hp.get("temperature") == 1.0:
            raise RuntimeError("this configuration cannot be built")
        return program

    tuner = tuners.GridSearch(
        build_program, objective="reward", directory=tmp_path, project_name="flaky"
    )
    await tuner.asearch(*data(2), verbose=0)
    trials = {t.hyperparameters.values["temperature"]: t for t in tuner.oracle.trials.values()}
    assert trials[0.0].status == "COMPLETED"
    assert trials[1.0].status == "FAILED" and "cannot be built" in trials[1.0].message
    assert tuner.get_best_hyperparameters(1)[0].values == {"temperature": 0.0}


async def test_a_missing_objective_stops_the_search_with_a_clear_error(simulated_lm, tmp_path):
    from keras_tuner import errors

    simulated_lm.set_responder(cold_answers_right)
    tuner = tuners.RandomSearch(
        builder(simulated_lm, "novalidation", optimizer="random_few_shot"),
        objective="val_reward",
        max_trials=2,
        directory=tmp_path,
        project_name="novalidation",
    )
    with pytest.raises(errors.FatalValueError, match="validation_data"):
        await tuner.asearch(*data(4), validation_split=0.0, verbose=0)


async def test_the_hypermodel_must_return_a_compiled_program(simulated_lm, tmp_path):
    lm = language_model_for(simulated_lm)

    async def not_compiled(hp):
        inputs = sp.Input(data_model=Query)
        outputs = await sp.Generator(data_model=Answer, language_model=lm)(inputs)
        return sp.Program(inputs=inputs, outputs=outputs)

    with pytest.raises(ValueError, match="compile"):
        tuners.RandomSearch(not_compiled, objective="reward", directory=tmp_path)
    with pytest.raises(TypeError, match="must return a synaprefect Program"):
        tuners.RandomSearch(lambda hp: None, objective="reward", directory=tmp_path)
    with pytest.raises(ValueError, match="objective="):
        tuners.RandomSearch(lambda hp: None, directory=tmp_path)


async def test_the_tune_flow_finds_that_few_shot_examples_help(tmp_path):
    spec = importlib.util.spec_from_file_location("tune_flow", FLOW)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    best = await module.tune.fn(
        max_trials=3, epochs=1, directory=str(tmp_path), concurrent_trials=2
    )
    assert best["nb_max_examples"] >= 1 and best["temperature"] in (0.0, 0.7)
    trials = json.loads((tmp_path / "capitals-tuning" / "oracle.json").read_text())
    assert len(trials["end_order"]) == 3


# ---- objective directions -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name, direction",
    [
        ("reward", "max"),
        ("val_reward", "max"),  # the val_ prefix names the same metric
        ("candidate_reward", "max"),  # any reward is maximized
        ("accuracy", "max"),  # Accuracy.direction == "up"
        ("val_f1_score", "max"),
        ("cost", "min"),  # Cost.direction == "down"
        ("val_error_rate", "min"),
        ("reward_total_tokens", "min"),  # an operational metric of the reward phase
        ("val_loss", "min"),  # keras-tuner's own rules come last
        ("acc", "max"),
    ],
)
def test_objective_direction_is_inferred(name, direction):
    objective = tuners.Objective(name)
    assert (objective.name, objective.direction) == (name, direction)
    assert tuners.infer_direction(name) == direction


def test_objective_direction_errors():
    assert tuners.Objective("my_score", direction="max").direction == "max"
    assert tuners.Objective("val_reward", direction="min").direction == "min"  # explicit wins
    for unknown in ("my_score", "mean", "calls"):  # unknown, or a metric without direction
        with pytest.raises(ValueError, match=f"Objective\\('{unknown}', direction='max'\\)"):
            tuners.Objective(unknown)
    with pytest.raises(ValueError, match="'max' .* or 'min'"):
        tuners.Objective("reward", direction="up")


def test_string_objectives_given_to_a_tuner_use_synaprefect_inference(tmp_path, simulated_lm):
    tuner = tuners.RandomSearch(
        builder(simulated_lm, "strings"), objective=["accuracy", "cost"], directory=tmp_path
    )
    assert tuner.oracle.objective.name_to_direction == {"accuracy": "max", "cost": "min"}


# ---- importing ----------------------------------------------------------------------------


def test_importing_tuners_imports_neither_keras_tuner_nor_keras():
    out = run_python("""
        import sys
        import synaprefect, synaprefect.tuners
        from synaprefect.tuners import RandomSearch, Objective, disable_keras_backend
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("keras", "keras_tuner")))
    """)
    assert out.strip() == "[]"


def test_without_the_stub_keras_fails_with_an_actionable_error_then_the_stub_works():
    out = run_python("""
        import sys
        import synaprefect as sp
        from synaprefect import tuners

        try:
            tuners.Objective("reward")
        except RuntimeError as error:
            assert "disable_keras_backend()" in str(error), error
        else:
            raise AssertionError("keras_tuner imported without a Keras backend?")
        tuners.disable_keras_backend()
        tuners.disable_keras_backend()  # idempotent
        assert tuners.Objective("reward").direction == "max"
        heavy = {"tensorflow", "jax", "torch"} & set(sys.modules)
        assert not heavy, heavy
        print("ok")
    """)
    assert out.strip() == "ok"


def test_the_keras_stand_ins_do_not_stay_in_sys_modules():
    out = run_python("""
        import sys
        import synaprefect as sp
        from synaprefect import tuners

        sp.disable_keras_backend()
        assert "keras_tuner" in sys.modules
        assert tuners.Objective("reward").direction == "max"
        sp.disable_keras_backend()  # idempotent
        print(sorted(m for m in sys.modules if m.split(".")[0] == "keras"))
    """)
    assert out.strip() == "[]"


def test_disable_keras_backend_leaves_an_imported_keras_or_keras_tuner_alone():
    out = run_python("""
        import sys, types, warnings
        from synaprefect.tuners import disable_keras_backend

        real_keras = sys.modules["keras"] = types.ModuleType("keras")
        disable_keras_backend()                       # a Keras is loaded: no-op
        assert sys.modules["keras"] is real_keras and "keras.callbacks" not in sys.modules
        del sys.modules["keras"]

        sys.modules["keras_tuner"] = types.ModuleType("keras_tuner")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            disable_keras_backend()                   # too late: warn, change nothing
        assert [w.category for w in caught] == [RuntimeWarning], caught
        assert "keras" not in sys.modules
        print("ok")
    """)
    assert out.strip() == "ok"


def test_missing_keras_tuner_or_scikit_learn_name_the_install(monkeypatch, simulated_lm, tmp_path):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    with pytest.raises(ImportError, match=r"pip install 'synaprefect\[bayesian\]'"):
        tuners.BayesianOptimization(
            builder(simulated_lm, "bayes"), objective="reward", directory=tmp_path
        )
    monkeypatch.setitem(sys.modules, "keras_tuner", None)
    with pytest.raises(ImportError, match="pip install keras-tuner"):
        tuners.Objective("reward")


# ---- Prefect ------------------------------------------------------------------------------


async def test_search_is_a_flow_with_a_subflow_per_trial_and_artifacts(
    prefect_api, simulated_lm, tmp_path
):
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterName,
    )

    simulated_lm.set_responder(cold_answers_right)
    project = f"tracked-{uuid.uuid4().hex[:8]}"
    tuner = tuners.GridSearch(
        builder(simulated_lm, "tracked", values=(1.0, 0.0)),
        objective="val_reward",
        max_trials=2,
        directory=tmp_path,
        project_name=project,
    )
    with tracking(True):
        await tuner.asearch(*data(2), verbose=0)

    async with prefect_api.client() as client:
        names = [f"tune-{project}", f"{project}-trial-0", f"{project}-trial-1"]
        runs = {
            run.name: run
            for run in await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names))
            )
        }
        assert set(runs) == set(names)
        assert all(run.state.is_completed() for run in runs.values())
        search = runs[f"tune-{project}"]
        assert search.parameters["objective"].startswith('Objective(name="val_reward"')
        trial_runs = [runs[f"{project}-trial-{i}"] for i in (0, 1)]
        assert all(run.parent_task_run_id is not None for run in trial_runs)  # subflows
        assert [run.parameters for run in trial_runs] == [
            {"temperature": 1.0},
            {"temperature": 0.0},
        ]
        keys = [tuners.best_hyperparameters_key(project), tuners.trials_table_key(project)]
        artifacts = {
            a.key: a
            for a in await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
            )
        }
    best, table = artifacts[keys[0]], artifacts[keys[1]]
    assert '"temperature": 0.0' in best.data and "val_reward (max): 1.0" in best.data
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [(r["trial"], r["status"], r["score"], r["temperature"]) for r in rows] == [
        ("0", "COMPLETED", 0.0, 1.0),
        ("1", "COMPLETED", 1.0, 0.0),
    ]


@pytest.mark.e2e  # processes killed and run again
def test_a_killed_search_resumes_where_it_stopped(prefect_api, simulated_lm_factory, tmp_path):
    """Kill the search (SIGKILL) during its second trial, run it again: the first trial
    is kept, the second runs again replaying the calls it had made, the third runs, and
    there are never more than ``max_trials`` trials."""
    import asyncio

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    server = simulated_lm_factory(responder=cold_answers_right, latency=0.05)
    project = f"resumed-{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "SYNAPREFECT_HOME": str(tmp_path / "home")}

    def start(output):
        # Output goes to a file: an unread pipe could fill up and stall the search.
        with open(tmp_path / f"{output.stem}.log", "w") as log:
            return subprocess.Popen(
                [
                    sys.executable,
                    str(SCRIPT),
                    server.base_url,
                    str(tmp_path / "runs"),
                    project,
                    str(output),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    process = start(tmp_path / "killed.json")
    deadline = time.monotonic() + 120
    while server.stats().requests < 6 and time.monotonic() < deadline:  # trial 2, call 2
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    first = server.stats().requests
    assert 6 <= first < 8
    server.reset_stats()

    process = start(tmp_path / "resumed.json")
    assert process.wait(timeout=300) == 0, (tmp_path / "resumed.log").read_text()[-3000:]
    result = json.loads((tmp_path / "resumed.json").read_text())
    assert sorted(result["trials"]) == ["0", "1", "2"]  # max_trials respected
    assert all(t["status"] == "COMPLETED" for t in result["trials"].values())
    assert result["best"] == {"temperature": 0.0}
    # trial 1 replays the calls it had finished (all but the one in flight when killed):
    # only its remaining calls and trial 2's are made
    assert 3 * 4 - first <= server.stats().requests <= 3 * 4 - first + 1

    async def trial_runs():
        names = [f"{project}-trial-{i}" for i in range(3)]
        async with prefect_api.client() as client:
            return await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=names))
            )

    runs = asyncio.run(trial_runs())
    per_trial = {
        name: sorted(r.state.type.value for r in runs if r.name == name)
        for name in {r.name for r in runs}
    }
    killed = per_trial.pop(f"{project}-trial-1")
    assert killed[0] == "COMPLETED" and killed[1:] in (["RUNNING"], ["CRASHED"])  # run again
    assert per_trial == {
        f"{project}-trial-0": ["COMPLETED"],  # not run again
        f"{project}-trial-2": ["COMPLETED"],
    }


# ---- concurrent trials --------------------------------------------------------------------


class Meeting:
    """Shared by the rewards of a search's programs: scores are held until the rewards of
    two programs (two trials) have been called, so a search running one trial at a time
    cannot finish (its first trial times out and fails)."""

    def __init__(self):
        self.scoring: set[sp.rewards.Reward] = set()
        self.met = asyncio.Event()


class MeetingReward(sp.rewards.ExactMatch):
    def __init__(self, meeting):
        super().__init__()
        self.meeting = meeting

    async def call(self, y_true, y_pred):
        self.meeting.scoring.add(self)
        if len(self.meeting.scoring) >= 2:
            self.meeting.met.set()
        await asyncio.wait_for(self.meeting.met.wait(), 60)
        return await super().call(y_true, y_pred)


async def test_concurrent_trials_overlap_and_prefect_agrees_with_the_oracle(
    prefect_api, simulated_lm, tmp_path
):
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterName,
    )

    simulated_lm.set_responder(cold_answers_right)
    project = f"concurrent-{uuid.uuid4().hex[:8]}"
    meeting = Meeting()
    tuner = tuners.RandomSearch(
        builder(
            simulated_lm,
            "concurrent",
            values=(0.0, 0.25, 0.5, 0.75, 1.0),
            reward=lambda hp: MeetingReward(meeting),
        ),
        objective="val_reward",
        max_trials=4,
        seed=1,
        directory=tmp_path,
        project_name=project,
    )
    with tracking(True):
        await tuner.asearch(
            *data(2), validation_data=data(2, start=2), verbose=0, concurrent_trials=2
        )

    trials = tuner.oracle.trials
    assert sorted(trials) == ["0", "1", "2", "3"] and not tuner.oracle.ongoing_trials
    assert all(t.status == "COMPLETED" for t in trials.values())
    assert meeting.met.is_set() and len(meeting.scoring) == 4  # one program per trial
    for trial in trials.values():
        assert trial.score == (1.0 if trial.hyperparameters["temperature"] < 0.5 else 0.0)

    async with prefect_api.client() as client:
        [search] = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"tune-{project}"]))
        )
        assert search.state.is_completed() and search.parameters["concurrent_trials"] == 2
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=f"{project}-trial-"))
        )
        parents = [await client.read_task_run(run.parent_task_run_id) for run in runs]
        keys = [tuners.trials_table_key(project)]
        [table] = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=keys))
        )

    # one subflow run of the search per trial of the oracle, with its hyperparameters
    by_trial = {run.name.removeprefix(f"{project}-trial-"): run for run in runs}
    assert len(runs) == len(by_trial) and sorted(by_trial) == sorted(trials)
    assert all(parent.flow_run_id == search.id for parent in parents)
    for trial_id, run in by_trial.items():
        assert run.state.is_completed()
        assert run.parameters == trials[trial_id].hyperparameters.values
    # the first two trials met in their rewards: their runs overlap in Prefect too
    first, second = by_trial["0"], by_trial["1"]
    assert first.start_time < second.end_time and second.start_time < first.end_time
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert {r["trial"]: (r["status"], r["score"], r["temperature"]) for r in rows} == {
        t.trial_id: (t.status, t.score, t.hyperparameters["temperature"]) for t in trials.values()
    }


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "2"])
async def test_concurrent_trials_must_be_a_positive_int(value, simulated_lm, tmp_path):
    tuner = tuners.RandomSearch(
        builder(simulated_lm, "invalid"),
        objective="reward",
        max_trials=2,
        directory=tmp_path,
        project_name="invalid",
    )
    with pytest.raises(ValueError, match="`concurrent_trials` .* int >= 1"):
        await tuner.asearch(*data(2), verbose=0, concurrent_trials=value)
    with pytest.raises(ValueError, match="`concurrent_trials` .* int >= 1"):
        tuner.search(*data(2), verbose=0, concurrent_trials=value)
    assert simulated_lm.stats().requests == 0 and not tuner.oracle.trials


async def test_a_concurrent_grid_search_finds_what_a_sequential_one_finds(simulated_lm, tmp_path):
    """GridSearch makes its next combination from a finished trial: with more concurrent
    trials than it can offer at once, the others wait (IDLE) and the grid is the same."""
    simulated_lm.set_responder(cold_answers_right)
    results = []
    for concurrent_trials in (1, 3):
        project = f"grid{concurrent_trials}"
        tuner = tuners.GridSearch(
            builder(simulated_lm, project, values=(1.0, 0.5, 0.0)),
            objective="reward",
            directory=tmp_path,
            project_name=project,
        )
        await tuner.asearch(*data(3), verbose=0, concurrent_trials=concurrent_trials)
        results.append(
            (
                {
                    t.hyperparameters["temperature"]: (t.status, t.score)
                    for t in tuner.oracle.trials.values()
                },
                tuner.get_best_hyperparameters(1)[0].values,
            )
        )
    assert results[0] == results[1]
    assert results[0] == (
        {1.0: ("COMPLETED", 0.0), 0.5: ("COMPLETED", 0.0), 0.0: ("COMPLETED", 1.0)},
        {"temperature": 0.0},
    )


async def test_a_fatal_error_cancels_the_other_trials_which_the_next_search_reruns(
    prefect_api, simulated_lm, tmp_path
):
    from keras_tuner import errors
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    simulated_lm.set_responder(cold_answers_right)
    stalling, cancelled = asyncio.Event(), []

    class StallOrFail(sp.rewards.ExactMatch):
        """One trial stalls in its reward; then the other fails with a fatal error."""

        def __init__(self, fatal):
            super().__init__()
            self.fatal = fatal

        async def call(self, y_true, y_pred):
            if self.fatal:
                await asyncio.wait_for(stalling.wait(), 60)
                raise errors.FatalValueError("this search cannot go on")
            stalling.set()
            try:
                await asyncio.sleep(60)  # until the fatal error cancels this trial
            except asyncio.CancelledError:
                cancelled.append(self)
                raise
            return await super().call(y_true, y_pred)

    project = f"fatal-{uuid.uuid4().hex[:8]}"
    options = {
        "objective": "reward",
        "max_trials": 2,
        "directory": tmp_path,
        "project_name": project,
    }
    tuner = tuners.GridSearch(
        builder(
            simulated_lm,
            "fatal",
            values=(0.0, 1.0),
            reward=lambda hp: StallOrFail(fatal=hp["temperature"] == 1.0),
        ),
        **options,
    )
    with tracking(True), pytest.raises(errors.FatalValueError, match="cannot go on"):
        await tuner.asearch(*data(1), verbose=0, concurrent_trials=2)
    assert cancelled, "the stalling trial was cancelled"
    assert {t.trial_id: t.status for t in tuner.oracle.trials.values()} == {
        "0": "RUNNING",
        "1": "RUNNING",
    }  # neither ended: both are run again next time
    async with prefect_api.client() as client:
        runs = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=project))
        )
    # Prefect records a subflow run cancelled by asyncio as crashed
    assert {run.name: run.state.type.value for run in runs} == {
        f"tune-{project}": "FAILED",
        f"{project}-trial-0": "CRASHED",
        f"{project}-trial-1": "FAILED",
    }

    tuner = tuners.GridSearch(builder(simulated_lm, "fatal", values=(0.0, 1.0)), **options)
    await tuner.asearch(*data(1), verbose=0, concurrent_trials=2)
    assert {t.hyperparameters["temperature"]: t.status for t in tuner.oracle.trials.values()} == {
        0.0: "COMPLETED",
        1.0: "COMPLETED",
    }
    assert tuner.get_best_hyperparameters(1)[0].values == {"temperature": 0.0}


async def test_keras_tuner_multi_worker_mode_is_refused_with_the_alternative(
    simulated_lm, tmp_path, monkeypatch
):
    tuner = tuners.RandomSearch(
        builder(simulated_lm, "workers"),
        objective="reward",
        max_trials=2,
        directory=tmp_path,
        project_name="workers",
    )
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    with pytest.raises(RuntimeError, match="concurrent_trials="):
        await tuner.asearch(*data(2), verbose=0)
    assert simulated_lm.stats().requests == 0
