"""Programs: functional, sequential and subclassed."""

from synaprefect.programs.program import Program, program_from_json
from synaprefect.programs.sequential import Sequential

__all__ = ["Program", "Sequential", "program_from_json"]
