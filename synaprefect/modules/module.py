"""``Module``: the unit programs are made of.

A module has an async ``call`` that maps data models to data models, variables that hold
its state, and a symbolic path used while a program is being built: calling a module on
``SymbolicDataModel`` values computes output schemas and records a graph node, without any
LM call.
"""

import contextvars
import functools
import inspect
import json
import logging
from typing import Any

from synaprefect.data_models.data_model import DataModel
from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.data_models.trainable import is_trainable_schema
from synaprefect.utils.async_utils import DONE, maybe_await
from synaprefect.utils.naming import auto_name, validate_name
from synaprefect.utils.nest import flatten, map_structure
from synaprefect.variables.variable import Variable

__all__ = ["Module", "Node", "current_training"]

# Every eager module call at DEBUG, with its inputs and outputs (``enable_logging``).
_call_logger = logging.getLogger("synaprefect.modules")

_PRIMITIVES = (str, int, float, bool, type(None))
# Bookkeeping attributes whose contents must not be tracked as sub-modules or variables.
_INTERNAL_ATTRIBUTES = frozenset(
    {"_variables", "_modules", "_inbound_nodes", "_graph", "_auto_config", "_tracking_ready"}
)
# The ``training`` flag of the outermost call, inherited by nested module calls. Each
# ``asyncio`` task copies the context, so concurrent samples never see each other's value.
_training_context: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "synaprefect_training", default=None
)


def current_training() -> bool:
    return bool(_training_context.get())


