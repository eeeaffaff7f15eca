"""ARC-AGI: infer the rule that turns each example's input grid into its output grid, then
apply it to a new input. One task per file; a grid is a list of rows of colours 0-9.

Tasks: ``<datasets dir>/arcagi/<version>/{training,evaluation}/<task>.json`` (version 1
or 2), the layout of the ``data/`` folder of github.com/fchollet/ARC-AGI (version 1) and
github.com/arcprize/ARC-AGI-2 (version 2): copy that folder there, e.g.
``cp -r ARC-AGI/data ~/.synaprefect/datasets/arcagi/1``. A task file holds ``{"train":
[{"input": grid, "output": grid}, ...], "test": [...]}``; the task names are the file
names found there.

Example:
```python
import synaprefect as synalinks

(x_train, y_train), (x_test, y_test) = synalinks.datasets.arcagi.load_data("62c24649")
inputs = synalinks.Input(data_model=synalinks.datasets.arcagi.get_input_data_model())
```
"""

from __future__ import annotations

import itertools
import os
from enum import Enum
from pathlib import Path
from typing import Any

from synaprefect.data_models import DataModel, Field
from synaprefect.datasets.benchmark import Arrays, DatasetNotFoundError, datasets_dir
from synaprefect.datasets.rows import DatasetError
from synaprefect.datasets.samples import validated_sample
from synaprefect.storage import location
from synaprefect.trainers.data import object_array

__all__ = [
    "Color",
    "ARCAGITask",
    "ARCAGIInput",
    "ARCAGIOutput",
    "default_instructions",
    "get_input_data_model",
    "get_output_data_model",
    "load_data",
    "task_folder",
    "get_arcagi1_training_task_names",
    "get_arcagi1_evaluation_task_names",
    "get_arcagi2_training_task_names",
    "get_arcagi2_evaluation_task_names",
]

_SOURCES = {1: "https://github.com/fchollet/ARC-AGI", 2: "https://github.com/arcprize/ARC-AGI-2"}


class Color(int, Enum):
    BLACK = 0
    BLUE = 1
    RED = 2
    GREEN = 3
    YELLOW = 4
    GRAY = 5
    MAGENTA = 6
    ORANGE = 7
    LIGHT_BLUE = 8
    DARK_RED = 9


class ARCAGITask(DataModel):
    input_grid: list[list[Color]] = Field(description="An input grid, rows of colours")
    output_grid: list[list[Color]] = Field(description="The grid that input becomes")


class ARCAGIInput(DataModel):
    examples: list[ARCAGITask] = Field(description="Solved examples of the transformation")
    input_grid: list[list[Color]] = Field(description="The grid to transform, rows of colours")


class ARCAGIOutput(DataModel):
    output_grid: list[list[Color]] = Field(description="The transformed grid, rows of colours")


def default_instructions() -> str:
    """Instructions for a generator that solves ARC-AGI tasks.

    Example: ``synalinks.Generator(..., instructions=arcagi.default_instructions())``
    """
    return (
        "Work out the rule that turns every example's input grid into its output grid, "
        "then apply that rule to the input grid."
    )


def get_input_data_model() -> type:
    """``ARCAGIInput{examples, input_grid}``."""
    return ARCAGIInput


def get_output_data_model() -> type:
    """``ARCAGIOutput{output_grid}``."""
    return ARCAGIOutput


def task_folder(arc_version: int = 1, subset: str = "training") -> Path:
    """Where the cache keeps the tasks of one version and subset (``training`` or
    ``evaluation``): ``<datasets dir>/arcagi/<version>/<subset>``."""
    if arc_version not in _SOURCES:
        raise ValueError(f"`arc_version` must be 1 or 2, got {arc_version!r}.")
    if subset not in ("training", "evaluation"):
        raise ValueError(f"`subset` must be 'training' or 'evaluation', got {subset!r}.")
    return datasets_dir() / "arcagi" / str(arc_version) / subset


def _task_names(arc_version: int, subset: str) -> list[str]:
    folder = task_folder(arc_version, subset)
    if not folder.is_dir():
        raise DatasetNotFoundError(
            f"arcagi: no ARC-AGI {arc_version} {subset} tasks in the local dataset cache: "
            f"expected the folder {folder} holding one <task>.json per task. synaprefect "
            f"downloads nothing; copy the data/ folder of {_SOURCES[arc_version]} (git clone "
            f"it on a machine with internet access) to {folder.parent}, or set "
            "$SYNAPREFECT_DATASETS to the folder that holds arcagi/ (see docs/datasets.md)."
        )
    return sorted(path.stem for path in folder.glob("*.json"))


