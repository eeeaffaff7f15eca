"""The JSON operations behind ``+ & | ^ ~`` and the masking helpers.

Each function takes data operands (``JsonDataModel``, ``SymbolicDataModel``, a
``DataModel`` instance or class, or ``None``) and applies the None rules of logical
circuits. Operands that belong to a program graph are routed through the matching module,
so that the operation becomes a node of the graph. Data models sit below modules: the
modules layer registers its operation modules here (``register_operation``,
``modules/pure.py``) rather than being imported from here.
"""

from typing import Any

from synaprefect.data_models import schema as S


def to_data(value: Any, what: str = "operand"):
    """Normalise a data-like value to ``JsonDataModel`` / ``SymbolicDataModel`` / None."""
    from synaprefect.data_models.data_model import DataModel
    from synaprefect.data_models.json_data_model import JsonDataModel
    from synaprefect.data_models.symbolic_data_model import SymbolicDataModel

    if value is None or isinstance(value, (JsonDataModel, SymbolicDataModel)):
        return value
    if isinstance(value, DataModel):
        return value.to_json_data_model()
    if isinstance(value, type) and issubclass(value, DataModel):
        return value.to_symbolic_data_model()
    if hasattr(value, "to_json_data_model"):  # a Variable
        return value.to_json_data_model()
    raise TypeError(
        f"Expected a data model for the {what}, got {type(value).__name__}: {value!r}. "
        "Wrap plain dicts as JsonDataModel(json=..., schema=...) or use a DataModel."
    )


def is_symbolic(value: Any) -> bool:
    from synaprefect.data_models.symbolic_data_model import SymbolicDataModel

    return isinstance(value, SymbolicDataModel)


def _in_graph(values) -> bool:
    return any(is_symbolic(v) and v._history is not None for v in values)


def _make(schema: dict, operands, json_value=None):
    from synaprefect.data_models.json_data_model import JsonDataModel
    from synaprefect.data_models.symbolic_data_model import SymbolicDataModel

    if any(is_symbolic(v) for v in operands):
        return SymbolicDataModel(schema=schema)
    return JsonDataModel(schema=schema, json=json_value)


def _clone(value):
    return None if value is None else value.clone()


# ---- binary operations (pure: no graph) ---------------------------------------------


def concat_data(x1, x2):
    if x1 is None or x2 is None:
        missing = "first" if x1 is None else "second"
        raise ValueError(
            f"Cannot concatenate (`+`): the {missing} operand is None. `+` needs both "
            "values; use `&` (None when either is missing) or `|` (whichever is present) "
            "for optional values."
        )
    schema = S.concat_schema(x1.get_schema(), x2.get_schema())
    if is_symbolic(x1) or is_symbolic(x2):
        return _make(schema, (x1, x2))
    return _make(schema, (x1, x2), S.concat_json(x1.get_json(), x2.get_json()))


def and_data(x1, x2):
    if x1 is None or x2 is None:
        return None
    return concat_data(x1, x2)


def or_data(x1, x2):
    if x1 is None or x2 is None:
        return _clone(x2 if x1 is None else x1)
    if is_symbolic(x1) or is_symbolic(x2):
        return _make(S.merge_schema(x1.get_schema(), x2.get_schema()), (x1, x2))
    return concat_data(x1, x2)


def xor_data(x1, x2):
    if x1 is None or x2 is None:
        return _clone(x2 if x1 is None else x1)
    if is_symbolic(x1) or is_symbolic(x2):
        return _make(S.merge_schema(x1.get_schema(), x2.get_schema()), (x1, x2))
    return None


def not_data(x):
    if x is None or not is_symbolic(x):
        return None
    return x.clone()


# ---- unary transforms ----------------------------------------------------------------


def _transform(x, schema_fn, json_fn, *args):
    if x is None:
        return None
    schema = schema_fn(x.get_schema(), *args)
    if is_symbolic(x):
        return _make(schema, (x,))
    return _make(schema, (x,), json_fn(x.get_json(), *args))


def in_mask_data(x, mask=None, pattern=None, recursive=True):
    return _transform(x, S.in_mask_schema, S.in_mask_json, mask, pattern, recursive)


def out_mask_data(x, mask=None, pattern=None, recursive=True):
    return _transform(x, S.out_mask_schema, S.out_mask_json, mask, pattern, recursive)


def prefix_data(x, prefix):
    return _transform(x, S.prefix_schema, S.prefix_json, prefix)


def suffix_data(x, suffix):
    return _transform(x, S.suffix_schema, S.suffix_json, suffix)


def factorize_data(x):
    return _transform(x, S.factorize_schema, S.factorize_json)


# ---- entry points used by operators and ``synaprefect.ops`` ---------------------------


# Operation name -> its module class (``Concat``, ``And``...), registered by ``modules``.
_operations: dict[str, type] = {}


def register_operation(module_class: type) -> None:
    """Make ``apply(module_class.__name__, ...)`` use ``module_class``.

    Example: ``register_operation(Concat)`` (what ``modules.pure`` does)
    """
    _operations[module_class.__name__] = module_class


def apply(module_name: str, operands, **kwargs):
    """Apply the module ``module_name`` to ``operands``.

    Graph operands create a node (so the program runs the operation); anything else is
    computed at once.
    """
    if module_name not in _operations:
        raise ValueError(
            f"No operation module {module_name!r} is registered; known: "
            f"{sorted(_operations)} (`import synaprefect` registers them)."
        )
    datas = [to_data(v) for v in operands]
    module = _operations[module_name](**kwargs)
    if _in_graph(datas):
        return module._symbolic_call_sync(datas if len(datas) > 1 else datas[0])
    return module.compute(datas if len(datas) > 1 else datas[0])
