"""Durable state on shared storage, against a real S3 server on loopback (moto's)."""

import json
import os

import pytest
from helpers import KNOWLEDGE, as_student, capitals, capitals_program, kill_then_resume

import synaprefect as sp
from synaprefect import cli
from synaprefect.language_models import AuthenticationError
from synaprefect.orchestration import tracking
from synaprefect.storage import location
from synaprefect.testing import FaultPlan
from synaprefect.testing.s3 import LoopbackS3
from synaprefect.testing.skills import style_student
from synaprefect.trainers.replay import list_runs


def bucket_of(url: str) -> tuple[str, str]:
    bucket, _, prefix = url[len("s3://") :].partition("/")
    return bucket, prefix


def everything_stored(s3: LoopbackS3, url: str) -> str:
    bucket, prefix = bucket_of(url)
    client = s3.client()
    return "\n".join(
        client.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        for key in s3.keys(bucket, prefix)
    )


async def test_programs_and_variables_round_trip_through_s3(
    simulated_lm, s3_storage, loopback_s3, tmp_path, monkeypatch
):
    program = await capitals_program(as_student(simulated_lm), name="saved")
    program.save(f"{s3_storage}/saved.json")
    program.save_variables(f"{s3_storage}/saved.variables.json")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # another working directory: nothing local to lean on
    loaded = sp.Program.load(f"{s3_storage}/saved.json")
    assert loaded.get_state_tree() == program.get_state_tree()
    loaded.get_module("answerer").state.update({"instructions": "Changed."})
    loaded.load_variables(f"{s3_storage}/saved.variables.json")
    assert loaded.get_state_tree() == program.get_state_tree()
    bucket, prefix = bucket_of(s3_storage)
    assert set(loopback_s3.keys(bucket, prefix)) == {
        f"{prefix}/saved.json",
        f"{prefix}/saved.variables.json",
    }
    assert list(work.iterdir()) == []  # never a local folder named "s3:"
    stored = everything_stored(loopback_s3, s3_storage)
    assert LoopbackS3.secret_key not in stored and LoopbackS3.access_key not in stored


async def test_a_missing_or_corrupt_object_is_named_and_changes_nothing(
    simulated_lm, s3_storage, loopback_s3
):
    program = await capitals_program(as_student(simulated_lm), name="intact")
    before = program.get_state_tree()
    with pytest.raises(FileNotFoundError, match=f"{s3_storage}/gone.json"):
        sp.Program.load(f"{s3_storage}/gone.json")
    bucket, prefix = bucket_of(s3_storage)
    loopback_s3.client().put_object(
        Bucket=bucket, Key=f"{prefix}/torn.variables.json", Body=b'{"trainable_variables": {"answ'
    )
    with pytest.raises(ValueError, match=f"'{s3_storage}/torn.variables.json' is not valid JSON"):
        program.load_variables(f"{s3_storage}/torn.variables.json")
    assert program.get_state_tree() == before


def test_a_url_whose_package_is_missing_says_what_to_install():
    with pytest.raises(ImportError, match=r"pip install 'synaprefect\[gcs\]'"):
        location("gs://bucket/p.json").read_json()


