"""``Lambda``: a plain Python function as a module."""

from collections.abc import Callable
from typing import Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.modules.module import Module
from synaprefect.utils.async_utils import maybe_await

__all__ = ["Lambda"]


class Lambda(Module):
    """Wrap a sync or async function ``fn(inputs) -> dict | data model | None``.

    Example:
    ```python
    upper = synaprefect.Lambda(lambda x: {"answer": x["answer"].upper()}, data_model=Answer)
    ```
    The output schema is required (``data_model=`` or ``schema=``), as in Synalinks:
    the program's graph needs it before the function ever runs. Lambdas cannot be saved
    (code is never serialised): rebuild them when loading.
    """

    def __init__(
        self, function: Callable[..., Any], schema: dict | None = None, data_model=None, **kwargs
    ):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda needs a callable, got {type(function).__name__}.")
        if data_model is not None and not hasattr(data_model, "get_schema"):
            raise TypeError(
                f"Lambda '{self.name}': `data_model` must be a DataModel class, got {data_model!r}."
            )
        self.schema = data_model.get_schema() if data_model is not None else schema
        if not self.schema:
            raise ValueError(
                f"Lambda '{self.name}' needs the schema of what its function returns: pass "
                "`data_model=` (a DataModel class) or `schema=` (a JSON schema)."
            )
        self.function = function

    async def call(self, inputs):
        if inputs is None:
            return None
        result = await maybe_await(self.function(inputs))
        if result is None or isinstance(result, JsonDataModel):
            return result
        if hasattr(result, "to_json_data_model"):
            return result.to_json_data_model()
        if isinstance(result, dict):
            return JsonDataModel(schema=self.schema, json=result)
        raise TypeError(
            f"Lambda '{self.name}' must return a dict, a data model or None, got "
            f"{type(result).__name__}."
        )

    async def compute_output_spec(self, inputs):
        return SymbolicDataModel(schema=self.schema)

    def get_config(self) -> dict:
        raise NotImplementedError(
            f"Lambda '{self.name}' wraps Python code, which is never serialised. Save the "
            "variables only (`save_variables`), or replace the Lambda with a registered "
            "Module subclass."
        )
