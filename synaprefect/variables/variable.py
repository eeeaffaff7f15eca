"""``Variable``: a JSON value with a schema, validated on every assignment."""

import copy
from typing import Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.data_models.validation import validate_json
from synaprefect.initializers.initializer import Initializer
from synaprefect.utils.json_utils import pretty_dumps
from synaprefect.utils.naming import auto_name, validate_name

__all__ = ["Variable"]


def _fields_without_default(data_model) -> list[str]:
    fields = getattr(data_model, "model_fields", {})
    return [name for name, info in fields.items() if info.is_required()]


def _annotation_name(data_model, field: str) -> str:
    annotation = data_model.model_fields[field].annotation
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


class Variable:
    """A container for state: a JSON object plus the schema it must follow.

    Variables are what optimizers change (few-shot examples, instructions...). Every
    assignment is validated against the schema.

    Example:
    ```python
    class Hints(synaprefect.DataModel):
        hints: List[str] = []

    variable = synaprefect.Variable(initializer={"hints": ["Round to even."]},
                                    data_model=Hints)
    variable.assign({"hints": ["Check whole numbers."]})
    ```
    """

    def __init__(
        self,
        initializer: dict | Initializer | None = None,
        data_model: Any = None,
        trainable: bool = True,
        name: str | None = None,
        description: str | None = None,
    ):
        self._name = validate_name(name, "Variable") if name is not None else auto_name("variable")
        self._path = self._name
        if isinstance(initializer, Initializer):
            data_model = data_model if data_model is not None else initializer.data_model
            schema = initializer.get_schema()
        elif isinstance(initializer, dict):
            if data_model is None:
                raise ValueError(
                    f"Variable '{self._name}' was given a dict initializer but no "
                    "`data_model=`: pass the DataModel the value follows, e.g. "
                    "Variable(initializer={...}, data_model=Hints)."
                )
            schema = data_model.get_schema()
        elif initializer is None and data_model is not None:
            from synaprefect.initializers.initializer import Empty

            initializer = Empty(data_model=data_model)
            schema = data_model.get_schema()
        else:
            raise TypeError(
                f"Variable '{self._name}': `initializer` must be a dict or an Initializer "
                f"such as Empty(data_model=...), got {type(initializer).__name__}."
            )
        missing = _fields_without_default(data_model) if data_model is not None else []
        if missing:
            model_name = getattr(data_model, "__name__", "the data model")
            raise ValueError(
                f"Variable '{self._name}': every field of {model_name} needs a default "
                f"value, but {', '.join(f'`{f}`' for f in missing)} has none. Declare it "
                f"with a default, e.g. `{missing[0]}: "
                f"{_annotation_name(data_model, missing[0])} = <default>`."
            )
        self._data_model = data_model
        self._schema = schema
        self._trainable = bool(trainable)
        self._description = (
            description if description is not None else schema.get("description", "")
        )
        self._value: dict = {}
        value = initializer() if isinstance(initializer, Initializer) else initializer
        self.assign(value)

    # ---- identity ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        """The name of the variable."""
        return self._name

    @property
    def path(self) -> str:
        """The path of the variable within its module: ``<module name>/<variable name>``."""
        return self._path

    @property
    def description(self) -> str:
        return self._description

    @property
    def trainable(self) -> bool:
        """Whether optimizers may change this variable."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)

    # ---- value ------------------------------------------------------------------------

    def assign(self, value: Any) -> dict:
        """Replace the value after validating it against the schema.

        Raises ``ValueError`` naming each offending field; the old value is kept then.
        """
        if hasattr(value, "get_json") and not isinstance(value, SymbolicDataModel):
            value = value.get_json()
        if not isinstance(value, dict):
            raise TypeError(
                f"Variable '{self._path}': assign() takes a dict or a data model, got "
                f"{type(value).__name__}."
            )
        value = self._with_defaults(copy.deepcopy(value))
        validate_json(value, self._schema, f"The value assigned to variable '{self._path}'")
        self._value = value
        return self._value

    def _with_defaults(self, value: dict) -> dict:
        """Missing fields take their schema default; keys follow the schema's order."""
        properties = self._schema.get("properties", {})
        ordered = {}
        for key, prop in properties.items():
            if key in value:
                ordered[key] = value[key]
            elif "default" in prop:
                ordered[key] = copy.deepcopy(prop["default"])
        ordered.update({k: v for k, v in value.items() if k not in properties})
        return ordered

    def update(self, kv_dict: dict) -> None:
        """Set some fields; the result is validated like ``assign``."""
        self.assign({**self._value, **kv_dict})

    def value(self) -> dict:
        """The current value (a JSON dict)."""
        return self._value

    json = get_json = value

    def get(self, key: str, default: Any = None) -> Any:
        return self._value.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self._value[key]

    def __contains__(self, key: str) -> bool:
        return key in self._value

    def keys(self):
        return self._value.keys()

    def values(self):
        return self._value.values()

    def items(self):
        return self._value.items()

    def schema(self) -> dict:
        return self._schema

    get_schema = schema

    def pretty_json(self) -> str:
        return pretty_dumps(self._value)

    def pretty_schema(self) -> str:
        return pretty_dumps(self._schema)

    def to_json_data_model(self) -> JsonDataModel:
        return JsonDataModel(schema=self._schema, json=copy.deepcopy(self._value), name=self._name)

    def to_symbolic_data_model(self) -> SymbolicDataModel:
        return SymbolicDataModel(schema=self._schema, name=self._name)

    def __repr__(self) -> str:
        return f"<Variable path={self._path!r} trainable={self._trainable}>"