@pytest.mark.e2e  # processes killed and run again
@pytest.mark.parametrize("tracked", [True], ids=["tracked"])
def test_a_killed_fit_resumes_in_a_fresh_home_from_the_bucket(
    prefect_api, simulated_lm_factory, s3_storage, loopback_s3, tmp_path, tracked
):
    # A new container: the second run has an empty SYNAPREFECT_HOME and only the bucket.
    server = simulated_lm_factory(responder=style_student(KNOWLEDGE), latency=0.05)
    reference, resumed, reference_calls, paid = kill_then_resume(
        server,
        tmp_path,
        tmp_path / "container-1",
        tmp_path / "container-2",
        tracked=tracked,
        env={"SYNAPREFECT_STORAGE": s3_storage},
    )
    assert not reference_calls - paid
    # Only the steps in flight at the kill are paid twice: one batch (4 samples) or one
    # update's candidates (4), plus the call(s) in flight (max_concurrency 2).
    assert sum((paid - reference_calls).values()) <= 4 + 2
    assert resumed["replayed"] > 0
    assert resumed["variables"] == reference["variables"]
    assert resumed["history"] == reference["history"]
    assert not (tmp_path / "container-2" / "runs").exists() or not any(
        (tmp_path / "container-2" / "runs").rglob("*.json")
    )  # the job finished: cleaned
    stored = everything_stored(loopback_s3, s3_storage)
    assert LoopbackS3.secret_key not in stored and LoopbackS3.access_key not in stored


def test_the_command_line_reads_and_writes_storage_urls(s3_storage, capsys, tmp_path, monkeypatch):
    data = os.path.join(os.path.dirname(__file__), "..", "flows", "data")
    rows = open(os.path.join(data, "capitals_holdout.jsonl"), "rb").read()
    location(f"{s3_storage}/holdout.jsonl").write_bytes(rows)
    program = f"{s3_storage}/capitals.json"
    assert (
        cli.main(
            [
                "fit",
                f"{s3_storage}/holdout.jsonl",
                "-o",
                program,
                "--epochs",
                "1",
                "--no-tracking",
                "--verbose",
                "0",
            ]
        )
        == 0
    )
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert (
        cli.main(
            [
                "predict",
                f"{s3_storage}/holdout.jsonl",
                "--program",
                program,
                "-o",
                f"{s3_storage}/predictions.jsonl",
                "--no-tracking",
            ]
        )
        == 0
    )
    predictions = location(f"{s3_storage}/predictions.jsonl").read_bytes().decode()
    assert len(predictions.splitlines()) == len(rows.splitlines())
    assert all("answer" in json.loads(line) for line in predictions.splitlines())
    assert list(work.iterdir()) == []
    capsys.readouterr()
    assert cli.main(["evaluate", f"{s3_storage}/missing.jsonl", "--program", program]) == 2
    assert f"file not found: '{s3_storage}/missing.jsonl'" in capsys.readouterr().err


async def test_run_state_lives_in_the_storage_and_is_removed_when_done(
    simulated_lm, s3_storage, loopback_s3, monkeypatch
):
    monkeypatch.setenv("SYNAPREFECT_STORAGE", s3_storage)
    program = await capitals_program(as_student(simulated_lm), name="stored")
    simulated_lm.set_faults(FaultPlan.at({4: "unauthorized"}))
    x, y = capitals(8)
    with tracking(False), pytest.raises(AuthenticationError):
        await program.evaluate(x, y, batch_size=4, verbose=0)
    bucket, prefix = bucket_of(s3_storage)
    keys = loopback_s3.keys(bucket, f"{prefix}/runs/stored/")
    assert any("/steps/" in k for k in keys) and any("/calls/" in k for k in keys)
    [run] = list_runs("stored")
    assert run["path"].startswith(s3_storage) and not run["finished"]
    simulated_lm.set_faults(None)
    with tracking(False):
        await program.evaluate(x, y, batch_size=4, verbose=0)
    assert program.replayed_steps == 1
    assert loopback_s3.keys(bucket, f"{prefix}/runs/stored/") == []


