"""Operations end to end, against real parts the tests start themselves.

- The train and evaluate flows, in process, on the session's Prefect API.
- ``prefect server start`` on SQLite (its own ``PREFECT_HOME``, a free loopback port), the
  deployments of ``deployments/prefect.yaml`` made by ``prefect deploy --all``, a
  process worker running triggered ``retrain`` runs against a simulated LM served from
  this process, the nightly schedule, and the Prefect UI in headless Chromium.
- The production recipe: the same server on PostgreSQL, running the retrain deployment.

Needs Debian's ``chromium``, ``chromium-driver`` and ``postgresql`` (``.ci/run`` installs
them); a test whose part is missing fails and names the package to install.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from stack import (
    POOL,
    ROOT,
    Postgres,
    PrefectStack,
    Service,
    free_port,
    migrated_template,
    wait_until,
)

from synaprefect import datasets, recipes
from synaprefect.orchestration.artifacts import artifact_key, variable_artifact_key
from synaprefect.storage import location

pytestmark = pytest.mark.e2e  # real Prefect servers, workers or processes

VARIABLE = "generator/state_generator"  # the default program's trained variable


def load_flow(name: str):
    """A flow of flows/, imported by path as a user's script would be."""
    spec = importlib.util.spec_from_file_location(f"ops_flow_{name}", ROOT / "flows" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


# ---- the train and evaluate flows, in process ------------------------------------------


async def test_train_then_evaluate_flows_save_score_and_publish(prefect_api, tmp_path, monkeypatch):
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    monkeypatch.chdir(ROOT)  # the flows' default data paths are relative to the project
    monkeypatch.setenv("SYNAPREFECT_HOME", str(tmp_path))
    name = f"ops_{uuid.uuid4().hex[:8]}"
    trained = await load_flow("train")(name=name, epochs=2)
    saved = tmp_path / "programs" / f"{name}.json"
    assert trained["program"] == str(saved) and saved.is_file()
    assert trained["reward"] > 0.5  # the simulated LM learned the house style
    scored = await load_flow("evaluate")(program=str(saved))
    assert scored == {"reward": trained["reward"], "samples": 12}
    async with prefect_api.client() as client:
        (report,) = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[artifact_key(f"{name}-train-report")])
            )
        )
        (results,) = await client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[artifact_key(f"{name}-evaluation-results")])
            )
        )
    assert f"# Training of `{name}`" in report.data and str(saved) in report.data
    table = json.loads(results.data)
    assert [row["row"] for row in table] == [
        f"flows/data/capitals_holdout.jsonl:{line}" for line in range(1, 13)
    ]
    assert json.loads(table[0]["expected"]) == {"answer": "OTTAWA"}
    assert np.mean([row["reward"] for row in table]) == scored["reward"]


@pytest.mark.parametrize(
    "flow, parameter", [("train", "holdout"), ("evaluate", "data"), ("retrain", "holdout")]
)
async def test_flows_name_the_file_and_line_of_a_malformed_row(
    tmp_path, monkeypatch, flow, parameter
):
    monkeypatch.chdir(ROOT)
    bad = tmp_path / "rows.jsonl"
    bad.write_text('{"query": "a", "answer": "b"}\n{"query": "c",\n')
    with pytest.raises(datasets.DatasetError, match=rf"^{re.escape(str(bad))}:2: not valid JSON"):
        await load_flow(flow).fn(**{parameter: str(bad)})  # before any run or model call


async def read_artifact(client, key: str, flow_run_id) -> Any:
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        ArtifactFilterKey,
    )

    found = await client.read_artifacts(
        artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[artifact_key(key)]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]),
        )
    )
    assert len(found) == 1, f"expected one {key!r} artifact of run {flow_run_id}, got {found}"
    return found[0]


async def champion_of(client, name: str = "capitals") -> dict | None:
    variable = await client.read_variable_by_name(f"{name}-champion")
    return variable.value if variable is not None else None


# ---- SQLite server, deployments, worker, schedule --------------------------------------


