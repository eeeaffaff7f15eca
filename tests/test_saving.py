"""JSON-only, atomic saving of whole programs and of variables."""

import json

import pytest

import synaprefect as sp


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


class Notes(sp.Trainable):
    notes: list[str] = []
    extra: dict = {}


@sp.saving.register_synaprefect_serializable(package="tests")
class NoteTaker(sp.Module):
    """Returns its notes joined; keeps one trainable variable with an object field."""

    def __init__(self, prefix: str = "", **kwargs):
        super().__init__(**kwargs)
        self.prefix = prefix
        self.state = self.add_variable(data_model=Notes, name=f"state_{self.name}")

    async def call(self, inputs, training=False):
        if inputs is None:
            return None
        text = self.prefix + ",".join(self.state.get("notes"))
        return sp.JsonDataModel(schema=Answer.get_schema(), json={"answer": text})

    async def compute_output_spec(self, inputs, training=False):
        return Answer.to_symbolic_data_model()


async def make_program():
    x0 = sp.Input(data_model=Query)
    x1 = await NoteTaker(prefix=">", name="taker")(x0)
    x2 = await sp.Identity(name="echo")(x0)
    return sp.Program(inputs=x0, outputs=x1 & x2, name="saved", description="demo")


def set_notes(program, notes, extra=None):
    program.get_module("taker").state.update({"notes": notes, "extra": extra or {}})


async def test_program_round_trip_is_byte_identical(tmp_path):
    program = await make_program()
    set_notes(program, ["a", "b"], {"nested": {"deep": [1, 2]}})
    first = tmp_path / "program.json"
    program.save(first)
    loaded = sp.Program.load(first)
    assert isinstance(loaded, sp.Program) and loaded is not program
    assert loaded.get_module("taker").state.value() == program.get_module("taker").state.value()
    result = await loaded(Query(query="q"))
    assert result.get_json() == {"answer": ">a,b", "query": "q"}
    second = tmp_path / "again.json"
    loaded.save(second)
    assert first.read_bytes() == second.read_bytes()
    document = json.loads(first.read_text())
    assert list(document)[:2] == ["synaprefect_version", "module"]
    assert document["variables"]["trainable_variables"]["taker"]["state_taker"]["extra"] == {
        "nested": {"deep": [1, 2]}
    }


async def test_sequential_round_trip(tmp_path):
    program = sp.Sequential([sp.Input(data_model=Query), NoteTaker(name="t")], name="seq")
    program.get_module("t").state.update({"notes": ["x"]})
    path = tmp_path / "seq.json"
    program.save(path)
    loaded = sp.Program.load(path)
    assert isinstance(loaded, sp.Sequential)
    assert (await loaded(Query(query="q"))).get_json() == {"answer": "x"}


async def test_variables_only_round_trip(tmp_path):
    program = await make_program()
    set_notes(program, ["kept"], {"k": "v"})
    path = tmp_path / "weights.variables.json"
    program.save_variables(path)
    fresh = await make_program()
    fresh.load_variables(path)
    assert fresh.get_module("taker").state.value()["notes"] == ["kept"]
    assert fresh.get_module("taker").state.value()["extra"] == {"k": "v"}


async def test_paths_need_json_suffixes(tmp_path):
    program = await make_program()
    with pytest.raises(ValueError, match=r"ending with '\.json'.*my_program\.json"):
        program.save(tmp_path / "program.txt")
    with pytest.raises(ValueError, match=r"\.variables\.json"):
        program.save_variables(tmp_path / "program.json")


@pytest.mark.parametrize(
    "content,message",
    [
        ('{"synaprefect_version": "0.1.0", "module": ', "not valid JSON"),
        ("[1, 2]", "not a synaprefect program file"),
        (
            '{"class_name": "Nope", "config": {}, "variables": {}, "module": "os"}',
            "Unknown class 'Nope'",
        ),
    ],
)
def test_corrupt_program_files(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        sp.Program.load(path)


async def test_truncated_variables_leave_program_unchanged(tmp_path):
    program = await make_program()
    set_notes(program, ["original"])
    path = tmp_path / "v.variables.json"
    program.save_variables(path)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        program.load_variables(path)
    assert program.get_module("taker").state["notes"] == ["original"]


async def test_mismatched_variables_leave_program_unchanged(tmp_path):
    program = await make_program()
    set_notes(program, ["original"])
    path = tmp_path / "v.variables.json"
    program.save_variables(path)
    tree = json.loads(path.read_text())
    state = tree["trainable_variables"]["taker"]["state_taker"]
    state["notes"] = [1]  # wrong type
    path.write_text(json.dumps(tree))
    with pytest.raises(ValueError, match=r"state_taker.*notes.0.*Nothing was loaded"):
        program.load_variables(path)
    tree["trainable_variables"]["other"] = tree["trainable_variables"].pop("taker")
    path.write_text(json.dumps(tree))
    with pytest.raises(ValueError, match=r"architecture.*unexpected \['other/state_taker'\]"):
        program.load_variables(path)
    assert program.get_module("taker").state["notes"] == ["original"]


async def test_files_are_written_atomically(tmp_path):
    program = await make_program()
    path = tmp_path / "p.json"
    program.save(path)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "p.json"]
    assert leftovers == []
    with pytest.raises(FileExistsError):
        program.save(path, overwrite=False)


async def test_lambda_cannot_be_saved(tmp_path):
    x0 = sp.Input(data_model=Query)
    x1 = await sp.Lambda(lambda x: {"answer": "a"}, data_model=Answer)(x0)
    program = sp.Program(inputs=x0, outputs=x1)
    with pytest.raises(NotImplementedError, match="never serialised"):
        program.save(tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


@pytest.mark.parametrize(
    "entry",
    [
        # reachable from a synaprefect module, but not synaprefect's own
        {
            "class_name": "MeanMetricWrapper",
            "module": "synaprefect.metrics.reduction",
            "config": {"fn": "synaprefect.cli.commands:os.system", "name": "pwned"},
        },
        {"class_name": "Thread", "module": "synaprefect.testing.server", "config": {}},
    ],
)
def test_an_untrusted_file_cannot_name_what_synaprefect_only_imports(entry):
    from synaprefect.utils.serialization import deserialize_object

    with pytest.raises(ValueError, match="Unknown"):
        deserialize_object(entry)
