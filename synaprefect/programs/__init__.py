"""Programs: functional, sequential and subclassed."""

from synaprefect.programs.program import Program
from synaprefect.programs.sequential import Sequential

__all__ = ["Program", "Sequential"]
