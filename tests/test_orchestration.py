"""PrefectRuntime against a real Prefect API (the session's ``prefect_api``), artifact keys,
and the promise that tracking off (or a plain import) never touches Prefect."""

import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
import uuid

import pytest

from synaprefect.language_models import PermanentLanguageModelError, TransientLanguageModelError
from synaprefect.orchestration import (
    LocalRuntime,
    artifact_key,
    evaluation_key,
    get_runtime,
    history_table_key,
    progress_key,
    read_variable_history,
    read_variable_history_sync,
    summary_key,
    tracking,
    variable_artifact_key,
)
from synaprefect.orchestration.artifacts import MAX_KEY_LENGTH, json_markdown, parse_json_markdown


def _tag() -> str:
    # Every test shares the session's database: unique names keep their runs apart.
    return uuid.uuid4().hex[:8]


def _runtime():
    from synaprefect.orchestration.prefect_runtime import PrefectRuntime

    return PrefectRuntime()


async def _flow_runs_named(client, *names):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    runs = await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=list(names)))
    )
    return {run.name: run for run in runs}


async def _artifacts_keyed(client, key):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    return await client.read_artifacts(
        artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
    )


# --- keys and formats (no Prefect) ---------------------------------------------------------


def test_artifact_keys_are_valid_stable_and_distinct():
    keys = [
        variable_artifact_key("qa_program", "generator/instructions"),
        variable_artifact_key("qa-program", "generator/instructions"),
        variable_artifact_key("qa_program", "generator_instructions"),
        variable_artifact_key("QA program", "generator/instructions"),
        variable_artifact_key("p" * 300, "generator/instructions"),
        history_table_key("qa_program"),
        summary_key("qa_program"),
        evaluation_key("qa_program"),
        progress_key("qa_program"),
    ]
    assert len(set(keys)) == len(keys)
    for key in keys:
        assert len(key) <= MAX_KEY_LENGTH
        assert all(c.islower() or c.isdigit() or c == "-" for c in key), key
        assert artifact_key(key) == key  # idempotent: the runtime sanitizes keys again
    assert keys[0] == variable_artifact_key("qa_program", "generator/instructions")
    assert keys[0].startswith("qa-program-generator-instructions-")
    assert history_table_key("qa") == "qa-history"


def test_json_markdown_round_trip():
    value = {"instructions": "Answer.\n```\nno fence break", "examples": [1, 2.5, None, True]}
    text = json_markdown(value)
    assert text.startswith("```json\n") and text.endswith("\n```")
    assert parse_json_markdown(text) == value
    with pytest.raises(ValueError):
        parse_json_markdown("# not json")


def test_import_and_untracked_runs_never_import_prefect():
    script = textwrap.dedent("""
        import asyncio, sys
        import synaprefect.orchestration as orchestration
        assert "prefect" not in sys.modules, "import"
        async def body():
            return await runtime.stage("epoch", lambda: runtime.task(
                "batch", lambda: asyncio.sleep(0, "done"), run_name="b"), run_name="e")
        with orchestration.tracking(False):
            runtime = orchestration.get_runtime()
            assert asyncio.run(runtime.flow("fit", body, run_name="f")) == "done"
        assert "prefect" not in sys.modules, "untracked run"
    """)
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr


