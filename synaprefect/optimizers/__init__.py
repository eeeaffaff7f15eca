"""In-context optimizers: they train instructions and few-shot examples."""

from typing import Any

from synaprefect.optimizers.omega import OMEGA
from synaprefect.optimizers.optimizer import Optimizer
from synaprefect.optimizers.random_few_shot import RandomFewShot

__all__ = ["Optimizer", "RandomFewShot", "OMEGA", "get", "serialize", "deserialize"]

_BY_NAME = {"randomfewshot": RandomFewShot, "random_few_shot": RandomFewShot}


def serialize(optimizer: Optimizer) -> dict:
    from synaprefect.saving.serialization import serialize_object

    return serialize_object(optimizer)


def deserialize(config: dict) -> Optimizer:
    from synaprefect.saving.serialization import deserialize_object

    return deserialize_object(config)


def get(identifier: Any) -> Optimizer | None:
    """An optimizer from a name (``"random_few_shot"``, ``"omega"``), a serialized dict or
    an instance."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in _BY_NAME:
            return _BY_NAME[key]()
        raise ValueError(
            f"Unknown optimizer {identifier!r}; known names: {sorted(_BY_NAME)}."
        )
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"Expected an optimizer, a name or a config dict, got {identifier!r}.")
