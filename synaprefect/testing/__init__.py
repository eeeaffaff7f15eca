"""Offline testing tools: an OpenAI-compatible simulated LM server and its responders.

Example::

    from synaprefect.testing import SimulatedLM, FaultPlan

    with SimulatedLM(latency=0.01, faults=FaultPlan(every=5)) as lm:
        ...  # point litellm at lm.model / lm.base_url / lm.api_key
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from synaprefect.testing.faults import FAULT_KINDS, Fault, FaultPlan
from synaprefect.testing.responders import (
    constant_responder,
    generate_from_schema,
    match_responder,
    schema_responder,
    tool_calls_responder,
)
from synaprefect.testing.simulation import Responder, ServerStats
from synaprefect.testing.wire import SimulatedRequest, ToolCalls, compute_prompt_key

if TYPE_CHECKING:
    from synaprefect.testing.server import SimulatedLM

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FaultPlan",
    "Responder",
    "ServerStats",
    "SimulatedLM",
    "SimulatedRequest",
    "ToolCalls",
    "compute_prompt_key",
    "constant_responder",
    "generate_from_schema",
    "match_responder",
    "schema_responder",
    "tool_calls_responder",
]


def __getattr__(name: str) -> Any:
    # SimulatedLM is imported on first use: `python -m synaprefect.testing.server` must not
    # find its own module already imported by this package (runpy would warn and load it
    # twice), and importing the package stays free of aiohttp.
    if name == "SimulatedLM":
        return importlib.import_module(f"{__name__}.server").SimulatedLM
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
