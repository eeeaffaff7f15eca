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
    Lambdas cannot be saved (code is never serialised): rebuild them when loading.
    """

    def __init__(self, function: Callable[..., Any], schema: dict | None = None,
                 data_model=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda needs a callable, got {type(function).__name__}.")
        self.function = function
        self.schema = data_model.get_schema() if data_model is not None else schema

    async def call(self, inputs):
        if inputs is None:
            return None
        result = await maybe_await(self.function(inputs))
        if result is None or isinstance(result, JsonDataModel):
            return result
        if hasattr(result, "to_json_data_model"):
            return result.to_json_data_model()
        if isinstance(result, dict):
            if self.schema is None:
                raise ValueError(
                    f"Lambda '{self.name}' returned a dict but has no output schema: pass "
                    "`data_model=` or `schema=` to Lambda."
                )
            return JsonDataModel(schema=self.schema, json=result)
        raise TypeError(
            f"Lambda '{self.name}' must return a dict, a data model or None, got "
            f"{type(result).__name__}."
        )

    async def compute_output_spec(self, inputs):
        if self.schema is not None:
            return SymbolicDataModel(schema=self.schema)
        return inputs.clone() if inputs is not None else None

    def get_config(self) -> dict:
        raise NotImplementedError(
            f"Lambda '{self.name}' wraps Python code, which is never serialised. Save the "
            "variables only (`save_variables`), or replace the Lambda with a registered "
            "Module subclass."
        )