def test_the_embedded_api_keeps_every_task_run_of_a_process_that_exits_at_once(
    prefect_api, tmp_path
):
    # Prefect's embedded API lives as long as the process using it: what its task-run
    # recorder has not written when the process exits is lost. A process that ends task
    # runs faster than the server writes them (here Prefect's own batch size of one
    # event per transaction; synaprefect's batches on a busy machine) waits until the
    # API has each one in a final state (orchestration.embedded_api). A fixed wait of one
    # flush kept 60 of these 300 (15 of them still running), and 1,557 to 1,662 of 2,000
    # with synaprefect's batches on a busy 2-core machine.
    slow_recorder = {"PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "1"}
    states, stderr = _exit_on_the_embedded_api(prefect_api, tmp_path, 300, slow_recorder)
    assert states == [("COMPLETED", 300)], stderr


def test_task_runs_the_embedded_api_has_not_recorded_at_exit_are_logged(prefect_api, tmp_path):
    never_recorded = (
        "embedded_api.RECORD_TIMEOUT = 3.0\n"
        "embedded_api._ended.append(uuid.uuid4())  # a run the API never heard of\n"
    )
    states, stderr = _exit_on_the_embedded_api(prefect_api, tmp_path, 3, after=never_recorded)
    assert states == [("COMPLETED", 3)], stderr  # waited for, and recorded
    assert "Waiting for Prefect's embedded API to record" in stderr  # a long wait is said
    assert "had not recorded 1 task runs of this process" in stderr


def _exit_on_the_embedded_api(
    prefect_api, tmp_path, runs: int, env: dict[str, str] | None = None, after: str = ""
) -> tuple[list[tuple[str, int]], str]:
    """Run ``runs`` task runs in a flow run on the embedded API of a new process (with
    ``env``; the lines ``after`` run before it exits) on a copy of the session's
    database; return the states of the task runs the database then has, and stderr."""
    home = tmp_path / "prefect"
    home.mkdir()
    # A copy of the session's migrated database spares a fresh migration (~15 s).
    with (
        contextlib.closing(sqlite3.connect(prefect_api.database)) as source,
        contextlib.closing(sqlite3.connect(home / "prefect.db")) as target,
    ):
        source.backup(target)
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    process_env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_DATABASE_MIGRATE_ON_START="false",
        PREFECT_API_BLOCKS_REGISTER_ON_START="false",
        **(env or {}),
    )
    script = (
        textwrap.dedent(f"""
        import asyncio
        import uuid
        import synaprefect
        from synaprefect.orchestration import embedded_api, get_runtime

        runtime = get_runtime()

        async def body():
            for i in range({runs}):
                await runtime.task("batch", lambda: asyncio.sleep(0), run_name=f"batch-{{i}}")

        asyncio.run(runtime.flow("fit", body, run_name="exits-at-once"))
        """)
        + after
    )
    completed = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        env=process_env,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    with contextlib.closing(sqlite3.connect(home / "prefect.db")) as database:
        states = database.execute(
            "SELECT task_run.state_type, count(*) FROM task_run JOIN flow_run"
            " ON task_run.flow_run_id = flow_run.id WHERE flow_run.name = 'exits-at-once'"
            " GROUP BY task_run.state_type"
        ).fetchall()
    return states, completed.stderr[-3000:]


# --- runs against the API -----------------------------------------------------------------


async def test_flow_stages_and_nested_tasks_are_recorded(prefect_api):
    runtime, tag = _runtime(), _tag()

    async def module_call(name):
        runtime.log(f"module {name}")
        return name

    async def batch(epoch, index):
        if index == 0:  # a batch task whose module calls are tasks nested in it
            first = await runtime.task(
                "module", lambda: module_call("a"), run_name=f"module-{tag}-{epoch}-a"
            )
            second = await runtime.task(
                "module", lambda: module_call("b"), run_name=f"module-{tag}-{epoch}-b"
            )
            return first + second
        return str(index)

    async def epoch(number):
        return [
            await runtime.task(
                "batch", lambda i=i: batch(number, i), run_name=f"batch-{tag}-{number}-{i}"
            )
            for i in range(3)
        ]

    async def fit():
        return [
            await runtime.stage("epoch", lambda n=n: epoch(n), run_name=f"epoch-{tag}-{n}")
            for n in (1, 2)
        ]

    result = await runtime.flow(
        "fit",
        fit,
        run_name=f"fit-{{{tag}}}",  # braces kept verbatim
        parameters={"epochs": 2, "batch size": 3},
    )
    assert result == [["ab", "1", "2"], ["ab", "1", "2"]]

    async with prefect_api.client() as client:
        runs = await _flow_runs_named(client, f"fit-{{{tag}}}", f"epoch-{tag}-1", f"epoch-{tag}-2")
        assert len(runs) == 3
        fit_run = runs[f"fit-{{{tag}}}"]
        assert fit_run.parent_task_run_id is None
        assert fit_run.parameters == {"epochs": 2, "batch_size": 3}
        assert fit_run.state.is_completed()
        stage_runs = [runs[f"epoch-{tag}-{n}"] for n in (1, 2)]
        for stage_run in stage_runs:
            assert stage_run.state.is_completed()
            parent = await client.read_task_run(stage_run.parent_task_run_id)
            assert parent.flow_run_id == fit_run.id
            flow = await client.read_flow(stage_run.flow_id)
            assert flow.name == "epoch"

    task_runs = await prefect_api.read_task_runs([run.id for run in stage_runs], count=10)
    assert len(task_runs) == 10
    by_name = {run.name: run for run in task_runs}
    for number, stage_run in zip((1, 2), stage_runs):
        batches = [by_name[f"batch-{tag}-{number}-{i}"] for i in range(3)]
        modules = [by_name[f"module-{tag}-{number}-{m}"] for m in "ab"]
        for task_run in batches + modules:
            assert task_run.flow_run_id == stage_run.id
            assert task_run.state.is_completed()
        for task_run in batches:
            assert task_run.task_inputs.get("__parents__", []) == []
        for task_run in modules:
            assert [parent.id for parent in task_run.task_inputs["__parents__"]] == [batches[0].id]


