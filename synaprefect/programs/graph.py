"""The static graph behind functional programs: discovery, execution, configuration."""

import inspect
from typing import Any

from synaprefect.data_models.json_data_model import JsonDataModel
from synaprefect.data_models.symbolic_data_model import SymbolicDataModel
from synaprefect.data_models.validation import schema_errors
from synaprefect.modules.input_module import InputModule
from synaprefect.modules.module import Module, Node
from synaprefect.utils.async_utils import gather_or_cancel
from synaprefect.utils.nest import flatten, map_structure, pack_like

__all__ = ["Graph"]


def _describe(value: Any) -> str:
    if inspect.iscoroutine(value):
        value.close()
        return "a coroutine (did you forget `await` before calling the module?)"
    return f"{type(value).__name__}"


class Graph:
    """Nodes reachable from ``outputs`` back to ``inputs``, grouped by depth.

    Nodes of the same depth do not depend on each other, so they run concurrently.
    """

    def __init__(self, inputs: Any, outputs: Any):
        for role, structure in (("inputs", inputs), ("outputs", outputs)):
            for value in flatten(structure):
                if not isinstance(value, SymbolicDataModel):
                    raise ValueError(
                        f"Program {role} must be symbolic data models (from Input() or "
                        f"from calling modules on them), got {_describe(value)}."
                    )
        self.inputs = inputs
        self.outputs = outputs
        self.flat_inputs = flatten(inputs)
        self.flat_outputs = flatten(outputs)
        input_nodes = []
        for symbol in self.flat_inputs:
            if symbol._history is None or not isinstance(symbol._history[0], InputModule):
                raise ValueError("Program inputs must come straight from `synaprefect.Input(...)`.")
            input_nodes.append(self._node_of(symbol._history))
        self.nodes = self._topological(input_nodes)
        self.levels = self._levels()
        self.modules = list({id(n.module): n.module for n in self.nodes}.values())
        names = [m.name for m in self.modules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(
                f"Module names must be unique in a program; {duplicates} appear more than "
                "once. Pass distinct `name=` arguments to the modules."
            )

    @staticmethod
    def _node_of(history: tuple[Module, int, int]) -> Node:
        module, index, _ = history  # a symbol's ``_history``
        return module._inbound_nodes[index]

    def _topological(self, input_nodes: list[Node]) -> list[Node]:
        order, visited = [], set()
        allowed_inputs = {id(n) for n in input_nodes}

        def visit(node: Node) -> None:
            if id(node) in visited:
                return
            visited.add(id(node))
            for symbol in node.input_symbols:
                if symbol._history is None:
                    raise ValueError(
                        f"Module '{node.module.name}' uses a data model that does not come "
                        "from the program's inputs; build every value from Input()."
                    )
                visit(self._node_of(symbol._history))
            if isinstance(node.module, InputModule) and id(node) not in allowed_inputs:
                raise ValueError(
                    f"The outputs depend on the input '{node.module.name}', which is not "
                    "listed in the program's `inputs`."
                )
            order.append(node)

        for node in input_nodes:
            visit(node)
        for symbol in self.flat_outputs:
            if symbol._history is None:
                raise ValueError("A program output is not connected to the program inputs.")
            visit(self._node_of(symbol._history))
        return order

    def depths(self) -> list[int]:
        """The depth of each of ``nodes`` (same order): 0 for an input, else one more
        than its deepest parent.

        Example: ``graph.depths()  # [0, 1, 1, 2] for an input, two branches, a merge``
        """
        position = {id(node): index for index, node in enumerate(self.nodes)}
        depth: list[int] = []
        for node in self.nodes:  # topological: parents come first
            depth.append(1 + max((depth[position[id(p)]] for p in node.parent_nodes), default=-1))
        return depth

    def edges(self) -> list[tuple[int, int]]:
        """``(parent, child)`` positions in ``nodes``, one per node that feeds another.

        Example: ``graph.edges()  # [(0, 1), (0, 2), (1, 3), (2, 3)]``
        """
        position = {id(node): index for index, node in enumerate(self.nodes)}
        return list(
            dict.fromkeys(
                (position[id(parent)], child)
                for child, node in enumerate(self.nodes)
                for parent in node.parent_nodes
            )
        )

    def _levels(self) -> list[list[Node]]:
        levels: dict[int, list[Node]] = {}
        for node, depth in zip(self.nodes, self.depths()):
            if not isinstance(node.module, InputModule):
                levels.setdefault(depth, []).append(node)
        return [levels[d] for d in sorted(levels)]

    def output_nodes(self) -> dict[int, Node]:
        return {id(n): n for n in self.nodes}

    # ---- execution ----------------------------------------------------------------------

    def _bind_inputs(self, inputs: Any) -> list:
        if isinstance(self.inputs, SymbolicDataModel):
            values = [
                inputs[0] if isinstance(inputs, (list, tuple)) and len(inputs) == 1 else inputs
            ]
        elif isinstance(self.inputs, dict) and isinstance(inputs, dict):
            missing = [k for k in self.inputs if k not in inputs]
            if missing:
                raise ValueError(
                    f"Missing program inputs {missing}; expected keys {list(self.inputs)}."
                )
            values = flatten({k: inputs[k] for k in self.inputs})
        elif isinstance(inputs, dict):  # keyed by the names of the Input modules
            names = [symbol._history[0].name for symbol in self.flat_inputs]
            missing = [name for name in names if name not in inputs]
            if missing:
                raise ValueError(f"Missing program inputs {missing}; expected keys {names}.")
            values = [inputs[name] for name in names]
        else:
            values = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(values) != len(self.flat_inputs):
            raise ValueError(
                f"The program takes {len(self.flat_inputs)} inputs, got {len(values)}."
            )
        for symbol, value in zip(self.flat_inputs, values):
            module = symbol._history[0]
            if value is None:  # an inactive path: the modules and gates downstream decide
                continue
            if not isinstance(value, JsonDataModel):
                raise TypeError(
                    f"Program input '{module.name}' must be a data model, got "
                    f"{type(value).__name__}."
                )
            problems = schema_errors(value.get_json(), module.schema)
            if problems:
                raise ValueError(
                    f"Program input '{module.name}' does not match its data model: "
                    f"{'; '.join(problems)}."
                )
        return values

    async def run(self, inputs: Any) -> Any:
        """Run the graph on one sample: ``run_batch`` of that sample, each module called
        directly."""

        async def call(module, calls: list, node_index: int) -> list:
            [(args, kwargs)] = calls
            return [await module(*args, **kwargs)]

        [output] = await self.run_batch([inputs], call)
        return output

    async def run_batch(self, samples: list, run_module) -> list:
        """Run a batch one module at a time: ``run_module(module, calls, node)`` receives
        the ``(args, kwargs)`` of every sample for that module, and the node's index in
        the graph (a module may sit at several nodes), and returns their outputs, so a
        module's calls for the whole batch can be one tracked task."""
        values = [
            {id(s): v for s, v in zip(self.flat_inputs, self._bind_inputs(sample))}
            for sample in samples
        ]
        position = {id(node): index for index, node in enumerate(self.nodes)}

        async def run_node(node: Node) -> None:
            calls = []
            for sample_values in values:

                def resolve(value, sample_values=sample_values):
                    if isinstance(value, SymbolicDataModel):
                        return sample_values.get(id(value))
                    return value

                calls.append(
                    (map_structure(resolve, node.args), map_structure(resolve, node.kwargs))
                )
            results = await run_module(node.module, calls, position[id(node)])
            symbols = flatten(node.outputs)
            for sample_values, result in zip(values, results):
                outputs = flatten(result) if result is not None else [None] * len(symbols)
                for symbol, value in zip(symbols, outputs):
                    if symbol is not None:
                        sample_values[id(symbol)] = value

        for level in self.levels:
            if len(level) == 1:  # no task to create: the common chain of modules
                await run_node(level[0])
            else:
                await gather_or_cancel(*(run_node(node) for node in level))
        return [pack_like(self.outputs, [v.get(id(s)) for s in self.flat_outputs]) for v in values]

    # ---- configuration ------------------------------------------------------------------

    def get_config(self, serialize) -> dict:
        position = {id(node): i for i, node in enumerate(self.nodes)}

        def encode(value):
            if isinstance(value, SymbolicDataModel):
                assert value._history is not None  # _topological checked every graph symbol
                node = self._node_of(value._history)
                return {"__symbolic__": [position[id(node)], value._history[2]]}
            return value

        return {
            "modules": [serialize(module) for module in self.modules],
            "nodes": [
                {
                    "module": node.module.name,
                    "args": map_structure(encode, list(node.args)),
                    "kwargs": map_structure(encode, node.kwargs),
                }
                for node in self.nodes
            ],
            "inputs": map_structure(encode, self.inputs),
            "outputs": map_structure(encode, self.outputs),
        }

    @staticmethod
    async def rebuild(config: dict, modules_by_name: dict) -> tuple[Any, Any]:
        """Replay the recorded calls on fresh modules; returns ``(inputs, outputs)``."""
        produced: list[list] = []

        def decode(value):
            if isinstance(value, dict) and set(value) == {"__symbolic__"}:
                node_position, tensor = value["__symbolic__"]
                return produced[node_position][tensor]
            return value

        def decode_structure(structure):
            if isinstance(structure, dict) and set(structure) == {"__symbolic__"}:
                return decode(structure)
            if isinstance(structure, list):
                return [decode_structure(v) for v in structure]
            if isinstance(structure, dict):
                return {k: decode_structure(v) for k, v in structure.items()}
            return structure

        for node in config["nodes"]:
            module = modules_by_name[node["module"]]
            if isinstance(module, InputModule):
                produced.append([module.output])
                continue
            args = decode_structure(node["args"])
            kwargs = decode_structure(node["kwargs"])
            outputs = await module(*args, **kwargs)
            produced.append([o for o in flatten(outputs) if o is not None])
        inputs = decode_structure(config["inputs"])
        outputs = decode_structure(config["outputs"])
        return inputs, outputs