async def test_a_tuner_directory_in_the_bucket_resumes_on_another_machine(
    simulated_lm, s3_storage, loopback_s3, tmp_path, monkeypatch
):
    from test_tuners import builder, cold_answers_right, data

    from synaprefect import tuners

    simulated_lm.set_responder(cold_answers_right)
    directory = f"{s3_storage}/tuning"
    first = tuners.GridSearch(
        builder(simulated_lm, "remote"),
        objective="val_reward",
        directory=directory,
        project_name="remote",
        max_trials=3,
    )
    with tracking(False):
        await first.asearch(*data(2), validation_data=data(2, start=2), verbose=0)
    calls = simulated_lm.stats().requests
    bucket, prefix = bucket_of(directory)
    assert any(k.endswith("oracle.json") for k in loopback_s3.keys(bucket, prefix))

    monkeypatch.setenv("SYNAPREFECT_HOME", str(tmp_path / "another-machine"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = tuners.GridSearch(
        builder(simulated_lm, "remote"),
        objective="val_reward",
        directory=directory,
        project_name="remote",
        max_trials=3,
    )
    with tracking(False):
        await again.asearch(*data(2), validation_data=data(2, start=2), verbose=0)
    assert simulated_lm.stats().requests == calls  # every trial came back from the bucket
    assert len(again.oracle.trials) == 3
    assert again.get_best_hyperparameters()[0].values == {"temperature": 0.0}


async def test_every_attempt_of_a_step_uploads_all_the_answers_it_used(tmp_path):
    from synaprefect.language_models.call_store import use_call_store
    from synaprefect.trainers.replay import RunStore

    remote = location("memory://attempts/run")
    store = RunStore(tmp_path / "machine-1", remote=remote)
    price = {"cost": 0.5, "calls": 1.0, "tokens": 10.0}

    async def attempt(paid: list[str], fail: bool):
        for name in paid:
            if store.lookup(name) is None:
                store.record(name, {"answer": name}, price)
        if fail:
            raise ConnectionError("lost")
        return "done"

    with use_call_store(store):
        for paid in (["a", "b"], ["a", "b", "c"]):  # the second replays a and b, pays c
            with pytest.raises(ConnectionError):
                await store.step(["batch", 1], lambda paid=paid: attempt(paid, True))
    assert store.replayed_usage == {}  # a and b were paid by this attempt: counted live
    elsewhere = RunStore(tmp_path / "machine-2", remote=remote)
    assert [elsewhere.lookup(k) for k in "abc"] == [{"answer": k} for k in "abc"]
    # Their price came along: a budget on the other machine counts them, once each.
    assert [elsewhere.lookup(k) for k in "abc"] == [{"answer": k} for k in "abc"]
    assert elsewhere.replayed_usage == {"cost": 1.5, "calls": 3.0, "tokens": 30.0}


async def test_broken_answers_paid_on_one_machine_count_on_another(tmp_path):
    from synaprefect.language_models.call_store import use_call_store
    from synaprefect.trainers.replay import RunStore

    remote = location("memory://broken/run")
    store = RunStore(tmp_path / "machine-1", remote=remote)
    broken, price = (
        {"cost": 0.25, "calls": 0.0, "tokens": 4.0},
        {"cost": 0.5, "calls": 1.0, "tokens": 10.0},
    )

    async def attempt(fail: bool):
        if fail:  # a broken answer, then the step fails
            store.record_broken("a", broken)
            raise ConnectionError("lost")
        store.record("a", {"answer": "a"}, price)
        return "done"

    with use_call_store(store):
        with pytest.raises(ConnectionError):
            await store.step(["batch", 1], lambda: attempt(True))
        await store.step(["batch", 2], lambda: attempt(False))
    for machine in ("machine-2", "machine-2"):  # opened twice: nothing journaled twice
        elsewhere = RunStore(tmp_path / machine, remote=remote)
        assert elsewhere.lookup("a") == {"answer": "a"}
        assert elsewhere.replayed_usage == {"cost": 0.75, "calls": 1.0, "tokens": 14.0}
        elsewhere.close()
    assert (tmp_path / "machine-2" / "calls.jsonl").read_text().count("\n") == 2


def test_another_machines_writes_are_seen_at_once(s3_storage, loopback_s3):
    folder = location(f"{s3_storage}/runs/p")
    assert folder.files() == {}  # listed once: a listing cache would now hide new files
    bucket, prefix = bucket_of(s3_storage)
    loopback_s3.client().put_object(
        Bucket=bucket, Key=f"{prefix}/runs/p/job/complete.json", Body=b'{"complete": true}'
    )
    assert (folder / "job" / "complete.json").exists()
    assert folder.files() == {"job/complete.json": 18}


def test_urls_show_no_credentials_but_keep_container_names(monkeypatch):
    from synaprefect.storage import absolute, set_storage
    from synaprefect.storage.settings import options_for

    assert location("s3://key:secret@bucket/p.json").url == "s3://***@bucket/p.json"
    azure = "abfs://models@acct.dfs.core.windows.net/qa.json"
    assert location(azure).url == absolute(azure) == azure
    set_storage("s3://state/prefix", endpoint_url="http://127.0.0.1:9000")
    try:
        assert options_for("s3://state/other/p.json") == {"endpoint_url": "http://127.0.0.1:9000"}
        assert options_for("s3://another-bucket/p.json") == {}  # not sent elsewhere
    finally:
        set_storage(None)


def test_a_folder_mirror_writes_back_only_what_changed(tmp_path):
    from synaprefect.storage.mirror import FolderMirror

    remote = location("memory://mirror-test/tuning")
    (remote / "oracle.json").write_bytes(b'{"trials": 1}')
    (remote / "trial_0/trial.json").write_bytes(b'{"score": 0.5}')
    local = tmp_path / "mirror"
    (local / "stale").mkdir(parents=True)
    (local / "stale/left-over.json").write_bytes(b"{}")
    mirror = FolderMirror(remote, local)
    mirror.pull()
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*.json")) == [
        "oracle.json",
        "trial_0/trial.json",
    ]
    assert mirror.upload(mirror.changed_files()) == []  # nothing changed since the pull

    # A trial ends: the tool adds its files and rewrites the oracle.
    (local / "trial_1").mkdir()
    (local / "trial_1/trial.json").write_bytes(b'{"score": 0.7}')
    (local / "oracle.json").write_bytes(b'{"trials": 2}')
    (local / "trial_0/trial.json").write_bytes(b'{"score": 0.5}')  # same bytes again
    assert mirror.upload(mirror.changed_files()) == ["oracle.json", "trial_1/trial.json"]
    assert (remote / "oracle.json").read_bytes() == b'{"trials": 2}'
    assert (remote / "trial_1/trial.json").read_bytes() == b'{"score": 0.7}'
    assert mirror.upload(mirror.changed_files()) == []

    # Read where the tool writes, written elsewhere: a second upload of the same
    # snapshot (two trials ending together) writes nothing again.
    (local / "oracle.json").write_bytes(b'{"trials": 3}')
    snapshot = mirror.changed_files()
    assert snapshot == {"oracle.json": b'{"trials": 3}'}
    assert mirror.upload(snapshot) == ["oracle.json"] and mirror.upload(snapshot) == []


async def test_a_tuner_overwriting_its_project_in_the_bucket_keeps_the_others(
    simulated_lm, tmp_path, monkeypatch
):
    from test_tuners import builder

    from synaprefect import tuners

    monkeypatch.setenv("SYNAPREFECT_HOME", str(tmp_path / "home"))
    directory = location("memory://tuning-overwrite/searches")
    (directory / "other/oracle.json").write_bytes(b'{"other": true}')
    (directory / "mine/oracle.json").write_bytes(b'{"stale": true}')
    tuner = tuners.RandomSearch(
        builder(simulated_lm, "overwrite"),
        objective="reward",
        directory=directory.url,
        project_name="mine",
        overwrite=True,
        max_trials=1,
    )
    assert (directory / "other/oracle.json").read_bytes() == b'{"other": true}'
    assert not (directory / "mine/oracle.json").exists()  # the project started afresh
    assert not os.path.exists(os.path.join(tuner.directory, "other"))  # never pulled