@pytest.mark.parametrize(
    "error, retries, attempts",
    [
        (TransientLanguageModelError("m", "boom"), 2, 3),  # retried, then the last error
        (ValueError("bad input"), 2, 1),
        (PermanentLanguageModelError("m", "bad key"), 2, 1),
    ],
)
async def test_task_errors_propagate_unchanged_and_only_transient_ones_retry(
    prefect_api, error, retries, attempts
):
    runtime, tag = _runtime(), _tag()
    calls = []

    async def failing():
        calls.append(1)
        raise error

    async def body():
        return await runtime.task("call", failing, run_name=f"call-{tag}", retries=retries)

    with pytest.raises(type(error)) as raised:
        await runtime.flow("errors", body, run_name=f"errors-{tag}")
    assert raised.value is error
    assert len(calls) == attempts

    async with prefect_api.client() as client:
        flow_run = (await _flow_runs_named(client, f"errors-{tag}"))[f"errors-{tag}"]
        assert flow_run.state.is_failed()
    [task_run] = await prefect_api.read_task_runs([flow_run.id], count=1)
    assert task_run.state.is_failed()
    assert task_run.run_count == attempts


def _fails_once():
    """A body that fails with a transient error on its first call, then answers; and the
    list of its calls."""
    calls = []

    async def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise TransientLanguageModelError("m", "boom")
        return "answer"

    return calls, flaky


async def test_transient_error_is_retried_until_success(prefect_api):
    runtime, tag = _runtime(), _tag()
    calls, flaky = _fails_once()

    async def body():
        return await runtime.task(
            "call", flaky, run_name=f"flaky-{tag}", retries=3, retry_delay=0.05
        )

    assert await runtime.flow("retries", body, run_name=f"retries-{tag}") == "answer"
    assert len(calls) == 2
    async with prefect_api.client() as client:
        flow_run = (await _flow_runs_named(client, f"retries-{tag}"))[f"retries-{tag}"]
    [task_run] = await prefect_api.read_task_runs([flow_run.id], count=1)
    assert task_run.state.is_completed()
    assert task_run.run_count == 2


async def test_a_task_answers_before_prefect_records_its_end_and_nothing_ends_early(
    prefect_api,
):
    import datetime

    runtime, tag = _runtime(), _tag()
    answered = {}

    async def module_call():
        return "a"

    async def batch():
        value = await runtime.task("module", module_call, run_name=f"module-{tag}")
        answered["module"] = datetime.datetime.now(datetime.UTC)
        return value + "b"

    async def fit():
        value = await runtime.task("batch", batch, run_name=f"batch-{tag}")
        answered["batch"] = datetime.datetime.now(datetime.UTC)
        return value

    assert await runtime.flow("early", fit, run_name=f"early-{tag}") == "ab"
    async with prefect_api.client() as client:
        flow_run = (await _flow_runs_named(client, f"early-{tag}"))[f"early-{tag}"]
    runs = {run.name: run for run in await prefect_api.read_task_runs([flow_run.id], count=2)}
    module, batch_run = runs[f"module-{tag}"], runs[f"batch-{tag}"]
    assert module.state.is_completed() and batch_run.state.is_completed()
    # Each caller went on before Prefect recorded the end of the run it called...
    assert module.end_time > answered["module"]
    assert batch_run.end_time > answered["batch"]
    # ...and no run ended before a run inside it.
    assert batch_run.end_time >= module.end_time
    assert flow_run.end_time >= batch_run.end_time