def get_arcagi1_training_task_names() -> list[str]:
    """The names of the ARC-AGI 1 training tasks in the cache, sorted."""
    return _task_names(1, "training")


def get_arcagi1_evaluation_task_names() -> list[str]:
    """The names of the ARC-AGI 1 evaluation tasks in the cache, sorted."""
    return _task_names(1, "evaluation")


def get_arcagi2_training_task_names() -> list[str]:
    """The names of the ARC-AGI 2 training tasks in the cache, sorted."""
    return _task_names(2, "training")


def get_arcagi2_evaluation_task_names() -> list[str]:
    """The names of the ARC-AGI 2 evaluation tasks in the cache, sorted."""
    return _task_names(2, "evaluation")


def load_data(
    task_name: str,
    filepath: str | os.PathLike | None = None,
    arc_version: int = 1,
    one_leave_out: bool = True,
    permutation: bool = False,
    repeat: int = 1,
    curriculum_learning: bool = True,
) -> tuple[Arrays, Arrays]:
    """``(x_train, y_train), (x_test, y_test)`` of one task, read from ``filepath`` or
    from the cache (its training subset, else its evaluation subset).

    With ``one_leave_out``, each training pair becomes a sample whose examples are the
    task's other pairs (one sample per ordering of them with ``permutation``), and each
    test input gets every training pair as examples; without it, samples have no
    examples. Each training sample appears ``repeat`` times; ``curriculum_learning``
    orders them by the size of their output grid, smallest first.

    Example:
    ```python
    (x_train, y_train), (x_test, y_test) = load_data("62c24649", permutation=True)
    ```
    """
    if not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"`repeat` must be a positive integer, got {repeat!r}.")
    path = Path(filepath) if filepath else _cached_task(task_name, arc_version)
    train, test = _read_task(path)
    samples = []
    for i, pair in enumerate(train):
        others = [other for j, other in enumerate(train) if j != i] if one_leave_out else []
        orders = itertools.permutations(others) if permutation else [others]
        samples += [
            (_input(list(order), pair["input"], path), _output(pair, path))
            for order in orders
            for _ in range(repeat)
        ]
    if curriculum_learning:
        samples.sort(key=lambda sample: sum(len(row) for row in sample[1].output_grid))
    tests = [
        (_input(train if one_leave_out else [], pair["input"], path), _output(pair, path))
        for pair in test
    ]
    return _arrays(samples), _arrays(tests)


def _cached_task(task_name: str, arc_version: int) -> Path:
    for subset in ("training", "evaluation"):
        path = task_folder(arc_version, subset) / f"{task_name}.json"
        if path.is_file():
            return path
    known = _task_names(arc_version, "training")  # raises when the cache is empty
    raise ValueError(
        f"Unknown ARC-AGI {arc_version} task {task_name!r}: no {task_name}.json "
        f"in {task_folder(arc_version, 'training')} or its evaluation "
        f"sibling ({len(known)} training tasks there, e.g. {known[:3]})."
    )


def _read_task(path: Path) -> tuple[list[dict], list[dict]]:
    task = location(path).read_json("ARC-AGI task file")
    return _pairs(task, "train", path), _pairs(task, "test", path)


def _pairs(task: Any, name: str, path: Path) -> list[dict]:
    pairs = task.get(name) if isinstance(task, dict) else None
    if not isinstance(pairs, list) or not all(
        isinstance(pair, dict) and {"input", "output"} <= set(pair) for pair in pairs
    ):
        raise DatasetError(
            f"{path}: an ARC-AGI task needs a {name!r} list of "
            '{"input": grid, "output": grid} pairs.'
        )
    return pairs


def _input(examples: list[dict], grid: list, path: Path) -> ARCAGIInput:
    return validated_sample(
        ARCAGIInput,
        {
            "examples": [
                {"input_grid": pair["input"], "output_grid": pair["output"]} for pair in examples
            ],
            "input_grid": grid,
        },
        str(path),
    )


def _output(pair: dict, path: Path) -> ARCAGIOutput:
    return validated_sample(ARCAGIOutput, {"output_grid": pair["output"]}, str(path))


def _arrays(samples: list[tuple]) -> Arrays:
    return object_array([x for x, _ in samples]), object_array([y for _, y in samples])
