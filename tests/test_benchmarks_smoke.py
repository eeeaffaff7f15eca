"""The benchmark harness at tiny sizes, so that it cannot rot. No timing is asserted."""

import json
import os

import pytest

from benchmarks.report import write_reports
from benchmarks.responders import respond
from benchmarks.run import (
    PARTS,
    Settings,
    epoch_size_specs,
    skipped_parts,
    storage_specs,
    throughput_specs,
)
from benchmarks.workloads.common import PREFECT_SERVER_PID_ENV, Endpoint, find_api_server_pid
from benchmarks.workloads.evaluate import (
    aiohttp_reference,
    litellm_reference,
    synaprefect_evaluate,
)
from benchmarks.workloads.prefect_costs import PREFECT_OBJECT_KINDS, prefect_costs
from benchmarks.workloads.resume import resume_workload
from benchmarks.workloads.storage import expected_steps, storage_workload, stored_run
from benchmarks.workloads.training import synaprefect_fit
from synaprefect.testing import SimulatedLM


@pytest.fixture
def endpoint():
    with SimulatedLM(responder=respond) as server:
        yield Endpoint(server.base_url)


async def test_reference_and_evaluate_answer_every_sample(endpoint):
    for reference_client in (litellm_reference, aiohttp_reference):
        reference = await reference_client(endpoint, n=8, concurrency=4)
        assert reference.requests == 8 and reference.extra["accuracy"] == 1.0
    for transport in ("litellm", "http"):
        result = await synaprefect_evaluate(
            endpoint, n=8, concurrency=4, tracking=False, transport=transport
        )
        assert result.requests == 8 and result.extra["accuracy"] == 1.0
        assert result.wall_s > 0 and result.cpu_s > 0


async def test_tracked_evaluate_and_fit_with_the_defaults(endpoint, prefect_api):
    specs = {spec.key: spec.params for spec in throughput_specs(Settings())}
    assert specs["evaluate_on"]["transport"] is specs["fit_off"]["transport"] is None
    assert specs["evaluate_on_litellm"]["transport"] == "litellm"
    result = await synaprefect_evaluate(endpoint, n=8, concurrency=4, tracking=True)
    assert result.requests == 8 and result.extra["accuracy"] == 1.0
    fit = await synaprefect_fit(
        endpoint, n=10, epochs=1, batch_size=4, concurrency=4, tracking=True
    )
    assert fit.requests > 0 and fit.extra["val_reward"] == 1.0


async def test_epoch_size_fit_reads_back_its_variable_artifacts(endpoint, prefect_api):
    fit = await synaprefect_fit(
        endpoint,
        n=10,
        epochs=1,
        batch_size=4,
        concurrency=4,
        tracking=True,
        transport="http",
        name="bench_epoch_size",
        artifact_sizes=True,
    )
    assert fit.extra["variable_artifact_versions"] >= 1
    assert 0 < fit.extra["largest_variable_artifact_bytes"] < 5_000


@pytest.mark.parametrize("model", ["openai/simulated", "openai/o3-mini"])
async def test_http_transport_sends_litellms_request_body(model):
    """The two transports compared in the benchmark send the same request."""
    import synaprefect as sp

    bodies = []

    def capture(request):
        bodies.append(request.body)
        return respond(request)

    schema = {
        "type": "object",
        "properties": {"thinking": {"type": "string"}, "answer": {"type": "string"}},
    }
    with SimulatedLM(responder=capture) as server:
        for transport in ("litellm", "http"):
            lm = sp.LanguageModel(
                model,
                api_base=server.base_url,
                api_key="sk-x",
                transport=transport,
                temperature=0.2,
                top_k=5,
                max_tokens=9,
            )
            await lm([{"role": "user", "content": "<input>{}</input>"}], schema=schema)
    assert len(bodies) == 2 and bodies[0] == bodies[1]
    assert list(bodies[1]["response_format"]["json_schema"]["schema"]["properties"]) == [
        "thinking",
        "answer",
    ]


def test_dspy_evaluate(endpoint):
    from benchmarks.workloads.evaluate import dspy_evaluate

    result = dspy_evaluate(endpoint, n=8, threads=4)
    assert result.requests == 8 and result.extra["accuracy"] == 1.0


