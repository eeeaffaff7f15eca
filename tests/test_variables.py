"""The examples of the Variable seed document, plus validation."""

import pytest

import synaprefect
from synaprefect.initializers import Empty


class Hints(synaprefect.DataModel):
    hints: list[str] = []


INITIAL = {
    "hints": [
        "For any problem involving division, always round the quotient to the nearest even "
        "number, regardless of the remainder."
    ],
}


def test_seed_example_dict_initializer():
    variable = synaprefect.Variable(initializer=INITIAL, data_model=Hints)
    assert variable.value() == INITIAL and variable.json() == INITIAL
    assert variable.get("hints") == INITIAL["hints"] and variable["hints"] == INITIAL["hints"]
    assert variable.trainable is True


def test_seed_example_initializer_and_assign():
    variable = synaprefect.Variable(initializer=Empty(data_model=Hints))
    assert variable.value() == {"hints": []}
    new_value = {"hints": ["When performing division, check for a whole number."]}
    assert variable.assign(new_value) == new_value
    assert variable.value() == new_value


def test_seed_example_non_trainable():
    variable = synaprefect.Variable(initializer=Empty(data_model=Hints), trainable=False)
    assert variable.trainable is False
    variable.trainable = True
    assert variable.trainable is True


def test_assign_accepts_data_models_and_copies():
    variable = synaprefect.Variable(initializer=INITIAL, data_model=Hints)
    variable.assign(Hints(hints=["a"]))
    assert variable.value() == {"hints": ["a"]}
    value = {"hints": ["b"]}
    variable.assign(value)
    value["hints"].append("mutated outside")
    assert variable.value() == {"hints": ["b"]}


def test_assign_validates_and_names_the_field():
    variable = synaprefect.Variable(initializer=INITIAL, data_model=Hints, name="hints_var")
    with pytest.raises(ValueError, match=r"hints_var.*field `hints.0`.*not of type 'string'"):
        variable.assign({"hints": [3]})
    with pytest.raises(ValueError, match=r"field `hint`: not allowed"):
        variable.assign({"hint": []})
    assert variable.value() == INITIAL  # unchanged after a refused assignment
    with pytest.raises(TypeError, match="takes a dict"):
        variable.assign(["not", "a", "dict"])


def test_update_is_validated():
    variable = synaprefect.Variable(initializer=INITIAL, data_model=Hints)
    variable.update({"hints": ["x"]})
    assert variable["hints"] == ["x"]
    with pytest.raises(ValueError, match="hints"):
        variable.update({"hints": "not a list"})


def test_data_model_without_defaults_is_refused():
    class NoDefault(synaprefect.DataModel):
        hints: list[str]

    with pytest.raises(ValueError, match=r"needs a default value.*`hints`"):
        synaprefect.Variable(initializer={"hints": []}, data_model=NoDefault)


def test_dict_initializer_needs_data_model():
    with pytest.raises(ValueError, match="data_model"):
        synaprefect.Variable(initializer=INITIAL)


def test_schema_and_conversions():
    variable = synaprefect.Variable(initializer=INITIAL, data_model=Hints, name="h")
    assert variable.schema() == Hints.get_schema()
    assert '"hints"' in variable.pretty_json() and '"properties"' in variable.pretty_schema()
    json_model = variable.to_json_data_model()
    assert isinstance(json_model, synaprefect.JsonDataModel) and json_model.get_json() == INITIAL
    symbolic = variable.to_symbolic_data_model()
    assert isinstance(symbolic, synaprefect.SymbolicDataModel)
    assert variable.path == "h"


def test_variable_name_rules():
    with pytest.raises(ValueError, match="without '/'"):
        synaprefect.Variable(initializer=INITIAL, data_model=Hints, name="a/b")