def _is_primitive(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_primitive(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_primitive(v) for k, v in value.items())
    return isinstance(value, _PRIMITIVES)


@functools.cache
def _accepts_training(function) -> bool:
    return "training" in inspect.signature(function).parameters


class Node:
    """One call of a module on symbolic inputs, recorded in the program graph."""

    def __init__(self, module: "Module", args: tuple, kwargs: dict, outputs: Any):
        self.module = module
        self.args = args
        self.kwargs = kwargs
        self.outputs = outputs
        self.flat_outputs = [o for o in flatten(outputs) if o is not None]
        self.input_symbols = [
            v for v in flatten([list(args), kwargs]) if isinstance(v, SymbolicDataModel)
        ]

    @property
    def parent_nodes(self) -> list["Node"]:
        parents: list[Node] = []
        for symbol in self.input_symbols:
            if symbol._history is None:
                continue
            module, node_index, _ = symbol._history
            parents.append(module._inbound_nodes[node_index])
        return parents


def _as_json(values: Any) -> str:
    plain = map_structure(lambda v: v.get_json() if isinstance(v, JsonDataModel) else v, values)
    return json.dumps(plain, ensure_ascii=False, default=repr)


def _to_value(value: Any) -> Any:
    if isinstance(value, DataModel):
        return value.to_json_data_model()
    return value


class Module:
    """Base class of every module.

    Subclasses implement ``async def call(self, inputs, training=False)``; they may also
    implement ``build(inputs)`` (create sub-modules and variables once the input schema is
    known) and ``compute_output_spec(inputs)`` (the output schema without running ``call``).

    Example:
    ```python
    class Shout(synaprefect.Module):
        async def call(self, inputs, training=False):
            if inputs is None:
                return None
            return synaprefect.JsonDataModel(
                json={"answer": inputs["answer"].upper()}, schema=inputs.get_schema())
    ```
    """

    _auto_config: dict | None  # set by __new__

    def __new__(cls, *args, **kwargs):
        instance = super().__new__(cls)
        # Constructor arguments made only of JSON primitives give a free get_config().
        config = dict(kwargs) if not args and _is_primitive(kwargs) else None
        object.__setattr__(instance, "_auto_config", config)
        return instance

    def __init__(
        self,
        trainable: bool = True,
        name: str | None = None,
        description: str | None = None,
        **kwargs,
    ):
        if kwargs:
            raise ValueError(
                f"{type(self).__name__} got unexpected keyword arguments "
                f"{sorted(kwargs)}; check their spelling against the docstring."
            )
        object.__setattr__(self, "_tracking_ready", True)
        self.name = (
            validate_name(name, "Module") if name is not None else auto_name(type(self).__name__)
        )
        doc = (type(self).__doc__ or "").strip().splitlines()
        self.description = description if description is not None else (doc[0] if doc else "")
        self._trainable = bool(trainable)
        self._variables: list[Variable] = []
        self._modules: list[Module] = []
        self._inbound_nodes: list[Node] = []
        self.built = False

    # ---- attribute tracking -------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _INTERNAL_ATTRIBUTES:
            if "_tracking_ready" not in self.__dict__ and isinstance(value, (Module, Variable)):
                raise RuntimeError(
                    f"{type(self).__name__}: assign modules and variables after calling "
                    "`super().__init__()` in your __init__ (you forgot to call it)."
                )
            for item in flatten(value) if isinstance(value, (list, tuple, dict)) else [value]:
                if isinstance(item, Module) and item is not self:
                    self._track_module(item)
                elif isinstance(item, Variable) and item not in self.__dict__.get("_variables", []):
                    self._variables.append(item)
        object.__setattr__(self, name, value)

    def _track_module(self, module: "Module") -> None:
        modules = self.__dict__.get("_modules")
        if modules is not None and all(m is not module for m in modules):
            modules.append(module)

    # ---- variables ----------------------------------------------------------------------

    def add_variable(
        self,
        initializer=None,
        data_model=None,
        trainable: bool = True,
        name: str | None = None,
        description: str | None = None,
    ) -> Variable:
        """Create a variable owned by this module (path ``<module name>/<name>``).

        A variable is trainable only when its data model carries the ``Trainable`` fields.
        """
        variable = Variable(
            initializer=initializer,
            data_model=data_model,
            trainable=trainable,
            name=name,
            description=description,
        )
        variable._path = f"{self.name}/{variable.name}"
        if not is_trainable_schema(variable.schema()):
            variable.trainable = False
        self._variables.append(variable)
        return variable

    @property
    def modules(self) -> list["Module"]:
        """The direct sub-modules, in the order they were assigned."""
        return list(self._modules)

    def _walk(self):
        seen = set()
        stack = [self]
        while stack:
            module = stack.pop(0)
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield module
            stack[0:0] = module.modules

    @property
    def variables(self) -> list[Variable]:
        found, seen = [], set()
        for module in self._walk():
            for variable in module._variables:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    found.append(variable)
        return found

    @property
    def trainable_variables(self) -> list[Variable]:
        """Variables the optimizer may change: ``[]`` for a frozen module."""
        if not self.trainable:
            return []
        found = [v for v in self._variables if v.trainable]
        for module in self.modules:
            found += [v for v in module.trainable_variables if v not in found]
        return found

    @property
    def non_trainable_variables(self) -> list[Variable]:
        trainable = {id(v) for v in self.trainable_variables}
        return [v for v in self.variables if id(v) not in trainable]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        for module in self._walk():
            module._trainable = bool(value)

    def get_variable(self, name: str | None = None, index: int | None = None) -> Variable:
        variables = self.variables
        if index is not None:
            return variables[index]
        for variable in variables:
            if variable.name == name or variable.path == name:
                return variable
        raise ValueError(
            f"No variable named {name!r} in {self.name}; it has {[v.path for v in variables]}."
        )

    # ---- calling ------------------------------------------------------------------------

    async def __call__(self, *args, **kwargs):
        args = map_structure(_to_value, args)
        self._check_positional(args)
        if any(isinstance(v, SymbolicDataModel) for v in flatten([list(args), kwargs])):
            await self._maybe_build(args)
            outputs = await maybe_await(self.compute_output_spec(*args, **kwargs))
            return self._record_node(args, kwargs, outputs)
        await self._maybe_build(args)
        return await self._eager_call(args, kwargs)

    async def _eager_call(self, args: tuple, kwargs: dict):
        training = kwargs.pop("training", None)
        if training is None:
            training = _training_context.get()
        if _accepts_training(type(self).call):
            kwargs["training"] = bool(training)
        token = _training_context.set(bool(training))
        logged = _call_logger.isEnabledFor(logging.DEBUG)
        if logged:
            _call_logger.debug(
                "%s (%s) called with %s", self.name, type(self).__name__, _as_json(list(args))
            )
        try:
            outputs = await self.call(*args, **kwargs)
        finally:
            _training_context.reset(token)
        if logged:
            _call_logger.debug(
                "%s (%s) returned %s", self.name, type(self).__name__, _as_json(outputs)
            )
        return outputs

    def _check_positional(self, args: tuple) -> None:
        for value in flatten(list(args)):
            if value is not None and not isinstance(value, (JsonDataModel, SymbolicDataModel)):
                raise ValueError(
                    f"Module '{self.name}' got a positional argument of type "
                    f"{type(value).__name__} ({value!r:.80}). Positional arguments must "
                    "be data models (DataModel, JsonDataModel, SymbolicDataModel) or None; "
                    "pass anything else as a keyword argument."
                )

    def _symbolic_call_sync(self, *args, **kwargs):
        """The symbolic path for modules whose ``compute_output_spec`` is synchronous."""
        self.built = True
        outputs = self.compute_output_spec(*args, **kwargs)
        if inspect.isawaitable(outputs):
            outputs.close()
            raise TypeError(f"{type(self).__name__}.compute_output_spec must be sync here.")
        return self._record_node(args, kwargs, outputs)

    def _record_node(self, args: tuple, kwargs: dict, outputs: Any):
        inputs = {id(v) for v in flatten([list(args), kwargs])}

        def fresh(value):
            # A module may return one of its inputs; the graph needs a distinct output.
            if isinstance(value, SymbolicDataModel) and (
                id(value) in inputs or value._history is not None
            ):
                return value.clone()
            return value

        outputs = map_structure(fresh, outputs)
        node = Node(self, args, kwargs, outputs)
        index = len(self._inbound_nodes)
        self._inbound_nodes.append(node)
        for position, symbol in enumerate(node.flat_outputs):
            symbol._history = (self, index, position)
        return outputs

    async def _maybe_build(self, args: tuple) -> None:
        if self.built:
            return
        if type(self).build is not Module.build:
            from synaprefect.modules.input_module import Input

            # build() sees fresh graph inputs of the right schemas, so a program can trace
            # its own graph from them (the mixed style).
            symbolic = map_structure(
                lambda v: Input(schema=v.get_schema()) if v is not None else None, args
            )
            await maybe_await(self.build(*symbolic))
        self.built = True

    def build(self, *inputs):
        """Create state that depends on the input schema. Called once, before ``call``
        (on the first call when not called before).

        Returns an awaitable already done, so Synalinks' ``await program.build(Query)``
        works too (a subclassed program's modules then build on their first call).
        """
        self.built = True
        return DONE

    async def call(self, *args, **kwargs):
        raise NotImplementedError(
            f"{type(self).__name__} must implement `async def call(self, inputs, training=False)`."
        )

    async def compute_output_spec(self, *args, **kwargs):
        """Trace ``call`` on symbolic inputs. Override when ``call`` needs real values."""
        try:
            return await self.call(*args, **kwargs)
        except Exception as error:
            error.add_note(
                f"While tracing module '{self.name}' on symbolic inputs: if "
                "`call` needs real values, implement `compute_output_spec()`."
            )
            raise

    # ---- configuration ------------------------------------------------------------------

    def get_config(self) -> dict:
        """The constructor arguments that recreate this module (JSON only)."""
        if self._auto_config is None:
            raise NotImplementedError(
                f"{type(self).__name__} has constructor arguments that are not plain JSON "
                "values, so it cannot be saved automatically: implement `get_config()` "
                "(and `from_config()`) returning JSON, and register the class with "
                "`synaprefect.saving.register_synaprefect_serializable()`."
            )
        base = {"name": self.name, "description": self.description, "trainable": self.trainable}
        return {**base, **self._auto_config}

    @classmethod
    def from_config(cls, config: dict) -> "Module":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