async def test_a_run_prefect_fails_to_record_after_it_answered_fails_the_flow(
    prefect_api, monkeypatch
):
    """The caller has the value, then Prefect's engine fails while recording the run's
    end: that error is not lost with the deferred end, it fails the flow run."""
    from prefect.task_engine import AsyncTaskRunEngine

    runtime, tag = _runtime(), _tag()
    record_success = AsyncTaskRunEngine.handle_success

    async def failing_record(engine, result, transaction):
        if engine.task_run.name == f"unrecorded-{tag}":
            raise RuntimeError("the run's end could not be recorded")
        return await record_success(engine, result, transaction)

    monkeypatch.setattr(AsyncTaskRunEngine, "handle_success", failing_record)
    went_on = []

    async def fit():
        value = await runtime.task(
            "step", lambda: asyncio.sleep(0, "a"), run_name=f"unrecorded-{tag}"
        )
        went_on.append(value)  # answered before Prefect recorded (and failed)
        return await runtime.task("step", lambda: asyncio.sleep(0, "b"), run_name=f"next-{tag}")

    with pytest.raises(RuntimeError, match="could not be recorded"):
        await runtime.flow("unrecorded", fit, run_name=f"unrecorded-flow-{tag}")
    assert went_on == ["a"]
    async with prefect_api.client() as client:
        flow_run = (await _flow_runs_named(client, f"unrecorded-flow-{tag}"))[
            f"unrecorded-flow-{tag}"
        ]
    assert flow_run.state.is_failed()
    runs = {run.name: run for run in await prefect_api.read_task_runs([flow_run.id], count=2)}
    assert runs[f"unrecorded-{tag}"].state.is_failed()
    assert runs[f"next-{tag}"].state.is_completed()


async def test_a_failing_task_fails_the_flow_and_the_runs_answered_before_it_complete(
    prefect_api,
):
    runtime, tag = _runtime(), _tag()

    async def fit():
        await runtime.task("fine", lambda: asyncio.sleep(0, "ok"), run_name=f"fine-{tag}")
        return await runtime.task("broken", _raise_value_error, run_name=f"broken-{tag}")

    with pytest.raises(ValueError, match="bad row"):
        await runtime.flow("failing", fit, run_name=f"failing-{tag}")
    async with prefect_api.client() as client:
        flow_run = (await _flow_runs_named(client, f"failing-{tag}"))[f"failing-{tag}"]
    assert flow_run.state.is_failed()
    runs = {run.name: run for run in await prefect_api.read_task_runs([flow_run.id], count=2)}
    assert runs[f"fine-{tag}"].state.is_completed()
    assert runs[f"broken-{tag}"].state.is_failed()


async def test_a_failure_cancels_the_runs_in_flight_and_keeps_those_answered(prefect_api):
    from synaprefect.utils.async_utils import gather_or_cancel

    runtime, tag = _runtime(), _tag()
    started = asyncio.Event()

    async def slow():
        started.set()
        await asyncio.sleep(30)

    async def failing():
        await started.wait()
        raise ValueError("bad row 7")

    async def fit():
        await runtime.task("fine", lambda: asyncio.sleep(0, "ok"), run_name=f"fine-{tag}")
        return await gather_or_cancel(
            runtime.task("slow", slow, run_name=f"slow-{tag}"),
            runtime.task("broken", failing, run_name=f"broken-{tag}"),
        )

    with pytest.raises(ValueError, match="bad row 7"):
        await asyncio.wait_for(runtime.flow("cancels", fit, run_name=f"cancels-{tag}"), 20)
    async with prefect_api.client() as client:
        flow_run = (await _flow_runs_named(client, f"cancels-{tag}"))[f"cancels-{tag}"]
    runs = {run.name: run for run in await prefect_api.read_task_runs([flow_run.id], count=3)}
    assert runs[f"fine-{tag}"].state.is_completed()
    assert runs[f"broken-{tag}"].state.is_failed()
    assert not runs[f"slow-{tag}"].state.is_completed()  # cancelled, never answered


async def _raise_value_error():
    raise ValueError("bad row 3")


class _Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


