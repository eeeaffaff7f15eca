"""Flatten and map nested structures of lists, tuples and dicts."""

from collections.abc import Callable
from typing import Any


def flatten(structure: Any) -> list:
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in structure for leaf in flatten(structure[key])]
    return [structure]


def map_structure(fn: Callable[[Any], Any], structure: Any) -> Any:
    if isinstance(structure, list):
        return [map_structure(fn, item) for item in structure]
    if isinstance(structure, tuple):
        return tuple(map_structure(fn, item) for item in structure)
    if isinstance(structure, dict):
        return {key: map_structure(fn, value) for key, value in structure.items()}
    return fn(structure)


def pack_like(structure: Any, flat: list) -> Any:
    """Rebuild ``structure``'s shape with the leaves of ``flat``, in order."""
    leaves = iter(flat)
    return map_structure(lambda _: next(leaves), structure)
