"""Dataset files -> rows -> samples, and the helpers the flows and the CLI share."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import synaprefect as sp
from synaprefect import datasets, recipes
from synaprefect.datasets import DatasetError, Rows, load_rows, to_samples
from synaprefect.orchestration import tracking
from synaprefect.testing.skills import load_capitals

ROWS, _ = load_capitals()
DATA = Path(__file__).resolve().parents[1] / "flows" / "data"


class Query(sp.DataModel):
    query: str


class Answer(sp.DataModel):
    answer: str


class Scored(sp.DataModel):
    score: int


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def error_at(where) -> str:
    return f"^{re.escape(str(where))}"


# ---- load_rows -------------------------------------------------------------------------


def test_json_array_rows_know_the_line_they_start_on(tmp_path):
    path = write(tmp_path / "rows.json", json.dumps(ROWS[:3], indent=2))
    rows = load_rows(path)
    assert rows == ROWS[:3]
    assert rows.lines == [2, 6, 10]
    assert rows.where(2) == f"{path}:10"


def test_json_object_with_rows_skips_other_keys(tmp_path):
    document = {"description": "x", "rows_meta": {"rows": [1]}, "rows": ROWS[:2]}
    path = write(tmp_path / "rows.json", json.dumps(document, indent=1))
    rows = load_rows(path)
    assert rows == ROWS[:2]
    assert [path.read_text().splitlines()[line - 1].strip() for line in rows.lines] == ["{", "{"]
    assert rows.lines[0] > 5


def test_jsonl_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = write(tmp_path / "rows.jsonl", f"{json.dumps(ROWS[0])}\n\n{json.dumps(ROWS[1])}\n")
    rows = load_rows(path)
    assert rows == ROWS[:2] and rows.lines == [1, 3]


def test_csv_rows_are_strings_and_a_quoted_value_may_span_lines(tmp_path):
    path = write(
        tmp_path / "rows.csv", 'query,answer\n"What, in\ntwo lines?",PARIS\n\nsecond,ROME\n'
    )
    rows = load_rows(path)
    assert rows == [
        {"query": "What, in\ntwo lines?", "answer": "PARIS"},
        {"query": "second", "answer": "ROME"},
    ]
    assert rows.lines == [2, 5]


def test_bundled_flow_data_is_the_demo_dataset():
    train = load_rows(DATA / "capitals.jsonl")
    holdout = load_rows(DATA / "capitals_holdout.jsonl")
    assert train + holdout == ROWS and len(holdout) == 12


@pytest.mark.parametrize(
    "name, text, where, message",
    [
        ("rows.jsonl", '{"query": "a"}\n{"query": "b"\n', 2, "not valid JSON"),
        ("rows.jsonl", '{"query": "a"}\n["b"]\n', 2, "a row must be a JSON object"),
        ("rows.json", '[\n  {"query": "a"},\n  {"query": }\n]', 3, "not valid JSON"),
        ("rows.json", '[\n  {"query": "a"},\n  "b"\n]', 3, "a row must be a JSON object"),
        (
            "rows.json",
            '{"data": []}',
            1,
            'a JSON object dataset needs a "rows" array; found '
            r"the keys \['data'\]",
        ),
        (
            "rows.json",
            '{"rows": 3}',
            1,
            'a JSON object dataset needs a "rows" array; its "rows" is a number',
        ),
        (
            "rows.json",
            '"rows"',
            1,
            'expected an array of rows or an object with a "rows" array, got a string',
        ),
        ("rows.csv", "query,answer\na,b\nc\n", 3, r"1 value\(s\), but the header \(line 1\)"),
        ("rows.csv", "query,query\na,b\n", 1, "the header must name every column once"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path, name, text, where, message):
    path = write(tmp_path / name, text)
    with pytest.raises(DatasetError, match=f"{error_at(path)}:{where}: {message}"):
        load_rows(path)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("rows.csv", "", "empty CSV file"),
        ("rows.jsonl", "\n\n", "the dataset has no rows"),
        ("rows.txt", "query\n", "unsupported dataset format '.txt'; use .json"),
    ],
)
def test_unusable_files_are_named(tmp_path, name, text, message):
    path = write(tmp_path / name, text)
    with pytest.raises(DatasetError, match=f"{error_at(path)}: {message}"):
        load_rows(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"Dataset file not found: '{tmp_path}/no"):
        load_rows(tmp_path / "no.jsonl")


def test_non_utf8_text_is_named(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_bytes(b"query\n\xff\n")
    with pytest.raises(DatasetError, match=f"{error_at(path)}: not UTF-8 text"):
        load_rows(path)


# ---- to_samples ------------------------------------------------------------------------


def test_to_samples_maps_columns_onto_data_models_and_ignores_others():
    rows = Rows([{"id": "1", **row} for row in ROWS[:2]])
    x, y = to_samples(rows, Query, Answer)
    assert isinstance(x, np.ndarray) and x.dtype == object
    assert list(x) == [Query(query=r["query"]) for r in ROWS[:2]]
    assert list(y) == [Answer(answer=r["answer"]) for r in ROWS[:2]]
    x, y = to_samples(rows, Query)
    assert y is None and len(x) == 2


def test_to_samples_renames_columns_and_coerces_csv_strings(tmp_path):
    path = write(tmp_path / "rows.csv", "question,points\nwhy?,3\n")
    x, y = to_samples(
        load_rows(path), Query, Scored, columns={"query": "question", "score": "points"}
    )
    assert x[0] == Query(query="why?") and y[0] == Scored(score=3)


def test_a_missing_column_names_the_file_line_and_column(tmp_path):
    path = write(tmp_path / "rows.jsonl", '{"query": "a", "answer": "b"}\n\n{"query": "c"}\n')
    with pytest.raises(
        DatasetError,
        match=(
            f"{error_at(path)}:3: missing column 'answer' \\(field 'answer' of Answer\\); "
            r"the row has the columns \['query'\]"
        ),
    ):
        to_samples(load_rows(path), Query, Answer)


def test_a_value_of_the_wrong_type_names_the_row_and_field():
    with pytest.raises(
        DatasetError,
        match=r"^row 2: the row does not fit Scored: field "
        r"`score`: Input should be a valid integer",
    ):
        to_samples([{"score": 1}, {"score": "many"}], Scored)


async def test_to_samples_follows_a_programs_schemas(simulated_lm):
    lm = sp.LanguageModel(simulated_lm.model, api_base=simulated_lm.base_url, api_key="sk-x")
    program = await recipes.default_program(Query, Answer, lm, name="schemas")
    x, y = to_samples(ROWS[:2], program.inputs, program.outputs)
    assert isinstance(x[0], sp.JsonDataModel)
    assert [s.get_json() for s in y] == [{"answer": r["answer"]} for r in ROWS[:2]]
    with pytest.raises(
        DatasetError,
        match=r"^row 1: the row does not fit Query: field "
        r"`query`: 7 is not of type 'string'",
    ):
        to_samples([{"query": 7, "answer": "x"}], program.inputs, program.outputs)
    with pytest.raises(TypeError, match="several inputs or outputs"):
        to_samples(ROWS[:1], [program.inputs])


# ---- data models, programs and language models -----------------------------------------


def test_data_models_for_take_the_last_column_as_output_by_default():
    inputs, outputs = datasets.data_models_for(Rows([{"context": "c", **ROWS[0]}]))
    assert list(inputs.keys()) == ["context", "query"] and list(outputs.keys()) == ["answer"]
    assert outputs.get_schema()["properties"]["answer"]["type"] == "string"
    inputs, outputs = datasets.data_models_for(ROWS, ["answer"], ["query"])
    assert list(inputs.keys()) == ["answer"] and list(outputs.keys()) == ["query"]


def test_data_models_for_name_a_missing_or_unusable_column(tmp_path):
    path = write(tmp_path / "rows.csv", "my query,answer\na,b\n")
    with pytest.raises(
        DatasetError,
        match=f"{error_at(path)}:2: no column 'query'; the "
        r"columns are \['my query', 'answer'\]",
    ):
        datasets.data_models_for(load_rows(path), ["query"])
    with pytest.raises(DatasetError, match="column 'my query' cannot be a field name"):
        datasets.data_models_for(load_rows(path))
    with pytest.raises(ValueError, match="at least one input and one output field"):
        datasets.data_models_for(ROWS, ["answer"], ["answer"])


def test_open_language_model_takes_a_model_string_or_the_environment(monkeypatch):
    with recipes.open_language_model("openai/gpt-4o-mini", "http://127.0.0.1:9/v1") as lm:
        assert (lm.model, lm.api_base) == ("openai/gpt-4o-mini", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("SYNAPREFECT_MODEL", "ollama/llama3")
    with recipes.open_language_model() as lm:
        assert lm.model == "ollama_chat/llama3"
    monkeypatch.setenv("SYNAPREFECT_MODEL", "simulated")
    with pytest.raises(ValueError, match="does not go with the simulated LM"):
        with recipes.open_language_model(api_base="http://127.0.0.1:9/v1"):
            pass


def test_without_a_model_nothing_starts(monkeypatch):
    # Production jobs never fall back to the fake model: no model is an error up front.
    monkeypatch.delenv("SYNAPREFECT_MODEL", raising=False)
    with pytest.raises(ValueError, match="No language model chosen.*'simulated'"):
        with recipes.open_language_model():
            pass


async def test_default_program_learns_the_house_style_on_the_simulated_lm():
    rows = load_rows(DATA / "capitals.jsonl")
    holdout = load_rows(DATA / "capitals_holdout.jsonl")
    with tracking(False), recipes.open_language_model("simulated") as lm:
        assert lm.model == "openai/simulated"
        program = await recipes.default_program(*datasets.data_models_for(rows), lm, name="styled")
        x, y = to_samples(rows, program.inputs, program.outputs)
        test_x, test_y = to_samples(holdout, program.inputs, program.outputs)
        before = await program.evaluate(test_x, test_y, verbose=0)
        await program.fit(x, y, epochs=2, batch_size=7, validation_split=0.25, verbose=0)
        after = await program.evaluate(test_x, test_y, verbose=0)
    assert before["reward"] < 0.5 < after["reward"]


async def test_load_program_moves_every_model_call_to_the_given_model(
    tmp_path, simulated_lm_factory
):
    first, second = simulated_lm_factory(), simulated_lm_factory()
    lm = sp.LanguageModel(first.model, api_base=first.base_url, api_key="sk-x")
    program = await recipes.default_program(Query, Answer, lm, name="moved")
    program.save(tmp_path / "moved.json")
    first.stop()  # the saved program's model is gone
    moved_to = sp.LanguageModel(second.model, api_base=second.base_url, api_key="sk-x")
    loaded = recipes.load_program(tmp_path / "moved.json", moved_to)
    assert loaded.language_models() == [moved_to]
    with tracking(False):
        await loaded.predict(to_samples(ROWS[:2], loaded.inputs)[0], verbose=0)
    assert second.stats().completed == 2


def test_default_program_path_is_under_the_storage(monkeypatch, tmp_path):
    monkeypatch.setenv("SYNAPREFECT_HOME", str(tmp_path))
    assert recipes.default_program_path("qa") == str(tmp_path / "programs" / "qa.json")
    monkeypatch.setenv("SYNAPREFECT_STORAGE", "s3://ml-state/prod")
    assert recipes.default_program_path("qa") == "s3://ml-state/prod/programs/qa.json"


async def test_load_or_build_program_loads_a_saved_program_else_builds_one(tmp_path, simulated_lm):
    lm = sp.LanguageModel(simulated_lm.model, api_base=simulated_lm.base_url, api_key="sk-x")
    built = await recipes.load_or_build_program(
        ROWS, lm, name="built", input_fields=["answer"], output_fields=["query"]
    )
    assert built.name == "built" and list(built.outputs.keys()) == ["query"]
    built.save(tmp_path / "built.json")
    loaded = await recipes.load_or_build_program(ROWS, lm, tmp_path / "built.json", name="ignored")
    assert loaded.name == "built" and loaded.get_state_tree() == built.get_state_tree()
    assert loaded.language_models() == [lm]
