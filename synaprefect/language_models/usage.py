"""Per-phase counters of calls, failures, tokens, cost and latency."""

import threading

from synaprefect.language_models.phases import PHASES

__all__ = ["UsageCounters", "COUNTER_KEYS", "add_usage"]

COUNTER_KEYS = (
    "calls",
    "failed_calls",
    "retries",
    "cache_hits",
    "fallback_activations",
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cost",
    "latency_s",
)


class UsageCounters:
    """Totals per phase and the figures of the last call."""

    def __init__(self):
        self._lock = threading.Lock()
        self._by_phase: dict[str, dict[str, float]] = {
            phase: dict.fromkeys(COUNTER_KEYS, 0) for phase in PHASES
        }
        self.last_call: dict[str, float | str] = {}  # the figures and the "phase"

    def add(self, phase: str, **values: float) -> None:
        with self._lock:
            counters = self._by_phase[phase]
            for key, value in values.items():
                counters[key] += value

    def record_call(self, phase: str, **values: float) -> None:
        self.add(phase, calls=1, **values)
        self.last_call = {"phase": phase, **values}

    def counters(self, phase: str | None = None) -> dict[str, float]:
        """Totals for one phase, or summed over every phase when ``phase`` is None."""
        with self._lock:
            if phase is not None:
                return dict(self._by_phase[phase])
            return {key: sum(c[key] for c in self._by_phase.values()) for key in COUNTER_KEYS}

    def reset(self) -> None:
        with self._lock:
            for counters in self._by_phase.values():
                counters.update(dict.fromkeys(COUNTER_KEYS, 0))
            self.last_call = {}


def add_usage(totals: dict[str, float], usage: dict[str, float]) -> None:
    """Add the figures of ``usage`` (cost, calls, tokens...) into ``totals``, in place.

    Example: ``add_usage(spent, {"cost": 0.002, "calls": 1.0, "tokens": 312})``
    """
    for name, value in usage.items():
        totals[name] = totals.get(name, 0.0) + value
