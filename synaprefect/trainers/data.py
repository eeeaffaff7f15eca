"""Turning user data into validated samples, splits and batches."""

import math
from typing import Any

import numpy as np

from synaprefect.data_models.json_data_model import JsonDataModel

__all__ = ["to_samples", "check_against_inputs", "train_validation_split", "batches"]


def _to_json(value: Any, where: str) -> JsonDataModel | None:
    if value is None or isinstance(value, JsonDataModel):
        return value
    if hasattr(value, "to_json_data_model"):
        return value.to_json_data_model()
    raise TypeError(
        f"{where} must be a DataModel or JsonDataModel instance, got {type(value).__name__}"
        f" ({value!r:.80}). Build samples as e.g. Query(query='...')."
    )


def to_samples(data: Any, name: str) -> list | None:
    """A list of samples from a numpy array or list; each sample is a data model, or a
    list/dict of data models for multi-input programs."""
    if data is None:
        return None
    if isinstance(data, (JsonDataModel,)) or hasattr(data, "get_json"):
        raise TypeError(
            f"`{name}` must be a list or numpy array of samples, got a single "
            f"{type(data).__name__}. Wrap it: {name}=[sample]."
        )
    if not isinstance(data, (list, tuple, np.ndarray)):
        raise TypeError(
            f"`{name}` must be a list or numpy array of data models, got "
            f"{type(data).__name__}."
        )
    samples = []
    for index, item in enumerate(data):
        where = f"{name}[{index}]"
        if isinstance(item, (list, tuple)):
            samples.append([_to_json(v, where) for v in item])
        elif isinstance(item, dict) and not hasattr(item, "get_json"):
            samples.append({k: _to_json(v, f"{where}[{k!r}]") for k, v in item.items()})
        else:
            samples.append(_to_json(item, where))
    return samples


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
    return [order[i:i + batch_size] for i in range(0, size, batch_size)]
