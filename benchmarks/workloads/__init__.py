"""The workloads: each runs one system on the simulated LM and returns a ``Measurement``.

``WORKLOADS`` maps the names ``benchmarks.worker`` accepts to the functions (coroutine
functions or plain functions) and the keyword arguments a warm-up run shrinks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.workloads.common import Endpoint, Measurement
from benchmarks.workloads.evaluate import (
    aiohttp_reference,
    dspy_evaluate,
    litellm_reference,
    synaprefect_evaluate,
)
from benchmarks.workloads.prefect_costs import prefect_costs
from benchmarks.workloads.rate_limit import rate_limited_calls
from benchmarks.workloads.scale_out import scaled_evaluate
from benchmarks.workloads.storage import stored_run
from benchmarks.workloads.training import evaluate_peak_rss, synaprefect_fit

__all__ = ["WORKLOADS", "Endpoint", "Measurement"]

WORKLOADS: dict[str, Callable[..., Any]] = {
    "litellm": litellm_reference,
    "aiohttp": aiohttp_reference,
    "dspy": dspy_evaluate,
    "evaluate": synaprefect_evaluate,
    "fit": synaprefect_fit,
    "rss": evaluate_peak_rss,
    "rate_limit": rate_limited_calls,
    "scale_out": scaled_evaluate,
    "storage": stored_run,
    "prefect_costs": prefect_costs,
}
