"""Turning user data into validated samples, splits and batches."""

import math
from typing import Any, overload

import numpy as np

from synaprefect.data_models.json_data_model import JsonDataModel

__all__ = [
    "to_samples",
    "check_against_inputs",
    "train_validation_split",
    "batches",
    "batch_pairs",
    "object_array",
]


def object_array(items: list) -> np.ndarray:
    """A 1-D numpy object array of ``items`` (``np.array`` would try to nest them).

    Example: ``object_array([Answer(answer="Paris"), None])``
    """
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array


def _to_json(value: Any, where: str) -> JsonDataModel | None:
    if value is None or isinstance(value, JsonDataModel):
        return value
    if hasattr(value, "to_json_data_model"):
        return value.to_json_data_model()
    raise TypeError(
        f"{where} must be a DataModel or JsonDataModel instance, got {type(value).__name__}"
        f" ({value!r:.80}). Build samples as e.g. Query(query='...')."
    )


def _is_column(value: Any) -> bool:
    return isinstance(value, (list, tuple, np.ndarray))


@overload
def to_samples(data: list | tuple | dict | np.ndarray, name: str) -> list: ...
@overload
def to_samples(data: Any, name: str) -> list | None: ...
def to_samples(data: Any, name: str) -> list | None:
    """A list of samples from a numpy array or list of data models.

    Multi-input programs take what Keras takes: a list with one array per input
    (``x=[questions, contexts]``) or a dict of arrays keyed by input name; each sample
    then becomes a list (or dict) of data models.
    """
    if data is None:
        return None
    if isinstance(data, JsonDataModel) or hasattr(data, "get_json"):
        raise TypeError(
            f"`{name}` must be a list or numpy array of samples, got a single "
            f"{type(data).__name__}. Wrap it: {name}=[sample]."
        )
    if isinstance(data, dict):
        columns = {key: _column(value, f"{name}[{key!r}]") for key, value in data.items()}
        size = _common_length(columns.values(), name)
        return [
            {key: _to_json(column[i], f"{name}[{key!r}][{i}]") for key, column in columns.items()}
            for i in range(size)
        ]
    if not isinstance(data, (list, tuple, np.ndarray)):
        raise TypeError(
            f"`{name}` must be a list or numpy array of data models, got {type(data).__name__}."
        )
    if len(data) and all(_is_column(column) for column in data):
        arrays = [_column(column, f"{name}[{k}]") for k, column in enumerate(data)]
        size = _common_length(arrays, name)
        return [
            [_to_json(column[i], f"{name}[{k}][{i}]") for k, column in enumerate(arrays)]
            for i in range(size)
        ]
    return [_to_json(item, f"{name}[{index}]") for index, item in enumerate(data)]


def _column(value: Any, where: str) -> list:
    if not _is_column(value):
        raise TypeError(
            f"`{where}` must be a list or numpy array of data models, got {type(value).__name__}."
        )
    return list(value)


def _common_length(columns, name: str) -> int:
    lengths = {len(column) for column in columns}
    if len(lengths) != 1:
        raise ValueError(
            f"The inputs of `{name}` must all have the same number of samples, got "
            f"{sorted(lengths)}."
        )
    return lengths.pop()


def check_against_inputs(program, samples: list, name: str) -> None:
    """Every sample must follow the program's input schema: checked before any LM call."""
    graph = getattr(program, "_graph", None)
    if graph is None or not samples:
        return
    for index, sample in enumerate(samples):
        try:
            graph._bind_inputs(sample)
        except (ValueError, TypeError) as error:
            raise ValueError(f"`{name}[{index}]`: {error}") from None


def train_validation_split(x: list, y: list | None, validation_split: float):
    """The last ``validation_split`` fraction is the validation set (never shuffled)."""
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(
            f"`validation_split` must be in [0, 1), got {validation_split}; e.g. 0.2 "
            "keeps the last 20% of the samples for validation."
        )
    if validation_split == 0.0:
        return (x, y), (None, None)
    cut = int(math.floor(len(x) * (1.0 - validation_split)))
    if cut <= 0 or cut >= len(x):
        raise ValueError(
            f"`validation_split={validation_split}` of {len(x)} samples leaves "
            f"{cut} for training and {len(x) - cut} for validation; use more samples, "
            "another split, or `validation_data=`."
        )
    y_train = y[:cut] if y is not None else None
    y_val = y[cut:] if y is not None else None
    return (x[:cut], y_train), (x[cut:], y_val)


def batches(size: int, batch_size: int, order: list[int] | None = None) -> list[list[int]]:
    """Sample indices per batch (the last batch may be smaller)."""
    if batch_size is None or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    order = list(range(size)) if order is None else order
    return [order[i : i + batch_size] for i in range(0, size, batch_size)]


def batch_pairs(x: list, y: list | None, batch_size: int) -> list[tuple[list, list]]:
    """``(samples, targets)`` of each batch of ``x``, in order; without ``y`` the targets
    are ``None``.

    Example: ``batch_pairs([a, b, c], None, 2)  # [([a, b], [None, None]), ([c], [None])]``
    """
    pairs = []
    for indices in batches(len(x), batch_size):
        samples = [x[i] for i in indices]
        pairs.append((samples, [y[i] for i in indices] if y else [None] * len(samples)))
    return pairs
