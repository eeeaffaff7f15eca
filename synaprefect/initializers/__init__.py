"""Initializers: callables that produce a variable's first value."""

from synaprefect.initializers.initializer import Empty, Initializer, get

__all__ = ["Initializer", "Empty", "get"]