@pytest.fixture(scope="module")
def simulated_model() -> Iterator[Any]:
    """The demo's simulated LM, served from this process (thread mode) to the worker's
    flow runs, which reach it through the `model` and `api_base` parameters."""
    with recipes.simulated_lm() as server:
        yield server


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory, simulated_model, prefect_api) -> Iterator[PrefectStack]:
    # prefect_api first: the session's API leaves its template database in the cache.
    timings = {}
    started = time.monotonic()
    stack = PrefectStack(
        tmp_path_factory.mktemp("ops-sqlite"), template=migrated_template(request.config)
    )
    try:
        timings["server"] = stack.startup_seconds
        mark = time.monotonic()
        stack.deploy("--all")
        timings["pool + deploy"] = time.monotonic() - mark
        stack.start_worker(OPENAI_API_KEY=simulated_model.api_key)
        timings["setup"] = time.monotonic() - started
        print(f"SQLite stack: {', '.join(f'{k} {v:.1f} s' for k, v in timings.items())}")
        yield stack
    finally:
        stack.stop()


def lm_parameters(server) -> dict:
    return {"model": server.model, "api_base": server.base_url}


@pytest.fixture(scope="module")
async def promoted_run(stack, simulated_model):
    """A first retrain: no champion yet."""
    return await stack.run_deployment("retrain/retrain", **lm_parameters(simulated_model))


@pytest.fixture(scope="module")
async def kept_run(stack, simulated_model, promoted_run, tmp_path_factory):
    """A second retrain on worse data: the labels lost the house style (uppercase)."""
    worse = tmp_path_factory.mktemp("worse-data") / "capitals.jsonl"
    rows = datasets.load_rows(ROOT / "flows" / "data" / "capitals.jsonl")
    worse.write_text(
        "".join(json.dumps({**row, "answer": row["answer"].lower()}) + "\n" for row in rows)
    )
    return await stack.run_deployment(
        "retrain/retrain", data=str(worse), **lm_parameters(simulated_model)
    )


async def test_deploy_all_creates_the_deployments_of_prefect_yaml(stack):
    async with stack.client() as client:
        deployments = {d.name: d for d in await client.read_deployments()}
    assert set(deployments) == {"train", "evaluate", "retrain", "shard"}
    pull = [{"prefect.deployments.steps.set_working_directory": {"directory": str(ROOT)}}]
    for deployment in deployments.values():
        assert deployment.work_pool_name == POOL
        assert deployment.pull_steps == pull
        assert deployment.entrypoint == f"flows/{deployment.name}.py:{deployment.name}"
    retrain = deployments["retrain"]
    assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in retrain.schedules] == [
        ("0 2 * * *", "UTC", True)
    ]
    assert retrain.parameters == {"margin": 0.0, "model": "simulated"}  # asked explicitly
    assert retrain.global_concurrency_limit.limit == 1
    documented = retrain.parameter_openapi_schema["properties"]
    assert "more holdout reward" in documented["margin"]["description"]


async def test_the_nightly_schedule_creates_scheduled_runs(stack):
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    async with stack.client() as client:
        retrain = await client.read_deployment_by_name("retrain/retrain")
        scheduled = []
        deadline = time.monotonic() + 60  # the scheduler service runs every few seconds
        while len(scheduled) < 2 and time.monotonic() < deadline:
            scheduled = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[retrain.id])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
            )
            await asyncio.sleep(1)
    assert len(scheduled) >= 2, f"no scheduled runs:\n{stack.logs()}"
    starts = sorted(run.expected_start_time for run in scheduled)
    assert all(run.auto_scheduled for run in scheduled)
    assert all((t.hour, t.minute, t.utcoffset().total_seconds()) == (2, 0, 0) for t in starts)
    assert all((later - earlier).days == 1 for earlier, later in zip(starts, starts[1:]))
    assert starts[0].timestamp() > time.time()


async def test_first_retrain_promotes_the_challenger(stack, promoted_run, simulated_model):
    async with stack.client() as client:
        champion = await champion_of(client)
        decision = await read_artifact(client, "capitals-retrain-decision", promoted_run.id)
        scores = await read_artifact(client, "capitals-retrain-scores", promoted_run.id)
        diff = await read_artifact(client, "capitals-retrain-diff", promoted_run.id)
    assert champion["flow_run_id"] == str(promoted_run.id)
    assert champion["path"].endswith(f"capitals-{promoted_run.id}.json")
    assert Path(champion["path"]).is_file()
    assert decision.data.startswith("# Retrain of `capitals`: promoted")
    assert "there was no champion yet" in decision.data
    assert json.loads(scores.data) == [
        {"program": "champion", "holdout_reward": None},
        {"program": "challenger", "holdout_reward": champion["reward"]},
    ]
    assert champion["reward"] > 0.5
    assert "## `generator/state_generator`: examples" in diff.data
    assert simulated_model.stats().completed > 0  # the worker's run called this model


