"""``Program``: a module made of modules, trained with ``compile`` / ``fit``.

Three ways to make one:

* functional: ``Program(inputs=x0, outputs=x1)``;
* subclassing: define modules in ``__init__`` and the logic in ``async def call``;
* mixed: a subclass whose ``async def build(self, inputs)`` builds the graph and calls
  ``super().__init__(inputs=..., outputs=...)``.
"""

import json
import os
from collections.abc import Callable
from typing import Any

from synaprefect.modules.module import Module
from synaprefect.programs import synalinks_files
from synaprefect.programs.graph import Graph
from synaprefect.programs.summary import summary_text
from synaprefect.saving import program_saving
from synaprefect.trainers.trainer import Trainer
from synaprefect.utils.async_utils import run_sync
from synaprefect.utils.nest import map_structure
from synaprefect.utils.serialization import custom_object_scope
from synaprefect.version import __version__

__all__ = ["Program", "program_from_json"]


class Program(Trainer, Module):
    """A program of modules: build it, `compile` it, `fit` it, `save` it.

    Example:
    ```python
    inputs = synaprefect.Input(data_model=Query)
    outputs = await synaprefect.Generator(data_model=Answer, language_model=lm)(inputs)
    program = synaprefect.Program(inputs=inputs, outputs=outputs, name="qa")
    program.summary()
    answer = await program(Query(query="What is the capital of France?"))
    ```
    """

    _graph: Graph | None  # set with object.__setattr__, past Module's attribute tracking

    def __init__(
        self,
        inputs: Any = None,
        outputs: Any = None,
        name: str | None = None,
        description: str | None = None,
        trainable: bool = True,
        **kwargs,
    ):
        if description is None and type(self).__module__.startswith("synaprefect."):
            description = ""  # library classes' docstrings are not program descriptions
        if "_tracking_ready" not in self.__dict__:
            super().__init__(name=name, description=description, trainable=trainable, **kwargs)
        else:  # mixed style: build() calls super().__init__ a second time
            self.name = name or self.name
            self.description = description if description is not None else self.description
        object.__setattr__(self, "_graph", None)
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("A functional Program needs both `inputs=` and `outputs=`.")
            object.__setattr__(self, "_graph", Graph(inputs, outputs))
            self.built = True

    @property
    def inputs(self):
        return self._graph.inputs if self._graph is not None else None

    @property
    def outputs(self):
        return self._graph.outputs if self._graph is not None else None

    def get_graph(self) -> Graph | None:
        """The graph of a functional (or built ``Sequential``) program: its ``nodes`` in
        topological order (each a call of ``node.module``), ``depths()`` and ``edges()``;
        None for a subclassed program, whose structure lives in its ``call`` code.

        Example: ``[node.module.name for node in program.get_graph().nodes]``
        """
        return self._graph

    @property
    def modules(self) -> list[Module]:
        if self._graph is not None:
            return list(self._graph.modules)
        return super().modules

    def get_module(self, name: str | None = None, index: int | None = None) -> Module:
        """A module of the program by name or by index in ``program.modules``."""
        modules = self.modules
        if index is not None:
            if not -len(modules) <= index < len(modules):
                raise ValueError(
                    f"Index {index} is out of range: the program has {len(modules)} modules."
                )
            return modules[index]
        for module in modules:
            if module.name == name:
                return module
        raise ValueError(f"No module named {name!r}; the program has {[m.name for m in modules]}.")

    async def call(self, inputs, training: bool = False):
        if self._graph is None:
            raise NotImplementedError(
                f"{type(self).__name__} is a subclassed Program: implement "
                "`async def call(self, inputs, training=False)`, or build it functionally "
                "with Program(inputs=..., outputs=...)."
            )
        return await self._graph.run(inputs)

    async def compute_output_spec(self, inputs, training: bool = False):
        if self._graph is not None:
            return map_structure(lambda s: s.clone(), self._graph.outputs)
        return await super().compute_output_spec(inputs, training=training)

    def summary(
        self,
        line_length: int = 100,
        print_fn: Callable[[str], Any] | None = None,
        show_trainable: bool = False,
    ) -> None:
        """Print a table of the modules, their output schemas and variable counts."""
        (print_fn or print)(summary_text(self, line_length, show_trainable))

    # ---- configuration and saving -------------------------------------------------------

    def get_config(self) -> dict:
        if self._graph is None:
            return super().get_config()
        return {
            "name": self.name,
            "description": self.description,
            "trainable": self.trainable,
            **self._graph.get_config(program_saving.serialize_module),
        }

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> "Program":
        if "nodes" not in config:
            return cls(**config)
        # A functional program: its modules, then the graph of their calls.
        with custom_object_scope(custom_objects):
            modules = [program_saving.deserialize_module(entry) for entry in config["modules"]]
        inputs, outputs = run_sync(Graph.rebuild(config, {m.name: m for m in modules}))
        return Program(
            inputs=inputs,
            outputs=outputs,
            name=config.get("name"),
            description=config.get("description"),
            trainable=config.get("trainable", True),
        )

    def save(self, filepath: str | os.PathLike, overwrite: bool = True) -> None:
        """Save architecture, training configuration and every variable as one JSON file."""
        program_saving.save_program(self, filepath, overwrite=overwrite)

    @classmethod
    def load(cls, filepath: str | os.PathLike, custom_objects: dict | None = None) -> "Program":
        """Load a program saved with ``save`` (or by Synalinks: see ``synalinks_files``);
        returns the new program."""
        document, source = program_saving.read_program_file(filepath)
        return _from_document(document, custom_objects, source, with_variables=True)

    def save_variables(self, filepath: str | os.PathLike) -> None:
        """Save only the variables, to a ``.variables.json`` file."""
        program_saving.save_variables(self, filepath)

    def load_variables(self, filepath: str | os.PathLike) -> None:
        """Load variables saved by ``save_variables`` into this program (same architecture).

        The file is checked completely before anything is assigned.
        """
        program_saving.load_variables(self, filepath)

    def get_state_tree(self) -> dict:
        return program_saving.get_state_tree(self)

    def set_state_tree(self, state_tree: dict) -> None:
        program_saving.set_state_tree(self, state_tree)

    def to_json(self, indent: int | None = None) -> str:
        """The architecture only (no variables), as a JSON string that
        ``synaprefect.programs.program_from_json`` turns back into a program.

        Example: ``clone = synaprefect.programs.program_from_json(program.to_json())``
        """
        return json.dumps(
            {"synaprefect_version": __version__, **program_saving.serialize_module(self)},
            indent=indent,
        )


def program_from_json(
    json_string: str | dict, custom_objects: dict | None = None, source: str = "the JSON"
) -> Program:
    """A program from ``to_json()``'s string (fresh variables) or from a saved file's
    content (with its variables); Synalinks' documents are read too (uncompiled).

    Example:
    ```python
    clone = synaprefect.programs.program_from_json(program.to_json())
    ```
    """
    document = json.loads(json_string) if isinstance(json_string, (str, bytes)) else json_string
    return _from_document(document, custom_objects, source, with_variables=False)


def _from_document(
    document, custom_objects: dict | None, source: str, with_variables: bool
) -> Program:
    if synalinks_files.is_synalinks_document(document):
        document = synalinks_files.from_synalinks_document(document)
    return program_saving.program_from_document(
        document, custom_objects, source=source, with_variables=with_variables
    )
