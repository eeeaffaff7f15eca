"""``DataModel``: a pydantic model that describes the JSON a module reads or writes."""

import copy
from typing import Any

import pydantic
from pydantic import ConfigDict
from pydantic._internal._model_construction import ModelMetaclass

from synaprefect.data_models.operators import DataOperators, _apply, _contains
from synaprefect.utils.json_utils import pretty_dumps

__all__ = ["DataModel", "Field"]

Field = pydantic.Field


def _is_data_operand(value: Any) -> bool:
    return hasattr(value, "get_schema")


class _DataModelMeta(ModelMetaclass):
    """Lets the algebra work on classes: ``Query + Answer`` is a symbolic data model.

    ``Answer | None`` stays a typing union, so annotations such as ``Optional`` keep working.
    """

    def __add__(cls, other):
        return _apply("Concat", [cls, other])

    def __radd__(cls, other):
        return _apply("Concat", [other, cls])

    def __and__(cls, other):
        return _apply("And", [cls, other])

    def __rand__(cls, other):
        return _apply("And", [other, cls])

    def __or__(cls, other):
        if not _is_data_operand(other):
            return type.__or__(cls, other)
        return _apply("Or", [cls, other])

    def __ror__(cls, other):
        if not _is_data_operand(other):
            return type.__ror__(cls, other)
        return _apply("Or", [other, cls])

    def __xor__(cls, other):
        return _apply("Xor", [cls, other])

    def __rxor__(cls, other):
        return _apply("Xor", [other, cls])

    def __invert__(cls):
        return _apply("Not", [cls])

    def __contains__(cls, other) -> bool:
        return _contains(cls, other)


class DataModel(DataOperators, pydantic.BaseModel, metaclass=_DataModelMeta):
    """Describe structured data with typed fields; extra fields are forbidden.

    Example:
    ```python
    class Answer(synaprefect.DataModel):
        thinking: str = synaprefect.Field(description="Step by step thinking")
        answer: str

    Answer.get_schema()["properties"].keys()   # thinking, answer
    Answer(thinking="...", answer="Paris").get_json()
    ```
    """

    model_config = ConfigDict(extra="forbid")

    @classmethod
    def get_schema(cls) -> dict:
        return copy.deepcopy(cls._shared_schema())

    @classmethod
    def _shared_schema(cls) -> dict:
        """The class's schema, made once and shared: read it, never change it
        (``get_schema`` gives a copy to change)."""
        schema = cls.__dict__.get("_synaprefect_schema")
        if schema is None:
            schema = cls.model_json_schema()
            type.__setattr__(cls, "_synaprefect_schema", schema)
        return schema

    @classmethod
    def keys(cls):
        return cls.model_fields.keys()

    @classmethod
    def prettify_schema(cls) -> str:
        return pretty_dumps(cls.get_schema())

    @classmethod
    def to_symbolic_data_model(cls, name: str | None = None):
        from synaprefect.data_models.symbolic_data_model import SymbolicDataModel

        return SymbolicDataModel(schema=cls.get_schema(), name=name)

    def get_json(self) -> dict:
        # None fields are kept: dropping them would make the value disagree with its schema.
        return self.model_dump(mode="json")

    def prettify_json(self) -> str:
        return pretty_dumps(self.get_json())

    def get(self, key: str, default: Any = None) -> Any:
        return self.get_json().get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.get_json()[key]

    def to_json_data_model(self, name: str | None = None):
        from synaprefect.data_models.json_data_model import JsonDataModel

        # The class's shared schema, not a copy: a JsonDataModel's schema is read, never
        # changed (every schema function builds a new one), and a shared object lets the
        # per-schema caches (validators, reward masks) find it by identity.
        return JsonDataModel(schema=self._shared_schema(), json=self.get_json(), name=name)

    def get_config(self) -> dict:
        return self.get_json()

    @classmethod
    def from_config(cls, config: dict) -> "DataModel":
        return cls(**config)
