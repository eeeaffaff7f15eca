"""``Sequential``: a single chain of modules."""

from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.modules.input_module import Input, InputModule
from synaprefect.modules.module import Module
from synaprefect.programs.graph import Graph
from synaprefect.programs.program import Program
from synaprefect.saving import program_saving
from synaprefect.utils.async_utils import run_sync
from synaprefect.utils.serialization import custom_object_scope

__all__ = ["Sequential"]


class Sequential(Program):
    """A program where each module feeds the next.

    Starting the list with an ``Input`` builds the program at once; otherwise it is built
    on its first call, from the schema of the data it receives.

    Example:
    ```python
    program = synaprefect.Sequential([
        synaprefect.Input(data_model=Query),
        synaprefect.Generator(data_model=Answer, language_model=lm),
    ])
    ```
    """

    # Set with object.__setattr__, past Module's attribute tracking.
    _layers: list[Module]
    _input: SymbolicDataModel | None

    def __init__(
        self,
        modules: list | None = None,
        trainable: bool = True,
        name: str | None = None,
        description: str | None = None,
    ):
        super().__init__(name=name, description=description, trainable=trainable)
        object.__setattr__(self, "_layers", [])
        object.__setattr__(self, "_input", None)
        for module in modules or []:
            self._append(module)
        self._rebuild()

    @property
    def modules(self) -> list[Module]:
        return list(self._layers)

    def _append(self, module) -> None:
        if isinstance(module, SymbolicDataModel):
            owner = module._history[0] if module._history else None
            if not isinstance(owner, InputModule):
                raise ValueError(
                    "Sequential accepts Input(...) as its first entry and modules after it."
                )
            module = owner
        if isinstance(module, InputModule):
            if self._input is not None or self._layers:
                raise ValueError("A Sequential program takes one Input, first in the list.")
            object.__setattr__(self, "_input", module.output)
            return
        if not isinstance(module, Module):
            raise TypeError(
                f"Sequential takes modules, got {type(module).__name__}: {module!r:.80}."
            )
        if any(m.name == module.name for m in self._layers):
            raise ValueError(
                f"A module named '{module.name}' is already in this Sequential program; "
                "pass a distinct `name=`."
            )
        self._layers.append(module)

    def add(self, module) -> None:
        """Append a module (or the Input, first) and rebuild the graph when possible."""
        self._append(module)
        self._rebuild()

    def pop(self) -> Module:
        """Remove and return the last module."""
        if not self._layers:
            raise ValueError("This Sequential program has no module to pop.")
        module = self._layers.pop()
        self._rebuild()
        return module

    def _rebuild(self) -> None:
        object.__setattr__(self, "_graph", None)
        self.built = False
        if self._input is not None and self._layers:
            run_sync(self._build_graph(self._input))

    async def _build_graph(self, inputs: SymbolicDataModel) -> None:
        outputs = inputs
        for module in self._layers:
            outputs = await module(outputs)
        object.__setattr__(self, "_graph", Graph(inputs, outputs))
        self.built = True

    async def build(self, inputs) -> None:
        if not self._layers:
            raise ValueError("This Sequential program has no module; add some first.")
        start = self._input if self._input is not None else inputs
        object.__setattr__(self, "_input", start)
        await self._build_graph(start)

    def get_config(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
            "input_schema": self._input.get_schema() if self._input is not None else None,
            "modules": [program_saving.serialize_module(m) for m in self._layers],
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Sequential":
        with custom_object_scope(custom_objects):
            modules = [program_saving.deserialize_module(m) for m in config["modules"]]
        if config.get("input_schema") is not None:
            modules.insert(0, Input(schema=config["input_schema"]))
        return cls(
            modules=modules,
            name=config.get("name"),
            description=config.get("description"),
            trainable=config.get("trainable", True),
        )