def test_resume_workload_in_worker_processes(tmp_path):
    env = {**os.environ, "SYNAPREFECT_HOME": str(tmp_path / "home")}
    with SimulatedLM(
        responder="benchmarks.responders:respond", latency=0.05, mode="process"
    ) as server:
        resume = resume_workload(
            Endpoint(server.base_url),
            {
                "n": 20,
                "epochs": 1,
                "batch_size": 4,
                "concurrency": 4,
                "tracking": False,
                "transport": "http",
            },
            env=env,
            scratch=tmp_path,
        )
    first = resume["uninterrupted"]["requests"]
    assert 0 < resume["killed"]["requests"] < first
    assert resume["resumed"]["replayed_steps"] > 0
    assert resume["calls_paid_twice"] == (
        resume["killed"]["requests"] + resume["resumed"]["requests"] - first
    )


def test_report_tables_and_targets(tmp_path):
    settings = Settings(rounds=1)
    run = {
        "wall_s": 1.0,
        "cpu_s": 0.5,
        "prefect_server_cpu_s": None,
        "requests": 1000,
        "accuracy": 1.0,
        "val_reward": 1.0,
    }
    report = {
        "started_at": "now",
        "duration_s": 60.0,
        "load_average_start": [1.0, 1.0, 1.0],
        "load_average_end": [1.0, 1.0, 1.0],
        "machine": {"nproc": 2, "cpu_model": "cpu", "python": "3.11", "packages": {"x": "1"}},
        "settings": {**settings.__dict__, "latency_bound_s": settings.latency_bound_s},
        "throughput": {
            spec.key: {"label": spec.label, "runs": [run]} for spec in throughput_specs(settings)
        },
        "memory": {"defaults": {**run, "rss_before_mb": 200.0, "peak_rss_mb": 300.0}},
        "demo": {"fresh_prefect_home": {"wall_s": 50.0}, "warm_prefect_home": {"wall_s": 30.0}},
        "epoch_size": {
            spec.key: {
                "label": spec.label,
                "params": spec.params,
                "runs": [
                    {
                        **run,
                        "wall_s": 4.5 if "1600" in spec.key else 1.0,
                        "largest_variable_artifact_bytes": 700,
                    }
                ],
            }
            for spec in epoch_size_specs(settings)
        },
    }
    json_path, markdown_path = write_reports(report, tmp_path)
    saved = json.loads(json_path.read_text())
    met = {row["target"]: row["met"] for row in saved["targets"] if row["issue"]}
    evaluate = "evaluate 1,000 samples, one Generator, defaults, tracking"
    # Every run took 1 s: DSPy / synaprefect 1x (< 1.5x), bound / synaprefect 1.56,
    # tracked / untracked fit 1x, 0.5 ms of CPU per call.
    assert met == {
        **{
            f"{evaluate} {state}: DSPy Evaluate time / synaprefect time": False
            for state in ("on", "off")
        },
        **{
            f"{evaluate} {state}: latency bound (1.56 s) / synaprefect time": True
            for state in ("on", "off")
        },
        "fit 200 samples x 2 epochs, batch 16, RandomFewShot: tracked / untracked wall "
        "(defaults)": True,
        **{f"client CPU per LM call, {evaluate} {state}": True for state in ("on", "off")},
    }
    others = {row["target"]: row["met"] for row in saved["targets"] if not row["issue"]}
    assert others["make demo (fresh prefect home)"] is True
    assert others["epoch 1600/400 time ratio (tracking on)"] is True  # 4.5x <= 5
    assert others["peak RSS, evaluate of 10000 samples (defaults)"] is True
    markdown = markdown_path.read_text()
    assert "## Throughput" in markdown and "## Targets (issue 15" in markdown
    assert "## Other measures" in markdown and "## Epoch size" in markdown
    assert "synaprefect evaluate, defaults, tracking on" in markdown
    assert "synaprefect evaluate, transport=litellm, tracking off" in markdown


async def test_rate_limit_and_scale_out_workloads(endpoint, prefect_api):
    from benchmarks.workloads.rate_limit import RATE_LIMIT_MODES, rate_limited_calls
    from benchmarks.workloads.scale_out import scaled_evaluate

    for mode in RATE_LIMIT_MODES:
        result = await rate_limited_calls(endpoint, n=6, concurrency=4, mode=mode)
        assert result.requests == 6 and result.extra["calls_per_s"] > 0
    busy = await scaled_evaluate(
        endpoint, n=8, concurrency=4, batch_size=4, mode="in_process", cpu_ms=1.0
    )
    assert busy.requests == 8 and busy.extra["accuracy"] == 1.0
    with pytest.raises(ValueError, match="mode must be one of"):
        await scaled_evaluate(endpoint, n=2, concurrency=1, batch_size=1, mode="ray")