async def test_retrain_on_worse_data_keeps_the_champion(stack, promoted_run, kept_run):
    async with stack.client() as client:
        champion = await champion_of(client)
        decision = await read_artifact(client, "capitals-retrain-decision", kept_run.id)
        scores = await read_artifact(client, "capitals-retrain-scores", kept_run.id)
        await read_artifact(client, "capitals-retrain-diff", kept_run.id)
    assert champion["flow_run_id"] == str(promoted_run.id)  # unchanged
    assert decision.data.startswith("# Retrain of `capitals`: kept the champion")
    rewards = {row["program"]: row["holdout_reward"] for row in json.loads(scores.data)}
    assert rewards["champion"] == champion["reward"] > rewards["challenger"]
    challenger = Path(champion["path"]).with_name(f"capitals-{kept_run.id}.json")
    assert challenger.is_file()  # kept for inspection, not promoted


# ---- the UI, in headless Chromium ------------------------------------------------------


def required_executable(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"`{name}` is not installed: the UI test drives Debian's headless "
            f"Chromium (apt-get install {package}; .ci/run does)."
        )
    return path


class Browser:
    """Headless Chromium driven through chromedriver's WebDriver HTTP API."""

    FLAGS = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1600",
    ]

    def __init__(self, base: Path):
        chromium = required_executable("chromium", "chromium")
        driver = required_executable("chromedriver", "chromium-driver")
        self.base, port = base, free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.driver = Service("chromedriver", [driver, f"--port={port}"], dict(os.environ), base)
        self.http = httpx.Client(timeout=60)
        wait_until(
            lambda: self.http.get(f"{self.url}/status").json()["value"]["ready"],
            "chromedriver",
            30,
            (self.driver,),
            pause=0.1,
        )
        options = {
            "binary": chromium,
            "args": [*self.FLAGS, f"--user-data-dir={base / 'chromium-profile'}"],
        }
        session = self._call(
            "POST",
            "/session",
            {
                "capabilities": {
                    "alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}
                }
            },
        )
        self.session = f"/session/{session['sessionId']}"

    def _call(self, method: str, path: str, payload: dict | None = None) -> Any:
        response = self.http.request(method, f"{self.url}{path}", json=payload)
        body = response.json()
        assert response.status_code == 200, f"WebDriver {method} {path}: {body}"
        return body["value"]

    def page_text(self, url: str, *expected: str, timeout: float = 60) -> str:
        """Open ``url`` and wait until its rendered text shows every ``expected`` string
        (the UI renders client-side, from API calls)."""
        self._call("POST", f"{self.session}/url", {"url": url})
        deadline, text = time.monotonic() + timeout, ""
        while time.monotonic() < deadline:
            text = self._call(
                "POST",
                f"{self.session}/execute/sync",
                {"script": "return document.body.innerText", "args": []},
            )
            if all(needle in text for needle in expected):
                return text
            time.sleep(0.25)
        shot = self.base / f"page-{uuid.uuid4().hex[:6]}.png"
        shot.write_bytes(base64.b64decode(self._call("GET", f"{self.session}/screenshot")))
        missing = [needle for needle in expected if needle not in text]
        pytest.fail(
            f"{url} did not show {missing} within {timeout} s (screenshot: {shot}); "
            f"it shows:\n{text[:2000]}"
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._call("DELETE", self.session)
        self.http.close()
        self.driver.stop()


async def test_ui_shows_the_fit_run_and_the_variable_artifacts(stack, promoted_run, tmp_path):
    from prefect.client.schemas.filters import (
        ArtifactCollectionFilter,
        ArtifactCollectionFilterKey,
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterName,
        FlowRunFilterParentFlowRunId,
    )

    key = variable_artifact_key("capitals", VARIABLE)
    async with stack.client() as client:
        (fit,) = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                name=FlowRunFilterName(any_=["fit-capitals"]),
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[promoted_run.id]),
            )
        )
        (latest,) = await client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key]))
        )
        versions = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key]))
        )
    value = json.loads(latest.data.removeprefix("```json\n").removesuffix("\n```"))
    example = value["examples"][0]["outputs"]["answer"]
    browser = Browser(tmp_path)
    try:
        # The run, its parent (the retrain run), its state and its logs.
        browser.page_text(
            f"{stack.ui_url}/runs/flow-run/{fit.id}",
            "fit-capitals",
            promoted_run.name,
            "Completed",
            "Task Runs",
            "Artifacts",
            "Beginning subflow run 'fit-capitals'",
        )
        # Every version of the variable (newest first), each linked to the run that made
        # it: the epoch in which an optimizer update changed it.
        assert len(versions) > 1
        browser.page_text(
            f"{stack.ui_url}/artifacts/key/{key}",
            key,
            "after optimizer step",
            "capitals-epoch-",
            *(str(version.id)[:8] for version in versions),
        )
        # The latest value, rendered.
        browser.page_text(
            f"{stack.ui_url}/artifacts/artifact/{latest.latest_id}", key, '"examples"', example
        )
    finally:
        browser.close()