async def test_own_task_runs_log_retries_but_not_completions(prefect_api):
    """Prefect's "Finished in state Completed()" line repeats the state the UI shows:
    synaprefect's task runs drop it, a user's own Prefect tasks keep it, and a retried
    run still logs its failure. Task run names are kept verbatim, braces too."""
    import prefect

    runtime, tag = _runtime(), _tag()
    calls, flaky = _fails_once()

    @prefect.task(task_run_name=f"user-{tag}")
    async def users_own_task():
        return 1

    async def body():
        await users_own_task()
        return await runtime.task(
            "call", flaky, run_name=f"flaky-{{{tag}}}", retries=1, retry_delay=0.05
        )

    task_logger, seen = logging.getLogger("prefect.task_runs"), _Records()
    task_logger.addHandler(seen)
    try:
        assert await runtime.flow("quiet", body, run_name=f"quiet-{tag}") == "answer"
    finally:
        task_logger.removeHandler(seen)
    lines = [(record.task_run_name, record.getMessage()) for record in seen.records]
    assert [line for line in lines if line[1].startswith("Finished in state")] == [
        (f"user-{tag}", "Finished in state Completed()")
    ]
    assert [name for name, message in lines if "Retry 1/1" in message] == [f"flaky-{{{tag}}}"]
    async with prefect_api.client() as client:
        flow_run = (await _flow_runs_named(client, f"quiet-{tag}"))[f"quiet-{tag}"]
    task_runs = await prefect_api.read_task_runs([flow_run.id], count=2)
    assert sorted(run.name for run in task_runs) == [f"flaky-{{{tag}}}", f"user-{tag}"]


# Prefect's thread pool creates a task's coroutine at submission: a cancelled queued task
# leaves it unawaited.
@pytest.mark.filterwarnings("ignore:coroutine 'run_task_async' was never awaited")
async def test_a_cancelled_remote_batch_is_cancelled_on_the_task_runner(prefect_api):
    import asyncio
    import threading

    import prefect
    from prefect.task_runners import ThreadPoolTaskRunner

    runtime, tag = _runtime(), _tag()
    release = threading.Event()

    @prefect.task(task_run_name=f"hold-{tag}")
    def hold():
        release.wait(timeout=60)

    async def body():
        holder = hold.submit()  # the runner's only worker is busy: the batch below queues
        remote = asyncio.ensure_future(
            runtime.remote("shard", {"kind": "evaluate"}, run_name=f"queued-{tag}")
        )
        await asyncio.sleep(0)  # the batch is submitted; its wait has started
        remote.cancel()  # as when a sibling batch fails (gather_or_cancel)
        outcome = (await asyncio.gather(remote, return_exceptions=True))[0]
        release.set()
        await asyncio.to_thread(holder.wait)
        return type(outcome).__name__

    outcome = await runtime.flow(
        "remote", body, run_name=f"remote-{tag}", task_runner=ThreadPoolTaskRunner(max_workers=1)
    )
    assert outcome == "CancelledError"  # not an error of the cancelling itself
    async with prefect_api.client() as client:
        flow_run = (await _flow_runs_named(client, f"remote-{tag}"))[f"remote-{tag}"]
    task_runs = await prefect_api.read_task_runs([flow_run.id], count=1)
    assert [run.name for run in task_runs] == [f"hold-{tag}"]  # the queued batch never ran


async def test_a_failed_flow_is_retried_as_the_same_run(prefect_api):
    runtime, tag = _runtime(), _tag()
    attempts = []

    async def body():
        attempts.append(1)
        await runtime.stage("epoch", _answer, run_name=f"epoch-{tag}-{len(attempts)}")
        if len(attempts) == 1:
            raise ConnectionError("lost the connection")
        return "done"

    # Prefect refuses "/" in flow names: the runtime replaces it.
    assert await runtime.flow("fit/eval", body, run_name=f"retried-{tag}", retries=1) == "done"
    async with prefect_api.client() as client:
        runs = await _flow_runs_named(client, f"retried-{tag}", f"epoch-{tag}-1", f"epoch-{tag}-2")
        flow_run = runs[f"retried-{tag}"]
        assert flow_run.state.is_completed() and flow_run.run_count == 2
        assert (await client.read_flow(flow_run.flow_id)).name == "fit-eval"
        for stage in (runs[f"epoch-{tag}-1"], runs[f"epoch-{tag}-2"]):
            assert (await client.read_task_run(stage.parent_task_run_id)).flow_run_id == flow_run.id


