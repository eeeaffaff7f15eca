"""``Initializer`` and ``Empty``."""

import copy
from typing import Any

__all__ = ["Initializer", "Empty", "get"]


def _defaults_from_schema(schema: dict) -> dict:
    return {
        key: copy.deepcopy(prop["default"])
        for key, prop in schema.get("properties", {}).items()
        if "default" in prop
    }


class Initializer:
    """Base class: ``initializer()`` returns the JSON value a variable starts with."""

    def __init__(self, schema: dict | None = None, json: dict | None = None, data_model=None):
        known = data_model.get_schema() if data_model is not None else schema
        if known is None:
            raise ValueError(
                f"{type(self).__name__} needs `data_model=` (or `schema=`) to know the "
                "variable's shape."
            )
        self.data_model = data_model
        self._schema: dict = known
        self._json = json

    def get_schema(self) -> dict:
        return self._schema

    def __call__(self) -> dict:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__().")

    def get_config(self) -> dict:
        return {"schema": self._schema, "json": self._json}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)

    def clone(self) -> "Initializer":
        return type(self).from_config(self.get_config())


class Empty(Initializer):
    """The data model's default value (every field at its default).

    Example:
    ```python
    variable = synaprefect.Variable(initializer=Empty(data_model=Hints))
    ```
    """

    def __call__(self) -> dict:
        if self._json is not None:
            return copy.deepcopy(self._json)
        if self.data_model is not None and isinstance(self.data_model, type):
            return self.data_model().get_json()
        if self.data_model is not None and hasattr(self.data_model, "get_json"):
            return copy.deepcopy(self.data_model.get_json())
        return _defaults_from_schema(self._schema)


def get(identifier: Any) -> Initializer:
    """An initializer from a name, a ``{"class_name", "config"}`` dict or an instance."""
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, dict) and identifier.get("class_name") in _BY_NAME:
        return _BY_NAME[identifier["class_name"]].from_config(identifier.get("config", {}))
    raise ValueError(
        f"Unknown initializer {identifier!r}: pass an Initializer instance such as "
        "Empty(data_model=...)."
    )


_BY_NAME = {"Empty": Empty, "empty": Empty}
