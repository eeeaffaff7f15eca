"""In-context optimizers: they train instructions and few-shot examples."""

from synaprefect.optimizers.omega import OMEGA
from synaprefect.optimizers.optimizer import Optimizer
from synaprefect.optimizers.random_few_shot import RandomFewShot
from synaprefect.saving.registry import NamedRegistry

__all__ = ["Optimizer", "RandomFewShot", "OMEGA", "get", "serialize", "deserialize"]

_REGISTRY = NamedRegistry("optimizer", Optimizer)
_REGISTRY.register(RandomFewShot)
_REGISTRY.register(OMEGA)
serialize = _REGISTRY.serialize
deserialize = _REGISTRY.deserialize
get = _REGISTRY.get