async def test_artifacts_versions_tables_and_progress(prefect_api):
    runtime, tag = _runtime(), _tag()
    program = f"qa_program_{tag}"
    key = variable_artifact_key(program, "generator/instructions")
    values = [{"instructions": f"version {i}", "examples": list(range(i))} for i in range(3)]

    async def body():
        for i, value in enumerate(values):
            await runtime.task(
                "update",
                lambda v=value, i=i: runtime.publish_json(key, v, description=f"step {i}"),
                run_name=f"update-{tag}-{i}",
            )
        await runtime.publish_table(
            history_table_key(program), [{"epoch": 1, "reward": 0.5}, {"epoch": 2, "reward": 0.75}]
        )
        await runtime.publish_markdown(summary_key(program), "# Summary\nreward **0.75**")
        for percent in (0, 50, 100):
            await runtime.stage(
                "epoch",
                lambda p=percent: runtime.progress(progress_key(program), p, f"{p}% done"),
                run_name=f"epoch-{tag}-{percent}",
            )

    await runtime.flow("fit", body, run_name=f"fit-{tag}")

    history = await read_variable_history(program, "generator/instructions")
    assert read_variable_history_sync(program, "generator/instructions") == history
    assert [version["value"] for version in history] == values
    assert [version["description"] for version in history] == ["step 0", "step 1", "step 2"]
    assert [v["created"] for v in history] == sorted(v["created"] for v in history)

    async with prefect_api.client() as client:
        [table] = await _artifacts_keyed(client, history_table_key(program))
        assert table.type == "table"
        assert json.loads(table.data) == [{"epoch": 1, "reward": 0.5}, {"epoch": 2, "reward": 0.75}]
        [markdown] = await _artifacts_keyed(client, summary_key(program))
        assert markdown.type == "markdown" and "**0.75**" in markdown.data
        # One progress artifact for the whole flow, updated by each stage.
        [progress] = await _artifacts_keyed(client, progress_key(program))
        assert progress.type == "progress"
        assert float(progress.data) == 100
        assert progress.description == "100% done"


async def test_progress_in_a_users_own_flow_is_one_bar_per_run(prefect_api):
    import prefect

    tag = _tag()
    key = progress_key(f"own_{tag}")

    @prefect.flow(name="user-progress", flow_run_name=f"user-progress-{tag}")
    async def user_flow(last: float):
        for percent in (10.0, 60.0, last):
            await get_runtime().progress(key, percent, f"{percent:g}% done")

    with tracking(True):
        await user_flow(100.0)
        await user_flow(80.0)  # another run: a bar of its own
    async with prefect_api.client() as client:
        bars = await _artifacts_keyed(client, key)
        assert sorted(float(bar.data) for bar in bars) == [80.0, 100.0]
        assert {bar.description for bar in bars} == {"80% done", "100% done"}


async def test_artifacts_outside_a_run_are_skipped(prefect_api):
    runtime, tag = _runtime(), _tag()
    await runtime.publish_json(f"loose-{tag}", {"a": 1})
    await runtime.progress(f"loose-progress-{tag}", 10)
    async with prefect_api.client() as client:
        assert await _artifacts_keyed(client, f"loose-{tag}") == []
        assert await _artifacts_keyed(client, f"loose-progress-{tag}") == []


async def test_runtime_inside_a_user_flow_becomes_a_subflow(prefect_api):
    import prefect

    tag = _tag()

    async def fit():
        runtime = get_runtime()
        assert runtime.tracking
        return await runtime.task("batch", lambda: _answer(), run_name=f"batch-{tag}")

    @prefect.flow(name="user-pipeline", flow_run_name=f"user-{tag}")
    async def user_pipeline():
        return await get_runtime().flow("fit", fit, run_name=f"fit-{tag}")

    with tracking(True):
        assert await user_pipeline() == 42

    async with prefect_api.client() as client:
        runs = await _flow_runs_named(client, f"user-{tag}", f"fit-{tag}")
        user_run, fit_run = runs[f"user-{tag}"], runs[f"fit-{tag}"]
        assert user_run.parent_task_run_id is None
        assert fit_run.parent_task_run_id is not None
        parent = await client.read_task_run(fit_run.parent_task_run_id)
        assert parent.flow_run_id == user_run.id


