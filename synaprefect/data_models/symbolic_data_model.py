"""``SymbolicDataModel``: a schema-only placeholder used to build program graphs."""

import copy
from typing import TYPE_CHECKING

from synaprefect.data_models.operators import DataOperators
from synaprefect.utils.json_utils import pretty_dumps
from synaprefect.utils.naming import auto_name

if TYPE_CHECKING:
    from synaprefect.modules.module import Module

__all__ = ["SymbolicDataModel"]


class SymbolicDataModel(DataOperators):
    """A data model known only by its schema, flowing through a program while it is built.

    Example:
    ```python
    x0 = synaprefect.Input(data_model=Query)     # a SymbolicDataModel
    x1 = await synaprefect.Generator(data_model=Answer, language_model=lm)(x0)
    ```
    """

    def __init__(
        self,
        data_model=None,
        schema: dict | None = None,
        record_history=True,
        name: str | None = None,
    ):
        if data_model is not None:
            model_schema = data_model.get_schema()
            if schema is not None and schema.get("properties") != model_schema.get("properties"):
                raise ValueError(
                    "SymbolicDataModel got both `schema` and `data_model` but their "
                    "properties differ; pass only one of them."
                )
            schema = model_schema
        if schema is None:
            raise ValueError(
                "SymbolicDataModel needs `schema=` or `data_model=` to know its shape."
            )
        self._schema = schema
        self._name = name
        self.record_history = record_history
        # (module, node_index, tensor_index) of the graph node that produced this value.
        self._history: tuple[Module, int, int] | None = None

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = auto_name("symbolic_data_model")
        return self._name

    def get_schema(self) -> dict:
        return self._schema

    def keys(self):
        return self._schema.get("properties", {}).keys()

    def prettify_schema(self) -> str:
        return pretty_dumps(self._schema)

    def clone(self, name: str | None = None) -> "SymbolicDataModel":
        return SymbolicDataModel(schema=copy.deepcopy(self._schema), name=name)

    def to_symbolic_data_model(self) -> "SymbolicDataModel":
        return self

    def _no_value(self, *_, **__):
        raise ValueError(
            "This is a symbolic data model: it only has a schema while the program is "
            "being built, no value. Read values inside `call()` on concrete inputs, or "
            "implement `compute_output_spec()` in your module so that tracing does not "
            "need values."
        )

    get_json = json = get = values = items = update = __getitem__ = _no_value

    def get_config(self) -> dict:
        return {"schema": self._schema}

    @classmethod
    def from_config(cls, config: dict) -> "SymbolicDataModel":
        return cls(schema=config["schema"])

    def __repr__(self) -> str:
        return (
            f"<SymbolicDataModel schema={self._schema.get('title', '')!r} keys={list(self.keys())}>"
        )
