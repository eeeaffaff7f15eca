"""Callbacks, driven by hand the way ``fit`` drives them, on a real program."""

import csv
import io
import json
import re
import sys

import pytest

import synaprefect as sp
from synaprefect.callbacks import (
    BackupAndRestore,
    Callback,
    CallbackList,
    CSVLogger,
    EarlyStopping,
    History,
    ProgbarLogger,
    ProgramCheckpoint,
)


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


class ScribeNotes(sp.Trainable):
    notes: list[str] = []


@sp.saving.register_synaprefect_serializable(package="tests_callbacks")
class Scribe(sp.Module):
    """Answers with its notes; owns one trainable variable."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.state = self.add_variable(data_model=ScribeNotes, name=f"state_{self.name}")

    async def call(self, inputs, training=False):
        if inputs is None:
            return None
        notes = ",".join(self.state.get("notes"))
        return sp.JsonDataModel(schema=Answer.get_schema(), json={"answer": notes})

    async def compute_output_spec(self, inputs, training=False):
        return Answer.to_symbolic_data_model()


async def make_program():
    x0 = sp.Input(data_model=Query)
    x1 = await Scribe(name="scribe")(x0)
    program = sp.Program(inputs=x0, outputs=x1, name="scribed")
    program.stop_training = False
    return program


def notes_of(program):
    return program.get_module("scribe").state.value()["notes"]


def set_notes(program, notes):
    program.get_module("scribe").state.update({"notes": notes})


class Crash(Exception):
    pass


def train(program, callbacks, epoch_logs, steps=1, crash_at=None, verbose=0):
    """Drive the hooks like ``fit``: returns the epochs that ran.

    The "optimizer" writes ``epoch E batch B`` into the notes after every batch and
    ``epoch E`` at every epoch end, before the callbacks see the logs. ``crash_at``
    (epoch, batch) raises there, so ``on_train_end`` is never called.
    """
    callback_list = CallbackList(
        callbacks, program=program, epochs=len(epoch_logs), steps=steps, verbose=verbose
    )
    program.stop_training = False
    callback_list.on_train_begin()
    initial_epoch = getattr(program, "_initial_epoch", None) or 0
    ran = []
    logs = None
    for epoch in range(initial_epoch, len(epoch_logs)):
        callback_list.on_epoch_begin(epoch)
        for batch in range(steps):
            if crash_at == (epoch, batch):
                raise Crash(f"simulated crash at epoch {epoch}, batch {batch}")
            callback_list.on_train_batch_begin(batch)
            set_notes(program, [f"epoch {epoch} batch {batch}"])
            callback_list.on_train_batch_end(batch, {"reward": 0.1 * (batch + 1)})
        set_notes(program, [f"epoch {epoch}"])
        logs = epoch_logs[epoch]
        callback_list.on_epoch_end(epoch, logs)
        ran.append(epoch)
        if program.stop_training:
            break
    callback_list.on_train_end(logs)
    return ran


def rewards(*values, key="val_reward"):
    return [{"reward": 0.0, key: value} for value in values]


# ---- Callback and CallbackList -----------------------------------------------------------


class Recorder(Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        attribute = super().__getattribute__(name)
        if name.startswith("on_"):
            calls = super().__getattribute__("calls")
            return lambda *args: calls.append((name, *args))
        return attribute


async def test_callback_list_forwards_every_hook_in_order():
    program = await make_program()
    first, second = Recorder(), Recorder()
    callbacks = CallbackList([first, second], program=program, epochs=2, steps=3, verbose=0)
    assert first.program is program and second.params == {"epochs": 2, "steps": 3, "verbose": 0}
    hooks = [
        ("on_train_begin", {"a": 1}),
        ("on_train_end", {"a": 2}),
        ("on_epoch_begin", 0, None),
        ("on_epoch_end", 0, {"reward": 1.0}),
        ("on_train_batch_begin", 1, None),
        ("on_train_batch_end", 1, {"reward": 0.5}),
        ("on_test_begin", None),
        ("on_test_end", {"reward": 0.2}),
        ("on_test_batch_begin", 2, None),
        ("on_test_batch_end", 2, {"reward": 0.3}),
        ("on_predict_begin", None),
        ("on_predict_end", None),
        ("on_predict_batch_begin", 3, None),
        ("on_predict_batch_end", 3, None),
    ]
    for name, *args in hooks:
        getattr(callbacks, name)(*args)
    assert first.calls == second.calls == [tuple(hook) for hook in hooks]


def test_callback_list_adds_history_and_progbar_once():
    given = History()
    callbacks = CallbackList([given], add_history=True, add_progbar=True)
    assert [type(c) for c in callbacks.callbacks] == [History, ProgbarLogger]
    assert callbacks.callbacks[0] is given
    callbacks = CallbackList(EarlyStopping(), add_history=True, add_progbar=False)
    assert [type(c) for c in callbacks.callbacks] == [EarlyStopping, History]
    assert CallbackList().callbacks == []


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match=r"instance of synaprefect.callbacks.Callback.*dict"):
        CallbackList([{"on_epoch_end": print}])


async def test_custom_callback_from_the_docstring_can_stop_training():
    class StopWhenPerfect(Callback):
        def on_train_batch_end(self, batch, logs=None):
            if (logs or {}).get("reward") == 1.0:
                self.program.stop_training = True

    program = await make_program()
    callbacks = CallbackList([StopWhenPerfect()], program=program)
    callbacks.on_train_batch_end(0, {"reward": 0.5})
    assert program.stop_training is False
    callbacks.on_train_batch_end(1, {"reward": 1.0})
    assert program.stop_training is True


# ---- History -------------------------------------------------------------------------------


async def test_history_records_each_epoch_and_is_set_on_the_program():
    program = await make_program()
    history = History()
    logs = [{"reward": 0.5, "val_reward": 0.6}, {"reward": 0.7, "val_reward": 0.8}]
    train(program, [history], logs)
    assert program.history is history
    assert history.epoch == [0, 1]
    assert history.history == {"reward": [0.5, 0.7], "val_reward": [0.6, 0.8]}
    train(program, [history], logs[:1])
    assert history.history == {"reward": [0.5], "val_reward": [0.6]}
    assert history.epoch == [0]


# ---- EarlyStopping ---------------------------------------------------------------------------


async def test_early_stopping_waits_for_patience():
    program = await make_program()
    stopper = EarlyStopping(patience=2)
    assert train(program, [stopper], rewards(0.5, 0.6, 0.6, 0.6, 0.9)) == [0, 1, 2, 3]
    assert stopper.stopped_epoch == 3 and stopper.best == 0.6 and stopper.best_epoch == 1
    assert program.stop_training is True


async def test_early_stopping_default_patience_stops_at_first_stall():
    program = await make_program()
    stopper = EarlyStopping()
    assert train(program, [stopper], rewards(0.5, 0.4, 0.9)) == [0, 1]
    assert stopper.stopped_epoch == 1


async def test_early_stopping_min_delta():
    program = await make_program()
    assert train(program, [EarlyStopping(patience=1, min_delta=0.1)], rewards(0.5, 0.55, 0.58)) == [
        0,
        1,
    ]
    assert train(
        program, [EarlyStopping(patience=1, min_delta=0.01)], rewards(0.5, 0.55, 0.58)
    ) == [0, 1, 2]


async def test_early_stopping_baseline_must_be_beaten():
    program = await make_program()
    values = rewards(0.5, 0.6, 0.6, 0.6)
    assert train(program, [EarlyStopping(patience=2)], values) == [0, 1, 2, 3]
    stopper = EarlyStopping(patience=2, baseline=0.8)
    assert train(program, [stopper], values) == [0, 1, 2]
    assert stopper.stopped_epoch == 2


async def test_early_stopping_start_from_epoch():
    program = await make_program()
    values = rewards(0.9, 0.5, 0.4, 0.3, 0.2)
    assert train(program, [EarlyStopping()], values) == [0, 1]
    stopper = EarlyStopping(start_from_epoch=2)
    assert train(program, [stopper], values) == [0, 1, 2, 3]
    assert stopper.best == 0.4 and stopper.best_epoch == 2


async def test_early_stopping_missing_monitor_warns_and_never_stops():
    program = await make_program()
    stopper = EarlyStopping(monitor="val_reward", patience=0, stop_at=1.0)
    logs = [{"reward": 1.0, "accuracy": 0.5}] * 3
    with pytest.warns(
        UserWarning,
        match=r"'val_reward'.*not in the logs.*\['accuracy', "
        r"'reward'\]",
    ):
        assert train(program, [stopper], logs) == [0, 1, 2]
    assert stopper.stopped_epoch is None and program.stop_training is False
    with pytest.warns(UserWarning, match="is None"):
        assert train(program, [stopper], rewards(None, None)) == [0, 1]


async def test_early_stopping_restores_the_best_variables():
    program = await make_program()
    stopper = EarlyStopping(patience=2, restore_best_variables=True)

    class MutateInPlace(Callback):
        def on_epoch_end(self, epoch, logs=None):
            # A sloppy optimizer mutating the value in place must not alter the snapshot.
            self.program.get_module("scribe").state.value()["notes"].append("mutated")

    assert train(program, [stopper, MutateInPlace()], rewards(0.5, 0.9, 0.6, 0.4)) == [0, 1, 2, 3]
    assert stopper.best_epoch == 1
    assert notes_of(program) == ["epoch 1"]


async def test_early_stopping_without_restore_keeps_the_last_variables():
    program = await make_program()
    train(program, [EarlyStopping(patience=1)], rewards(0.5, 0.9, 0.6))
    assert notes_of(program) == ["epoch 2"]


async def test_early_stopping_stop_at_is_opt_in_and_direction_aware():
    program = await make_program()
    assert train(program, [EarlyStopping(patience=5)], rewards(0.5, 1.0, 1.0)) == [0, 1, 2]
    stopper = EarlyStopping(patience=5, stop_at=1.0)
    assert train(program, [stopper], rewards(0.5, 1.0, 1.0)) == [0, 1]
    assert stopper.stopped_epoch == 1
    latency = EarlyStopping(monitor="val_latency", patience=5, stop_at=0.2)
    assert latency._metric.resolve(program) == "min"
    assert train(program, [latency], rewards(0.9, 0.5, 0.1, 0.05, key="val_latency")) == [0, 1, 2]


async def test_early_stopping_mode_resolution():
    program = await make_program()
    # A direction declared by the compiled metric wins over the name.
    program.metric_direction = lambda name: "down" if name == "val_reward" else None
    stopper = EarlyStopping(patience=0)
    assert train(program, [stopper], rewards(0.9, 0.5, 0.7)) == [0, 1, 2]
    assert stopper.best == 0.5
    explicit = EarlyStopping(patience=0, mode="max")
    assert train(program, [explicit], rewards(0.9, 0.5, 0.7)) == [0, 1]

    program = await make_program()
    assert EarlyStopping(monitor="val_accuracy")._metric.resolve(program) == "max"
    assert EarlyStopping(monitor="cost")._metric.resolve(program) == "min"
    with pytest.raises(ValueError, match=r"'val_novelty'.*mode='max'.*mode='min'"):
        train(program, [EarlyStopping(monitor="val_novelty")], rewards(0.5))
    with pytest.raises(ValueError, match=r"unknown mode='biggest'.*'max'"):
        EarlyStopping(mode="biggest")


# ---- ProgramCheckpoint ---------------------------------------------------------------------


async def test_checkpoint_formats_file_names_each_epoch(tmp_path):
    program = await make_program()
    pattern = str(tmp_path / "ckpt" / "epoch_{epoch:02d}-{val_reward:.2f}.json")
    train(program, [ProgramCheckpoint(pattern)], rewards(0.5, 0.75))
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == [
        "epoch_01-0.50.json",
        "epoch_02-0.75.json",
    ]
    loaded = sp.Program.load(tmp_path / "ckpt" / "epoch_01-0.50.json")
    assert notes_of(loaded) == ["epoch 0"]


async def test_checkpoint_best_only_keeps_the_best(tmp_path, capsys):
    program = await make_program()
    path = tmp_path / "best.json"
    checkpoint = ProgramCheckpoint(path, save_best_only=True, verbose=1)
    train(program, [checkpoint], rewards(0.5, 0.8, 0.6, 0.7))
    assert checkpoint.best == 0.8
    assert notes_of(sp.Program.load(path)) == ["epoch 1"]
    out = capsys.readouterr().out
    assert "Epoch 2: val_reward improved from 0.5000 to 0.8000." in out
    assert "Epoch 3: val_reward did not improve from 0.8000." in out

    fresh = tmp_path / "threshold.json"
    train(
        program,
        [ProgramCheckpoint(fresh, save_best_only=True, initial_value_threshold=0.9)],
        rewards(0.5, 0.8),
    )
    assert not fresh.exists()


async def test_checkpoint_best_only_in_min_mode(tmp_path):
    program = await make_program()
    path = tmp_path / "fastest.json"
    train(
        program,
        [ProgramCheckpoint(path, monitor="val_latency", save_best_only=True)],
        rewards(0.5, 0.2, 0.3, key="val_latency"),
    )
    assert notes_of(sp.Program.load(path)) == ["epoch 1"]


async def test_checkpoint_variables_only_is_loadable(tmp_path):
    program = await make_program()
    path = tmp_path / "weights.variables.json"
    train(program, [ProgramCheckpoint(path, save_variables_only=True)], rewards(0.5, 0.6))
    assert "class_name" not in json.loads(path.read_text())
    fresh = await make_program()
    fresh.load_variables(path)
    assert notes_of(fresh) == ["epoch 1"]


async def test_checkpoint_every_n_batches(tmp_path):
    program = await make_program()
    pattern = str(tmp_path / "e{epoch}_b{batch}.variables.json")
    train(
        program,
        [ProgramCheckpoint(pattern, save_variables_only=True, save_freq=2)],
        rewards(0.5, 0.6),
        steps=3,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "e1_b2.variables.json",
        "e2_b1.variables.json",
        "e2_b3.variables.json",
    ]
    fresh = await make_program()
    fresh.load_variables(tmp_path / "e2_b1.variables.json")
    assert notes_of(fresh) == ["epoch 1 batch 0"]


async def test_checkpoint_missing_monitor_warns_and_skips(tmp_path):
    program = await make_program()
    path = tmp_path / "best.json"
    with pytest.warns(UserWarning, match=r"ProgramCheckpoint monitors 'val_reward'"):
        train(program, [ProgramCheckpoint(path, save_best_only=True)], [{"reward": 0.5}])
    assert not path.exists()


@pytest.mark.parametrize(
    "filepath,variables_only,message",
    [
        ("ckpt.txt", False, r"must end with '\.json', got 'ckpt\.txt'"),
        ("ckpt.json", True, r"must end with '\.variables\.json'"),
        ("ckpt.variables.json", False, r"Pass save_variables_only=True"),
    ],
)
def test_checkpoint_checks_the_file_suffix(filepath, variables_only, message):
    with pytest.raises(ValueError, match=message):
        ProgramCheckpoint(filepath, save_variables_only=variables_only)


@pytest.mark.parametrize("save_freq", ["batch", 0, -2, 1.5, True])
def test_checkpoint_checks_save_freq(save_freq):
    with pytest.raises(ValueError, match=r"'epoch' or a positive number of batches"):
        ProgramCheckpoint("c.json", save_freq=save_freq)


async def test_checkpoint_unknown_placeholder_names_the_available_ones(tmp_path):
    program = await make_program()
    checkpoint = ProgramCheckpoint(str(tmp_path / "c_{val_acc}.json"))
    with pytest.raises(ValueError, match=r"\{val_acc\}.*\['epoch', 'reward', 'val_reward'\]"):
        train(program, [checkpoint], rewards(0.5))


# ---- BackupAndRestore ------------------------------------------------------------------------


async def test_backup_resumes_after_the_last_finished_epoch(tmp_path):
    backup_dir = tmp_path / "backup"
    program = await make_program()
    with pytest.raises(Crash):
        train(program, [BackupAndRestore(backup_dir)], rewards(0.1, 0.2, 0.3, 0.4), crash_at=(2, 0))
    metadata = json.loads((backup_dir / "training_metadata.json").read_text())
    assert metadata == {"epoch": 1, "batch": None}

    restarted = await make_program()
    history = History()
    ran = train(restarted, [BackupAndRestore(backup_dir), history], rewards(0.1, 0.2, 0.3, 0.4))
    assert restarted._initial_epoch == 2
    assert ran == [2, 3] and history.epoch == [2, 3]
    assert not backup_dir.exists()


async def test_backup_restores_the_variables_into_a_new_program(tmp_path):
    backup_dir = tmp_path / "backup"
    program = await make_program()
    with pytest.raises(Crash):
        train(program, [BackupAndRestore(backup_dir)], rewards(0.1, 0.2, 0.3), crash_at=(1, 0))
    restarted = await make_program()
    backup = BackupAndRestore(backup_dir)
    backup.set_program(restarted)
    backup.on_train_begin()
    assert notes_of(restarted) == ["epoch 0"]
    assert restarted._initial_epoch == 1


async def test_mid_epoch_backup_restarts_that_epoch(tmp_path):
    backup_dir = tmp_path / "backup"
    program = await make_program()
    with pytest.raises(Crash):
        train(
            program,
            [BackupAndRestore(backup_dir, save_freq=2)],
            rewards(0.1, 0.2),
            steps=3,
            crash_at=(1, 2),
        )
    metadata = json.loads((backup_dir / "training_metadata.json").read_text())
    assert metadata == {"epoch": 1, "batch": 1}
    restarted = await make_program()
    backup = BackupAndRestore(backup_dir, save_freq=2)
    backup.set_program(restarted)
    backup.on_train_begin()
    assert notes_of(restarted) == ["epoch 1 batch 1"]
    assert restarted._initial_epoch == 1


async def test_backup_deletion_is_optional_and_spares_other_files(tmp_path):
    program = await make_program()
    kept = tmp_path / "kept"
    train(program, [BackupAndRestore(kept, delete_checkpoint=False)], rewards(0.1))
    assert sorted(p.name for p in kept.iterdir()) == [
        "latest.variables.json",
        "training_metadata.json",
    ]
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "notes.txt").write_text("mine")
    train(program, [BackupAndRestore(shared)], rewards(0.1))
    assert [p.name for p in shared.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    "metadata,variables,message",
    [
        ('{"epoch": 1, "ba', True, r"not valid JSON.*To start training over, delete"),
        ('{"epoch": "one", "batch": null}', True, r'should hold \{"epoch": <int>.*corrupt'),
        ('{"epoch": 1}', True, r"corrupt"),
        ('{"epoch": 1, "batch": null}', False, r"incomplete.*latest\.variables\.json"),
        ('{"epoch": 1, "batch": null}', "{", r"truncated or corrupt.*delete"),
    ],
)
async def test_corrupt_backup_raises_instead_of_starting_over(
    tmp_path, metadata, variables, message
):
    program = await make_program()
    backup_dir = tmp_path / "backup"
    backup_dir.mkdir()
    (backup_dir / "training_metadata.json").write_text(metadata)
    if variables is True:
        program.save_variables(backup_dir / "latest.variables.json")
    elif variables:
        (backup_dir / "latest.variables.json").write_text(variables)
    backup = BackupAndRestore(backup_dir)
    backup.set_program(program)
    with pytest.raises(ValueError, match=message):
        backup.on_train_begin()
    assert getattr(program, "_initial_epoch", None) is None


# ---- CSVLogger -----------------------------------------------------------------------------


def read_csv(path, separator=","):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle, delimiter=separator))


async def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    program = await make_program()
    path = tmp_path / "logs" / "training.csv"
    logs = [
        {"val_reward": 0.6, "reward": 0.5, "accuracy": 0.25, "val_accuracy": 0.5},
        {"val_reward": 0.8, "reward": 0.7, "accuracy": [1, 2], "val_accuracy": 0.75},
    ]
    train(program, [CSVLogger(path)], logs)
    rows = read_csv(path)
    assert rows[0] == ["epoch", "accuracy", "reward", "val_accuracy", "val_reward"]
    assert rows[1] == ["0", "0.25", "0.5", "0.5", "0.6"]
    assert rows[2] == ["1", "[1, 2]", "0.7", "0.75", "0.8"]
    assert '"[1, 2]"' in path.read_text()


async def test_csv_logger_rows_are_on_disk_at_each_epoch_end(tmp_path):
    program = await make_program()
    path = tmp_path / "training.csv"
    with pytest.raises(Crash):
        train(program, [CSVLogger(path)], rewards(0.5, 0.6, 0.7), crash_at=(2, 0))
    assert [row[0] for row in read_csv(path)] == ["epoch", "0", "1"]


async def test_csv_logger_append_and_overwrite(tmp_path):
    program = await make_program()
    path = tmp_path / "training.csv"
    train(program, [CSVLogger(path, separator=";")], rewards(0.5))
    train(program, [CSVLogger(path, separator=";", append=True)], rewards(0.6))
    assert read_csv(path, ";") == [
        ["epoch", "reward", "val_reward"],
        ["0", "0.0", "0.5"],
        ["0", "0.0", "0.6"],
    ]
    train(program, [CSVLogger(path, separator=";")], rewards(0.7))
    assert read_csv(path, ";") == [["epoch", "reward", "val_reward"], ["0", "0.0", "0.7"]]


async def test_csv_logger_reserves_validation_columns(tmp_path):
    # With validation every other epoch, the first epoch has no val_ keys.
    program = await make_program()
    path = tmp_path / "training.csv"
    train(program, [CSVLogger(path)], [{"reward": 0.5}, {"reward": 0.6, "val_reward": 0.7}])
    assert read_csv(path) == [
        ["epoch", "reward", "val_reward"],
        ["0", "0.5", "NA"],
        ["1", "0.6", "0.7"],
    ]


# ---- ProgbarLogger -------------------------------------------------------------------------

DURATION = r"\d+(ms|s)"


async def test_progbar_verbose_2_prints_one_line_per_epoch(capsys):
    program = await make_program()
    train(program, [ProgbarLogger()], rewards(0.5, 0.75), steps=3, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.fullmatch(rf"3/3 - {DURATION} - reward: 0\.0000 - val_reward: 0\.5000", lines[1])
    assert re.fullmatch(rf"3/3 - {DURATION} - reward: 0\.0000 - val_reward: 0\.7500", lines[3])
    assert len(lines) == 4


async def test_progbar_verbose_1_without_a_terminal_prints_the_bar_once(capsys):
    program = await make_program()
    train(program, [ProgbarLogger()], rewards(0.5), steps=3, verbose=1)
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/1"
    assert re.fullmatch(
        rf"3/3 \[={{30}}\] - {DURATION} - reward: 0\.0000 - val_reward: "
        r"0\.5000",
        lines[1],
    )


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


async def test_progbar_verbose_1_on_a_terminal_redraws_in_place(monkeypatch):
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, "stdout", terminal)
    program = await make_program()
    train(program, [ProgbarLogger()], rewards(0.5), steps=3, verbose=1)
    out = terminal.getvalue()
    assert out.startswith("Epoch 1/1\n")
    frames = out[len("Epoch 1/1\n") :].split("\r")[1:]
    assert re.fullmatch(rf"1/3 \[=========>\.{{20}}\] - {DURATION} - reward: 0\.1000", frames[0])
    assert re.match(r"2/3 \[={19}>\.{10}\]", frames[1])
    assert re.match(r"3/3 \[={30}\] .* - reward: 0\.3000", frames[2])
    assert frames[3].rstrip(" \n").endswith("reward: 0.0000 - val_reward: 0.5000")
    assert frames[3].endswith("\n") and len(frames) == 4


async def test_progbar_verbose_0_is_silent_and_evaluate_gets_its_own_bar(capsys):
    program = await make_program()
    train(program, [ProgbarLogger()], rewards(0.5), steps=2, verbose=0)
    assert capsys.readouterr().out == ""

    progbar = ProgbarLogger()
    callbacks = CallbackList([progbar], program=program, steps=2, verbose=1)
    callbacks.on_test_begin()
    callbacks.on_test_batch_end(0, {"reward": 1.0})
    callbacks.on_test_batch_end(1, {"reward": 0.5})
    callbacks.on_test_end({"reward": 0.75})
    assert re.fullmatch(
        rf"2/2 \[={{30}}\] - {DURATION} - reward: 0\.7500\n", capsys.readouterr().out
    )


def test_progbar_only_counts_steps():
    with pytest.raises(ValueError, match="count_mode must be 'steps', got 'samples'"):
        ProgbarLogger(count_mode="samples")


async def test_progbar_with_an_unknown_number_of_steps(capsys):
    program = await make_program()
    callbacks = CallbackList([ProgbarLogger()], program=program, epochs=None, steps=None, verbose=1)
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    callbacks.on_train_batch_end(0, {"reward": 1.0})
    callbacks.on_epoch_end(0, {"reward": 1.0})
    callbacks.on_train_end()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1"
    assert re.fullmatch(rf"1/Unknown - {DURATION} - reward: 1\.0000", lines[1])
