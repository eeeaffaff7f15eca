"""Agents: modules that let a language model call tools in a loop."""

from synaprefect.modules.agents.function_calling_agent import (
    FunctionCallingAgent,
    default_agent_instructions,
)

__all__ = ["FunctionCallingAgent", "default_agent_instructions"]