async def test_storage_workload_counts_its_steps_local_and_on_s3(endpoint, s3_storage, monkeypatch):
    # 10 samples: 8 train (2 batches of 4) -> 2 batches + 2 updates + 1 validation batch.
    assert expected_steps("fit", 10, 4) == 5 and expected_steps("evaluate", 10, 4) == 3
    for kind in ("fit", "evaluate"):
        monkeypatch.delenv("SYNAPREFECT_STORAGE", raising=False)
        local = await stored_run(
            endpoint, kind=kind, n=10, batch_size=4, concurrency=4, storage="local"
        )
        assert local.extra["persisted_steps"] == local.extra["expected_steps"]
        assert local.extra["replayed_steps"] == 0
        assert local.extra["remote_objects_written"] == 0
        monkeypatch.setenv("SYNAPREFECT_STORAGE", s3_storage)
        remote = await stored_run(
            endpoint, kind=kind, n=10, batch_size=4, concurrency=4, storage="s3"
        )
        steps = remote.extra["persisted_steps"]
        assert steps == remote.extra["expected_steps"] == local.extra["persisted_steps"]
        # Every step and its answers as objects, and the complete marker.
        assert remote.extra["remote_objects_written"] == 2 * steps + 1


def test_storage_report_table_and_targets(tmp_path):
    settings = Settings(rounds=1)
    report = {
        "started_at": "now",
        "duration_s": 60.0,
        "load_average_start": [1.0, 1.0, 1.0],
        "load_average_end": [1.0, 1.0, 1.0],
        "machine": {"nproc": 2, "cpu_model": "cpu", "python": "3.11", "packages": {"x": "1"}},
        "settings": {**settings.__dict__, "latency_bound_s": settings.latency_bound_s},
        "storage": {},
    }
    for spec in storage_specs(settings):
        steps = expected_steps(spec.params["kind"], spec.params["n"], 8)
        s3 = spec.params["storage"] == "s3"
        report["storage"][spec.key] = {
            "label": spec.label,
            "params": spec.params,
            "expected_steps": steps,
            "runs": [
                {
                    "wall_s": 2.0 + (0.01 * steps if s3 else 0.0),
                    "cpu_s": 0.5,
                    "prefect_server_cpu_s": None,
                    "requests": 100,
                    "persisted_steps": steps,
                    "persist_s": 0.01 * steps if s3 else 0.0,
                    "store_open_s": 0.0,
                    "store_finish_s": 0.0,
                    "remote_objects_written": 2 * steps + 1 if s3 else 0,
                }
            ],
        }
    json_path, markdown_path = write_reports(report, tmp_path)
    rows = {row["target"]: row["measured"] for row in json.loads(json_path.read_text())["targets"]}
    assert rows[
        "remote storage cost per step, loopback S3 vs local disk (ms) "
        "(fit of 100 samples, 21 steps)"
    ] == pytest.approx(10.0)
    assert rows[
        "remote storage cost per step, loopback S3 vs local disk (ms) "
        "(evaluate of 256 samples, 32 steps)"
    ] == pytest.approx(10.0)
    markdown = markdown_path.read_text()
    assert "## Run state on storage" in markdown and "21 (21)" in markdown


@pytest.mark.e2e
def test_storage_workload_in_worker_processes(tmp_path):
    env = {**os.environ, "SYNAPREFECT_HOME": str(tmp_path / "home")}
    env.pop("SYNAPREFECT_STORAGE", None)
    settings = Settings(
        storage_fit_samples=10, storage_evaluate_samples=8, storage_batch_size=4, concurrency=4
    )
    with SimulatedLM(responder="benchmarks.responders:respond", mode="process") as server:
        results = storage_workload(
            Endpoint(server.base_url),
            storage_specs(settings),
            rounds=1,
            env=env,
            scratch=tmp_path,
            warmup=0,
        )
    for entry in results.values():
        (run,) = entry["runs"]
        assert run["persisted_steps"] == entry["expected_steps"]
        assert (run["remote_objects_written"] > 0) == (entry["params"]["storage"] == "s3")
    assert next(iter(results.values()))["objects_left_in_bucket"] == 0


