"""Rows -> samples: the numpy object arrays of data models that ``fit`` / ``evaluate`` /
``predict`` take, and data models made from a file's columns.

Example:
```python
from synaprefect.datasets import data_models_for, load_rows, to_samples

rows = load_rows("flows/data/capitals.jsonl")
Inputs, Outputs = data_models_for(rows)        # the last column is the output
x, y = to_samples(rows, Inputs, Outputs)
```
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pydantic

from synaprefect.data_models import DataModel, Field, JsonDataModel
from synaprefect.data_models.validation import schema_errors
from synaprefect.datasets.rows import DatasetError, Rows
from synaprefect.trainers.data import object_array

__all__ = ["to_samples", "data_models_for", "validated_sample"]


def to_samples(
    rows: list[dict],
    input_model: Any,
    output_model: Any = None,
    columns: Mapping[str, str] | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(x, y)``: one input sample (and one target when ``output_model`` is given) per
    row, as numpy object arrays ready for ``fit`` / ``evaluate`` / ``predict``.

    The models are ``DataModel`` classes, or a program's ``inputs`` / ``outputs`` (a
    loaded program's data models are known by their schemas). Each field reads the
    column of the same name, or ``columns[field]``; other columns are ignored.

    Example:
    ```python
    x, y = to_samples(load_rows("qa.csv"), Query, Answer)
    x, _ = to_samples(rows, program.inputs)                # inputs only, for predict
    x, y = to_samples(rows, Query, Answer, columns={"answer": "expected"})
    ```
    """
    rows = rows if isinstance(rows, Rows) else Rows(rows)
    columns = dict(columns or {})
    x = object_array([_sample(rows, i, input_model, columns) for i in range(len(rows))])
    if output_model is None:
        return x, None
    y = object_array([_sample(rows, i, output_model, columns) for i in range(len(rows))])
    return x, y


def data_models_for(
    rows: list[dict], input_fields: list[str] | None = None, output_fields: list[str] | None = None
) -> tuple[type[DataModel], type[DataModel]]:
    """Two ``DataModel`` classes of string fields, ``(Inputs, Outputs)``, for the columns
    of ``rows`` (those of the first row, in order): by default the last column is the
    output and every other column an input.

    Example:
    ```python
    Inputs, Outputs = data_models_for(rows)                            # query -> answer
    Inputs, Outputs = data_models_for(rows, ["question"], ["answer"])  # explicit
    ```
    """
    rows = rows if isinstance(rows, Rows) else Rows(rows)
    if not rows:
        raise DatasetError(
            "The dataset has no rows: there are no columns to build data models from."
        )
    available = list(rows[0])
    outputs = list(output_fields or available[-1:])
    inputs = list(input_fields or [c for c in available if c not in outputs])
    for field in inputs + outputs:
        if field not in available:
            raise DatasetError(
                f"{rows.where(0)}: no column {field!r}; the columns are {available}."
            )
        if not field.isidentifier():
            raise DatasetError(
                f"{rows.where(0)}: column {field!r} cannot be a field name "
                "(use letters, digits and underscores); rename it."
            )
    if not inputs or not outputs or set(inputs) & set(outputs):
        raise ValueError(
            f"Expected at least one input and one output field, none in both; got inputs "
            f"{inputs} and outputs {outputs}. The columns are {available}."
        )

    def model(name: str, fields: list[str]) -> type[DataModel]:
        definitions: dict[str, Any] = {
            field: (str, Field(description=f"The {field}")) for field in fields
        }
        return pydantic.create_model(name, __base__=DataModel, **definitions)

    return model("Inputs", inputs), model("Outputs", outputs)


def _sample(rows: Rows, index: int, model: Any, columns: dict[str, str]) -> Any:
    where = rows.where(index)
    if not hasattr(model, "get_schema"):
        raise TypeError(
            f"Expected a DataModel class or a program's inputs/outputs, got "
            f"{model!r}. A program with several inputs or outputs needs its "
            "samples built in code."
        )
    schema = model.get_schema()
    title = schema.get("title", "the data model")
    row = rows[index]
    values = {}
    for field in schema.get("properties", {}):
        column = columns.get(field, field)
        if column in row:
            values[field] = row[column]
        elif field in schema.get("required", []):
            raise DatasetError(
                f"{where}: missing column {column!r} (field {field!r} of "
                f"{title}); the row has the columns {sorted(row)}."
            )
    return validated_sample(model, values, where)


def validated_sample(model: Any, values: dict, where: str) -> Any:
    """An instance of ``model`` (a ``DataModel`` class, or anything with ``get_schema``)
    holding ``values``, or a ``DatasetError`` that starts with ``where`` and names every
    field at fault.

    Example: ``validated_sample(Answer, {"answer": "Paris"}, "data.jsonl:3")``
    """
    if isinstance(model, type) and issubclass(model, DataModel):
        try:
            return model(**values)
        except pydantic.ValidationError as error:
            problems = "; ".join(
                f"field `{'.'.join(map(str, e['loc']))}`: {e['msg']}" for e in error.errors()
            )
            raise DatasetError(
                f"{where}: the row does not fit {model.__name__}: {problems}."
            ) from None
    schema = model.get_schema()
    errors = schema_errors(values, schema)
    if errors:
        title = schema.get("title", "the data model")
        raise DatasetError(f"{where}: the row does not fit {title}: {'; '.join(errors)}.")
    return JsonDataModel(json=values, schema=schema)
