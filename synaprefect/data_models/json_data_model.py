"""``JsonDataModel``: a concrete JSON value with its schema; what flows at run time."""

import copy
from typing import Any

from synaprefect.data_models.operators import DataOperators
from synaprefect.utils.json_utils import pretty_dumps
from synaprefect.utils.naming import auto_name

__all__ = ["JsonDataModel"]


class JsonDataModel(DataOperators):
    """A JSON object together with its JSON schema.

    Example:
    ```python
    x = synaprefect.JsonDataModel(json={"query": "hi"}, schema=Query.get_schema())
    y = x + other   # concatenation, `x | None` gives a copy of x
    ```
    """

    def __init__(
        self,
        schema: dict | None = None,
        json: dict | None = None,
        data_model: Any = None,
        name: str | None = None,
    ):
        from synaprefect.data_models.data_model import DataModel

        if schema is None and json is None and data_model is None:
            raise ValueError(
                "Initializing JsonDataModel without arguments is not permitted: pass "
                "`data_model=` (a DataModel instance) or both `schema=` and `json=`."
            )
        if data_model is not None:
            if isinstance(data_model, type) and issubclass(data_model, DataModel):
                if json is None:
                    raise ValueError(
                        f"`data_model={data_model.__name__}` is a class and needs to be "
                        "instantiated, or pass `json=` with it."
                    )
                schema = data_model._shared_schema()
            elif isinstance(data_model, DataModel):
                schema = data_model._shared_schema()
                json = data_model.get_json()
            elif hasattr(data_model, "get_schema"):
                schema = data_model.get_schema()
                if json is None and hasattr(data_model, "get_json"):
                    json = data_model.get_json()
            else:
                raise TypeError(
                    f"`data_model` must be a DataModel (class or instance) or a data "
                    f"model object, got {type(data_model).__name__}."
                )
        if schema is None:
            raise ValueError("JsonDataModel needs a schema: pass `schema=` or `data_model=`.")
        if json is not None and not isinstance(json, dict):
            raise TypeError(f"`json` must be a dict, got {type(json).__name__}.")
        self._schema = schema
        self._json = json if json is not None else {}
        self._name = name

    @property
    def name(self) -> str:
        if self._name is None:
            self._name = auto_name("json_data_model")
        return self._name

    def get_schema(self) -> dict:
        """The schema itself, often shared with other values: read it, never change it
        (``clone()`` gives a copy to change)."""
        return self._schema

    def get_json(self) -> dict:
        return self._json

    def json(self) -> dict:
        return self._json

    def get(self, key: str, default: Any = None) -> Any:
        return self._json.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._json[key]

    def keys(self):
        return self._json.keys()

    def values(self):
        return self._json.values()

    def items(self):
        return self._json.items()

    def update(self, kv_dict: dict) -> None:
        """Set fields in place."""
        self._json.update(kv_dict)

    def clone(self, name: str | None = None) -> "JsonDataModel":
        return JsonDataModel(
            schema=copy.deepcopy(self._schema), json=copy.deepcopy(self._json), name=name
        )

    def prettify_schema(self) -> str:
        return pretty_dumps(self._schema)

    def prettify_json(self) -> str:
        return pretty_dumps(self._json)

    def to_symbolic_data_model(self, name: str | None = None):
        from synaprefect.data_models.symbolic_data_model import SymbolicDataModel

        return SymbolicDataModel(schema=copy.deepcopy(self._schema), name=name)

    def to_json_data_model(self) -> "JsonDataModel":
        return self

    def get_config(self) -> dict:
        return {"schema": self._schema, "json": self._json, "name": self._name}

    @classmethod
    def from_config(cls, config: dict) -> "JsonDataModel":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<JsonDataModel json={self._json!r}>"
