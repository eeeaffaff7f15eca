"""``Action``: the language model fills a tool's arguments, the tool runs."""

from typing import Any

from synaprefect.data_models.data_model import DataModel, Field
from synaprefect.data_models.generic import GenericIO
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.modules.generator import Generator
from synaprefect.modules.module import Module
from synaprefect.modules.tool import Tool
from synaprefect.utils.serialization import (
    deserialize_synalinks_object,
    serialize_synalinks_object,
)

__all__ = ["Action", "GenericAction"]


class GenericAction(DataModel):
    """An action already performed: the tool's arguments and its result."""

    action: GenericIO = Field(description="An action already performed")


class Action(Module):
    """Call ``tool`` with arguments the language model derives from the inputs.

    The arguments come from a structured-output call whose schema is the tool's
    parameters (a ``Generator`` named ``generator_<name>``, whose instructions and
    examples are trainable); then the tool runs, once per job (see ``Tool``). The output
    is a ``GenericAction``: ``{"action": {"inputs": arguments, "outputs": result}}``; a
    failing tool gives ``{"error": "..."}`` as its result.

    Example:
    ```python
    x0 = synaprefect.Input(data_model=Query)
    x1 = await synaprefect.Action(tool=synaprefect.Tool(calculate),
                                  language_model=lm)(x0)
    program = synaprefect.Program(inputs=x0, outputs=x1, name="calculator")
    ```
    """

    def __init__(
        self,
        *,
        tool: Tool,
        language_model=None,
        prompt_template: str | None = None,
        examples: list | None = None,
        instructions: str | None = None,
        seed_instructions: list[str] | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        top_p: float | None = None,
        top_k: int | None = None,
        reasoning_effort: str | None = None,
        use_inputs_schema: bool = False,
        use_outputs_schema: bool = False,
        name: str | None = None,
        description: str | None = None,
        trainable: bool = True,
    ):
        super().__init__(name=name, description=description, trainable=trainable)
        if not isinstance(tool, Tool):
            raise TypeError(
                f"Action {self.name!r}: `tool` must be a synaprefect.Tool, got "
                f"{type(tool).__name__}; wrap the function: Tool(func)."
            )
        self.tool = tool
        self._settings: dict[str, Any] = {
            "prompt_template": prompt_template,
            "examples": examples,
            "instructions": instructions,
            "seed_instructions": seed_instructions,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "top_p": top_p,
            "top_k": top_k,
            "reasoning_effort": reasoning_effort,
            "use_inputs_schema": use_inputs_schema,
            "use_outputs_schema": use_outputs_schema,
        }
        self.action = Generator(
            schema=tool.get_tool_schema(),
            language_model=language_model,
            name=f"generator_{self.name}",
            **self._settings,
        )
        self.language_model = self.action.language_model

    async def call(self, inputs, training: bool = False):
        if inputs is None:
            return None
        arguments = (await self.action(inputs, training=training)).get_json()
        try:
            result = await self.tool(**arguments)
            outputs = result.get_json() if result is not None else {}
        except Exception as error:  # the action happened and failed: that is its result
            outputs = {"error": f"{type(error).__name__}: {error}"}
        performed = GenericAction(action=GenericIO(inputs=arguments, outputs=outputs))
        return JsonDataModel(
            json=performed.get_json(), schema=GenericAction.get_schema(), name=self.name
        )

    async def compute_output_spec(self, inputs, training: bool = False):
        return SymbolicDataModel(schema=GenericAction.get_schema(), name=self.name)

    def get_config(self) -> dict:
        return {
            **self._settings,
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
            "tool": serialize_synalinks_object(self.tool),
            "language_model": self.language_model.get_config(),
        }

    @classmethod
    def from_config(cls, config: dict) -> "Action":
        config = dict(config)
        return cls(tool=deserialize_synalinks_object(config.pop("tool")), **config)