async def test_prefect_costs_workload_counts_its_objects(prefect_api, monkeypatch):
    monkeypatch.setenv(PREFECT_SERVER_PID_ENV, str(find_api_server_pid(prefect_api.api_url)))
    result = await prefect_costs(
        Endpoint("http://127.0.0.1:9"), tasks=5, subflows=2, artifacts=3, order=2
    )
    costs = result.to_dict()["costs"]
    assert list(costs) == [*PREFECT_OBJECT_KINDS[2:], *PREFECT_OBJECT_KINDS[:2]]
    # Read back from the API: a subflow call also makes a task run in its parent, the
    # nested task runs have their outer one, progress updates change one artifact.
    expected = {
        "task": (5, 0, 0),
        "task_gathered": (5, 0, 0),
        "nested_task": (6, 0, 0),
        "subflow": (2, 2, 0),
        "markdown_artifact": (0, 0, 3),
        "progress_update": (0, 0, 1),
    }
    for kind, (task_runs, subflow_runs, artifacts) in expected.items():
        cost = costs[kind]
        assert (
            cost["read_back"]
            == cost["expected"]
            == {"task_runs": task_runs, "subflow_runs": subflow_runs, "artifacts": artifacts}
        )
    # Outermost flow runs have no host flow run: read back as top-level runs by name.
    assert costs["flow"]["read_back"] == costs["flow"]["expected"] == {"flow_runs": 2}
    for kind, cost in costs.items():
        assert cost["count"] == {
            "subflow": 2,
            "flow": 2,
            "markdown_artifact": 3,
            "progress_update": 3,
        }.get(kind, 5)
        assert cost["wall_ms_per_object"] > 0 and cost["cpu_ms_per_object"] > 0
        assert cost["server_cpu_s"] >= 0 and cost["server_idle_cpu_s"] >= 0
        assert isinstance(cost["server_cpu_ms_per_object"], float)
    assert sum(cost["server_cpu_s"] for cost in costs.values()) > 0
    assert result.wall_s == pytest.approx(sum(cost["wall_s"] for cost in costs.values()))


def test_prefect_costs_report_table(tmp_path):
    settings = Settings(rounds=1)
    costs = {
        kind: {
            "count": 20,
            "expected": {"task_runs": 20},
            "read_back": {"task_runs": 20},
            "wall_ms_per_object": 10.0 + i,
            "cpu_ms_per_object": 5.0,
            "server_cpu_ms_per_object": 30.0,
        }
        for i, kind in enumerate(PREFECT_OBJECT_KINDS)
    }
    costs["subflow"]["read_back"] = {"task_runs": 19}
    report = {
        "started_at": "now",
        "duration_s": 60.0,
        "load_average_start": [1.0, 1.0, 1.0],
        "load_average_end": [1.0, 1.0, 1.0],
        "machine": {"nproc": 2, "cpu_model": "cpu", "python": "3.11", "packages": {"x": "1"}},
        "settings": {**settings.__dict__, "latency_bound_s": settings.latency_bound_s},
        "prefect_costs": {
            "params": {},
            "runs": [
                {"costs": costs},
                {
                    "costs": {
                        kind: {**cost, "wall_ms_per_object": 100.0} for kind, cost in costs.items()
                    }
                },
                {
                    "costs": {
                        kind: {**cost, "wall_ms_per_object": 0.0} for kind, cost in costs.items()
                    }
                },
            ],
        },
    }
    json_path, markdown_path = write_reports(report, tmp_path)
    summary = json.loads(json_path.read_text())["prefect_costs"]["summary"]
    assert summary["task"]["wall_ms_per_object"] == 10.0  # the median of 0, 10, 100
    assert summary["task"]["counted"] is True and summary["subflow"]["counted"] is False
    markdown = markdown_path.read_text()
    assert "## What each Prefect object costs" in markdown
    # The fit of 200 samples: 10 steps and 2 validation batches per epoch, 2 epochs.
    assert "20 steps, makes 46 that are not a module's (2 of them epochs)" in markdown
    assert "**expected {'task_runs': 20}**" in markdown


