"""A reward that costs CPU, for the scale-out workload: registered, so that shard and
Dask workers (with this repository on their PYTHONPATH) rebuild it from the program's
JSON."""

from __future__ import annotations

import time
from typing import Any

import synaprefect as sp

__all__ = ["BusyReward"]


@sp.saving.register_synaprefect_serializable(package="benchmarks")
class BusyReward(sp.rewards.Reward):
    """Exact match on ``answer``, after ``cpu_ms`` milliseconds of pure-Python work."""

    def __init__(self, cpu_ms: float = 20.0, name: str = "busy_reward", **kwargs: Any):
        super().__init__(name=name, **kwargs)
        self.cpu_ms = cpu_ms

    async def call(self, y_true, y_pred) -> float:
        deadline = time.process_time() + self.cpu_ms / 1000
        while time.process_time() < deadline:
            pass
        if y_true is None or y_pred is None:
            return 0.0
        return float(y_true.get_json()["answer"] == y_pred.get_json()["answer"])

    def get_config(self) -> dict:
        return {**super().get_config(), "cpu_ms": self.cpu_ms}
