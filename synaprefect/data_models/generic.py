"""Data models for any JSON (``GenericIO``...), and schema checks for the trainable ones.

Example:
```python
pair = synaprefect.GenericIO(inputs={"query": "q"}, outputs={"answer": "a"})
synaprefect.is_trainable(generator.state)  # True: a Generator's variable
```
"""

from typing import Any

from synaprefect.data_models.data_model import DataModel, Field
from synaprefect.data_models.schema import contains_schema
from synaprefect.data_models.trainable import Instructions, Prediction, Trainable

__all__ = [
    "GenericInputs",
    "GenericOutputs",
    "GenericIO",
    "GenericResult",
    "is_trainable",
    "is_instructions",
    "is_prediction",
]


class GenericInputs(DataModel):
    """Inputs of any shape."""

    inputs: dict[str, Any] = Field(description="The inputs")


class GenericOutputs(DataModel):
    """Outputs of any shape."""

    outputs: dict[str, Any] = Field(description="The outputs")


class GenericIO(DataModel):
    """An inputs/outputs pair of any shape."""

    inputs: dict[str, Any] = Field(description="The inputs")
    outputs: dict[str, Any] = Field(description="The outputs")


class GenericResult(DataModel):
    """A list of results of any shape."""

    result: list[Any] = Field(description="The result")


def _contains(x: Any, data_model: type[DataModel]) -> bool:
    schema = x.get_schema() if hasattr(x, "get_schema") else x.schema()
    return contains_schema(schema, data_model.get_schema())


def is_trainable(x: Any) -> bool:
    """Whether ``x`` (a data model or a variable) has every ``Trainable`` field."""
    return _contains(x, Trainable)


def is_instructions(x: Any) -> bool:
    """Whether ``x`` has every ``Instructions`` field (a ``Generator``'s variable does)."""
    return _contains(x, Instructions)


def is_prediction(x: Any) -> bool:
    """Whether ``x`` has every ``Prediction`` field."""
    return _contains(x, Prediction)