def test_only_what_is_named_runs():
    """``--only`` with throughput keys runs the throughput part alone; with parts, those
    parts; ``--skip`` leaves parts out."""
    everything_but = set(PARTS).difference
    assert skipped_parts("fit_on,fit_off", "") == everything_but({"throughput"})
    assert skipped_parts("storage", "") == everything_but({"storage"})
    assert skipped_parts("storage,fit_on", "") == everything_but({"storage", "throughput"})
    assert skipped_parts("", "demo,memory") == {"demo", "memory"}


def test_the_fit_breakdown_switches_off_one_part_and_restores_it():
    import prefect.utilities.engine as prefect_engine

    from benchmarks.fit_breakdown import _switches
    from synaprefect import config
    from synaprefect.orchestration import finishing
    from synaprefect.orchestration.prefect_runtime import PrefectRuntime

    switches = _switches()
    assert list(switches) == [
        "tracked",
        "no_events",
        "no_artifacts",
        "no_plots",
        "awaited_whole",
        "untracked",
    ]
    emit, publish, run = prefect_engine.emit_event, PrefectRuntime.publish_json, finishing.run
    with switches["awaited_whole"]():
        assert finishing.run is not run
    with switches["no_events"]():
        assert prefect_engine.emit_event is not emit
        assert prefect_engine.emit_event("prefect.task-run.Completed") is None
    with switches["no_artifacts"]():
        assert PrefectRuntime.publish_json is not publish
        assert PrefectRuntime.progress is PrefectRuntime.publish_markdown
    with switches["no_plots"]():
        assert not config.fit_plots()
    assert prefect_engine.emit_event is emit and PrefectRuntime.publish_json is publish
    assert finishing.run is run and config.fit_plots()


def test_fit_timeline_cuts_a_fit_into_its_phases():
    from benchmarks.fit_timeline import Mark, phases

    moments = [
        (0.00, "fit", 0),
        (0.00, "api", 1),
        (0.01, "call", 2),
        (0.05, "api_done", 1),
        (0.06, "body", 2),
        (0.10, "request", 0),
        (0.11, "request", 0),
        (0.15, "answer", 0),
        (0.20, "answer", 0),
        (0.21, "call", 3),
        (0.25, "body", 3),
        (0.30, "request", 0),
        (0.35, "answer", 0),
        (0.36, "api", 4),
        (0.40, "api_done", 4),
        (0.45, "fit_done", 0),
        (0.50, "api_done", 5),  # a request of another thread, answered after the fit
    ]
    marks = [Mark(wall, wall / 2, kind, key) for wall, kind, key in moments]
    result = phases(marks)
    expected = {
        "wall": 0.45,
        "start": 0.10,
        "api_at_start": 0.05,
        "lm_rounds": 0.15,
        "gaps": 0.10,
        "gaps_cpu": 0.05,
        "gap_count": 1,
        "task_runs": 2,
        "task_run_starts": 0.09,
        "task_run_starts_cpu": 0.045,
        "task_run_starts_in_gaps": 0.04,
        "end": 0.10,
        "api_at_end": 0.04,
        "api_requests": 2,
    }
    assert result == pytest.approx(expected)


async def test_fit_timeline_sees_every_lm_request_and_task_run(endpoint, prefect_api):
    import time

    import synaprefect.language_models.http_transport as http_transport
    from benchmarks.fit_timeline import Mark, phases, timestamps

    original = http_transport.chat_completion
    marks = []
    with timestamps(marks):
        fit = await synaprefect_fit(
            endpoint,
            n=10,
            epochs=1,
            batch_size=4,
            concurrency=4,
            tracking=True,
            on_start=lambda: marks.append(Mark(time.perf_counter(), 0.0, "fit")),
        )
        marks.append(Mark(time.perf_counter(), 0.0, "fit_done"))
    assert http_transport.chat_completion is original  # restored
    kinds = [mark.kind for mark in marks]
    assert kinds.count("request") == kinds.count("answer") == fit.requests > 0
    assert kinds.count("call") == kinds.count("done") > 0
    assert {m.key for m in marks if m.kind == "body"} == {m.key for m in marks if m.kind == "call"}
    assert kinds.count("api") > 0  # the flow run's creation, at least
    assert phases(marks)["task_runs"] == kinds.count("call")
