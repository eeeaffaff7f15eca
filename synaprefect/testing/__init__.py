"""Offline testing tools: an OpenAI-compatible simulated LM server and its responders.

Example::

    from synaprefect.testing import SimulatedLM, FaultPlan

    with SimulatedLM(latency=0.01, faults=FaultPlan(every=5)) as lm:
        ...  # point litellm at lm.model / lm.base_url / lm.api_key
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synaprefect.testing.responders import (
        constant_responder,
        generate_from_schema,
        match_responder,
        schema_responder,
    )
    from synaprefect.testing.server import (
        FAULT_KINDS,
        Fault,
        FaultPlan,
        Responder,
        ServerStats,
        SimulatedLM,
        SimulatedRequest,
        compute_prompt_key,
    )

__all__ = [
    "FAULT_KINDS",
    "Fault",
    "FaultPlan",
    "Responder",
    "ServerStats",
    "SimulatedLM",
    "SimulatedRequest",
    "compute_prompt_key",
    "constant_responder",
    "generate_from_schema",
    "match_responder",
    "schema_responder",
]

_RESPONDER_NAMES = {"constant_responder", "generate_from_schema", "match_responder", "schema_responder"}


def __getattr__(name: str) -> Any:
    # Imported lazily so that `python -m synaprefect.testing.server` does not find its own
    # module already imported by this package (runpy would warn and load it twice).
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = "responders" if name in _RESPONDER_NAMES else "server"
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
