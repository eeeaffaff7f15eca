"""``Input``: the entry point of a functional program."""

from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.modules.module import Module

__all__ = ["Input", "InputModule"]


class InputModule(Module):
    """Holds the schema a program input must follow; records itself as a graph node."""

    def __init__(
        self,
        schema: dict | None = None,
        optional: bool = False,
        name: str | None = None,
        description: str | None = None,
        trainable: bool = True,
    ):
        super().__init__(name=name, description=description, trainable=trainable)
        if schema is None:
            raise ValueError("InputModule needs a schema; use Input(data_model=...).")
        self.schema = schema
        self.optional = optional
        self.built = True
        self.output = self._record_node((), {}, SymbolicDataModel(schema=schema))

    async def call(self, inputs=None):
        return inputs

    def get_config(self) -> dict:
        return {
            "schema": self.schema,
            "optional": self.optional,
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
        }


def Input(
    schema: dict | None = None, data_model=None, optional: bool = False, name: str | None = None
) -> SymbolicDataModel:
    """A symbolic program input of the given data model or schema.

    Any input may be given ``None`` when the program is called, as in Synalinks: None
    marks an inactive path, which modules skip (they return None) and the logic gates
    (``| & ^``) resolve. ``optional`` documents that intent (and is saved).

    Example:
    ```python
    inputs = synaprefect.Input(data_model=Query)
    outputs = await synaprefect.Generator(data_model=Answer, language_model=lm)(inputs)
    program = synaprefect.Program(inputs=inputs, outputs=outputs)
    ```
    """
    if schema is None and data_model is None:
        raise ValueError(
            "Input() needs `data_model=` (a DataModel class) or `schema=` (a JSON schema)."
        )
    if schema is None:
        schema = data_model.get_schema()
    return InputModule(schema=schema, optional=optional, name=name).output