# ---- the production recipe: PostgreSQL -------------------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    database = Postgres()
    yield database
    database.stop()


async def test_retrain_on_postgresql_survives_new_containers_through_storage(
    postgres, simulated_model, tmp_path_factory, s3_storage, loopback_s3
):
    """The production recipe: PostgreSQL, a worker whose flow runs keep their state in a
    bucket, and each run in a new container (here: a worker with an empty home)."""
    started = time.monotonic()
    base = tmp_path_factory.mktemp("ops-postgres")
    stack = PrefectStack(base, database_url=postgres.url)
    storage = {"SYNAPREFECT_STORAGE": s3_storage, "OPENAI_API_KEY": simulated_model.api_key}
    try:
        stack.deploy("--name", "retrain")
        first_worker = stack.start_worker(SYNAPREFECT_HOME=str(base / "container-1"), **storage)
        first = await stack.run_deployment("retrain/retrain", **lm_parameters(simulated_model))
        first_worker.stop()
        stack.services.remove(first_worker)
        shutil.rmtree(base / "container-1", ignore_errors=True)  # the container is gone
        rows = datasets.load_rows(ROOT / "flows" / "data" / "capitals.jsonl")
        location(f"{s3_storage}/data/worse.jsonl").write_bytes(
            "".join(
                json.dumps({**row, "answer": row["answer"].lower()}) + "\n" for row in rows
            ).encode()
        )
        stack.start_worker(name="worker-2", SYNAPREFECT_HOME=str(base / "container-2"), **storage)
        second = await stack.run_deployment(
            "retrain/retrain",
            data=f"{s3_storage}/data/worse.jsonl",
            **lm_parameters(simulated_model),
        )
        async with stack.client() as client:
            champion = await champion_of(client)
            decision = await read_artifact(client, "capitals-retrain-decision", second.id)
    finally:
        stack.stop()
    print(
        f"PostgreSQL stack: server {stack.startup_seconds:.1f} s, all "
        f"{time.monotonic() - started:.1f} s"
    )
    # The second run, in a fresh container, found the first's champion in the bucket.
    assert champion["flow_run_id"] == str(first.id)
    assert champion["path"] == f"{s3_storage}/programs/capitals-{first.id}.json"
    assert location(champion["path"]).exists()
    assert decision.data.startswith("# Retrain of `capitals`: kept the champion")
    assert location(f"{s3_storage}/programs/capitals-{second.id}.json").exists()
    assert not any((base / "container-2").rglob("capitals-*.json"))
    # The runs, task runs and artifacts live in PostgreSQL, not in a SQLite file.
    assert await postgres.count("flow_run") >= 6  # retrain, fit, 3 epochs, evaluate
    assert await postgres.count("task_run") > 0
    assert await postgres.count("artifact") > 0
    assert not list((stack.base / "prefect").glob("*.db"))