async def _answer():
    return 42


async def test_flow_runs_build_two_clients_and_one_ssl_context_per_process(
    prefect_api, monkeypatch
):
    # Each Prefect client built an SSL context (about 35 ms), and the engine built three
    # clients per flow run. (Prefect's events worker builds its own client once per
    # process, in its own thread.)
    import ssl
    import threading

    from prefect.client.orchestration import PrefectClient, SyncPrefectClient
    from prefect.context import FlowRunContext

    from synaprefect.orchestration.api_clients import _tls_context

    here = threading.current_thread()
    built: list[str] = []
    tls_contexts: list[int] = []
    for cls in (PrefectClient, SyncPrefectClient):
        original = cls.__init__

        def spy(self, *args, _original=original, _name=cls.__name__, **kwargs):
            if threading.current_thread() is here:
                built.append(_name)
            _original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", spy)
    original_context = ssl.create_default_context

    def counted_context(*args, **kwargs):
        if threading.current_thread() is here:
            tls_contexts.append(1)
        return original_context(*args, **kwargs)

    monkeypatch.setattr(ssl, "create_default_context", counted_context)
    _tls_context.cache_clear()  # as in a fresh process
    runtime, tag = _runtime(), _tag()
    key = variable_artifact_key(f"p{tag}", "g/x")
    clients_seen = []

    async def fit():
        clients_seen.append(FlowRunContext.get().client)
        await runtime.publish_json(key, {"v": 1})
        return await runtime.task("batch", _answer, run_name=f"batch-{tag}")

    for run in (1, 2):
        assert await runtime.flow("fit", fit, run_name=f"fit-{tag}-{run}") == 42
    # Each run, its task run and its artifact used the two clients opened for the run.
    assert sorted(built) == ["PrefectClient"] * 2 + ["SyncPrefectClient"] * 2
    assert len(tls_contexts) == 1
    async with prefect_api.client() as client:
        runs = await _flow_runs_named(client, f"fit-{tag}-1", f"fit-{tag}-2")
        assert all(run.state.is_completed() for run in runs.values()) and len(runs) == 2
        assert len(await _artifacts_keyed(client, key)) == 2
        assert {str(seen.api_url) for seen in clients_seen} == {str(client.api_url)}


def test_the_shared_ssl_context_follows_prefect_tls_settings(tmp_path):
    import ssl

    import certifi
    from prefect.settings import (
        PREFECT_API_SSL_CERT_FILE,
        PREFECT_API_TLS_INSECURE_SKIP_VERIFY,
        temporary_settings,
    )

    from synaprefect.orchestration.api_clients import _tls_settings

    with temporary_settings({PREFECT_API_TLS_INSECURE_SKIP_VERIFY: True}):
        context = _tls_settings()["verify"]
        assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    with temporary_settings(
        {PREFECT_API_TLS_INSECURE_SKIP_VERIFY: False, PREFECT_API_SSL_CERT_FILE: certifi.where()}
    ):
        context = _tls_settings()["verify"]
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert context.cert_store_stats()["x509_ca"] > 0  # the bundle was loaded
        assert _tls_settings()["verify"] is context  # built once


async def test_tracking_off_runs_locally_and_sends_nothing(prefect_api):
    tag = _tag()
    with tracking(False):
        runtime = get_runtime()
        assert isinstance(runtime, LocalRuntime) and not runtime.tracking

        async def fit():
            await runtime.publish_json(f"untracked-{tag}", {"a": 1})
            return await runtime.stage(
                "epoch",
                lambda: runtime.task("batch", _answer, run_name=f"batch-{tag}"),
                run_name=f"epoch-{tag}",
            )

        assert await runtime.flow("fit", fit, run_name=f"fit-{tag}") == 42

    async with prefect_api.client() as client:
        assert await _flow_runs_named(client, f"fit-{tag}", f"epoch-{tag}") == {}
        assert await _artifacts_keyed(client, f"untracked-{tag}") == []


def test_log_outside_a_run_goes_to_the_synaprefect_logger(caplog):
    with caplog.at_level(logging.INFO, logger="synaprefect"):
        _runtime().log("hello from nowhere")
    assert "hello from nowhere" in caplog.text
