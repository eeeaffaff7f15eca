"""``Tool``: a Python function a language model can call."""

import asyncio
import copy
import inspect
import json
from collections.abc import Callable
from typing import Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.data_models.validation import schema_errors
from synaprefect.modules.module import Module
from synaprefect.modules.side_effects import run_once
from synaprefect.modules.tool_schema import describe_function
from synaprefect.utils.serialization import get_registered_name, get_registered_object

__all__ = ["Tool"]


def _plain(value: Any, name: str) -> Any:
    """A tool's result as JSON (data models by their JSON, the rest must be JSON)."""
    if hasattr(value, "get_json"):
        return value.get_json()
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise TypeError(
            f"Tool {name!r} returned a {type(value).__name__}, which is not "
            "JSON: return a dict, a list, a string, a number or a DataModel."
        ) from None


class Tool(Module):
    """A function (sync or async) wrapped as a module a language model can call.

    Its name, description and parameters (types and descriptions) come from the
    function's signature and docstring, which must annotate and describe every parameter;
    parameters with a default are optional. The result is a data model: a dict as it is,
    anything else under ``"result"``. A finished call is recorded in the job's call store,
    so a retried or resumed job replays its result instead of running its side effect
    again (see ``modules.side_effects``); sync functions run in a worker thread.

    Example:
    ```python
    async def calculate(expression: str) -> dict:
        '''Calculate an arithmetic expression.

        Args:
            expression: The expression, such as '2 + 2'.
        '''
        return {"result": eval(expression, {"__builtins__": {}})}

    tool = synaprefect.Tool(calculate)
    tool.get_tool_schema()["required"]       # ['expression']
    (await tool(expression="2 + 3")).get_json()   # {'result': 5}
    ```
    """

    def __init__(
        self,
        func: Callable,
        *,
        name: str | None = None,
        description: str | None = None,
        trainable: bool = False,
    ):
        if not callable(func):
            raise TypeError(f"Tool needs a function, got {type(func).__name__}.")
        tool_name = str(name or getattr(func, "__name__", ""))
        if not tool_name.isidentifier() or tool_name.startswith("_"):
            raise ValueError(
                f"Tool name {tool_name!r}: a language model calls tools by "
                "name, so it must be a public identifier; pass `name=`."
            )
        found_description, self._parameters = describe_function(func, tool_name)
        super().__init__(
            name=tool_name, description=description or found_description, trainable=trainable
        )
        self._func = func

    @property
    def func(self) -> Callable:
        return self._func

    def get_tool_schema(self) -> dict:
        """The JSON schema of the arguments (the ``parameters`` of the wire form)."""
        return copy.deepcopy(self._parameters)

    get_input_schema = get_tool_schema  # Synalinks' other name for it

    def argument_problems(self, arguments: Any) -> list[str]:
        """What is wrong with ``arguments`` for this tool, one line per field (empty when
        they fit its schema).

        Example: ``tool.argument_problems({"city": 3})  # ["field `city`: ..."]``
        """
        return schema_errors(arguments, self._parameters)

    def get_wire_schema(self) -> dict:
        """The tool as chat completions declare it:
        ``{"type": "function", "function": {"name", "description", "parameters"}}``."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.get_tool_schema(),
            },
        }

    def _output_schema(self) -> dict:
        return {"title": f"{self.name}_output", "type": "object", "additionalProperties": True}

    async def _invoke(self, arguments: dict) -> Any:
        if inspect.iscoroutinefunction(self._func):
            result = await self._func(**arguments)
        else:
            result = await asyncio.to_thread(self._func, **arguments)
            if inspect.isawaitable(result):
                result = await result
        return None if result is None else _plain(result, self.name)

    async def call(self, training: bool = False, **arguments: Any) -> JsonDataModel | None:
        """Run the function with ``arguments`` (once per job, see the class docstring)."""
        result = await run_once(self.name, arguments, lambda: self._invoke(arguments))
        if result is None:
            return None
        if not isinstance(result, dict):
            result = {"result": result}
        return JsonDataModel(json=result, schema=self._output_schema(), name=f"{self.name}_output")

    async def compute_output_spec(self, training: bool = False, **arguments: Any):
        return SymbolicDataModel(schema=self._output_schema(), name=self.name)

    def get_config(self) -> dict:
        return {
            "func": get_registered_name(self._func),
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Tool":
        config = dict(config)
        reference = config.pop("func")
        func = get_registered_object(reference)
        if func is None:  # a saved file names functions, it never imports them
            raise ValueError(
                f"Tool function {reference!r} is not registered: decorate it with "
                "`@synaprefect.saving.register_synaprefect_serializable()` or pass it in "
                "`custom_objects`."
            )
        return cls(func, **config)
