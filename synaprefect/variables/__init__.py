"""Variables: the JSON state of modules, the part optimizers change."""

from synaprefect.variables.variable import Variable

__all__ = ["Variable"]
