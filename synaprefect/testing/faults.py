"""The simulated LM's fault model: which failure to inject, when, and its HTTP error reply.

Example::

    from synaprefect.testing import FaultPlan, SimulatedLM

    with SimulatedLM(faults=FaultPlan(every=3, kinds=("429", "timeout"), hang_seconds=5)) as lm:
        ...  # requests 3, 6, 9, ... fail, alternately rate-limited and hanging
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from synaprefect.testing.wire import CHAT_PATH, SimulatedRequest, WireResponse, error_response

__all__ = ["FAULT_KINDS", "Fault", "FaultHook", "FaultPlan", "fault_error"]

FAULT_KINDS = ("rate_limit", "server_error", "timeout", "malformed", "unauthorized", "not_found")
_FAULT_ALIASES = {
    "429": "rate_limit",
    "500": "server_error",
    "401": "unauthorized",
    "404": "not_found",
    "hang": "timeout",
}


def _fault_kind(name: str) -> str:
    kind = _FAULT_ALIASES.get(str(name).strip().lower(), str(name).strip().lower())
    if kind not in FAULT_KINDS:
        raise ValueError(
            f"unknown fault kind {name!r}; expected one of {FAULT_KINDS} or an HTTP status alias"
        )
    return kind


@dataclass(frozen=True)
class Fault:
    """A failure the server injects instead of a normal answer.

    ``kind`` is one of :data:`FAULT_KINDS`; the aliases ``"429"``, ``"500"``, ``"401"``,
    ``"404"`` and ``"hang"`` are accepted and normalised.

    - ``rate_limit``: HTTP 429 with a ``Retry-After: <retry_after>`` header.
    - ``server_error``: HTTP 500 with an OpenAI-style error body.
    - ``timeout``: no answer for ``hang_seconds`` (or until the client disconnects), then 504.
    - ``malformed``: HTTP 200 whose message content is truncated JSON (an embeddings
      request: one vector fewer than its inputs, billed all the same).
    - ``unauthorized``: HTTP 401 ``invalid_api_key``.
    - ``not_found``: HTTP 404 ``model_not_found``.

    Example (a responder that fails on one prompt)::

        lambda request: Fault("429", retry_after=1) if "busy" in request.user_prompt else {"ok": True}
    """

    kind: str
    retry_after: float = 0.0
    hang_seconds: float = 30.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _fault_kind(self.kind))


# A plain callable fault plan: return the fault to inject for this request, or None.
FaultHook = Callable[[SimulatedRequest], Fault | None]


@dataclass
class FaultPlan:
    """Deterministic schedule of faults.

    Requests on ``only_paths`` are numbered per plan from 1; after the first ``start`` of
    them, every ``every``-th one fails (``(n - start) % every == 0``), cycling through
    ``kinds`` in order. ``every=0`` disables the periodic rule. :meth:`at` instead fails
    explicit ``SimulatedRequest.index`` values. ``SimulatedLM.reset_stats()`` rewinds the
    schedule.

    Example::

        FaultPlan(every=3, kinds=("429", "timeout"), hang_seconds=5)   # requests 3, 6, 9, ...
        FaultPlan.at({0: "rate_limit", 2: "malformed"})                 # first and third requests
    """

    every: int = 3
    kinds: tuple[str, ...] = ("rate_limit", "server_error", "timeout", "malformed")
    start: int = 0
    retry_after: float = 0.0
    hang_seconds: float = 30.0
    only_paths: tuple[str, ...] = (CHAT_PATH,)
    explicit: dict[int, str] = field(default_factory=dict)
    _seen: int = field(default=0, init=False, repr=False, compare=False)
    _fired: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.kinds = tuple(_fault_kind(kind) for kind in self.kinds)
        self.only_paths = tuple(self.only_paths)
        self.explicit = {int(index): _fault_kind(kind) for index, kind in self.explicit.items()}
        if self.every < 0 or (self.every and not self.kinds):
            raise ValueError("FaultPlan needs every >= 0 and at least one kind when every > 0")

    @classmethod
    def at(cls, faults: Mapping[int, str], **options: Any) -> FaultPlan:
        """Plan failing exactly the requests whose ``index`` is a key of ``faults``."""
        return cls(every=0, kinds=(), explicit=dict(faults), **options)

    def pick(self, request: SimulatedRequest) -> Fault | None:
        """Return the fault for ``request`` (advancing the schedule) or ``None``."""
        if request.path not in self.only_paths:
            return None
        self._seen += 1
        kind = self.explicit.get(request.index)
        if (
            kind is None
            and self.every
            and self._seen > self.start
            and (self._seen - self.start) % self.every == 0
        ):
            kind = self.kinds[self._fired % len(self.kinds)]
            self._fired += 1
        if kind is None:
            return None
        return Fault(kind, retry_after=self.retry_after, hang_seconds=self.hang_seconds)

    def rewind(self) -> None:
        """Restart the schedule from the first request."""
        self._seen = 0
        self._fired = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (inverse of :meth:`from_dict`)."""
        return {
            "every": self.every,
            "kinds": list(self.kinds),
            "start": self.start,
            "retry_after": self.retry_after,
            "hang_seconds": self.hang_seconds,
            "only_paths": list(self.only_paths),
            "explicit": {str(index): kind for index, kind in self.explicit.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from :meth:`to_dict` output."""
        options = dict(data)
        for key in ("kinds", "only_paths"):
            if key in options:
                options[key] = tuple(options[key])
        return cls(**options)


def _format_seconds(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def fault_error(fault: Fault, model: str = "") -> WireResponse:
    """The HTTP error reply of ``fault``; the kinds that are behaviours rather than errors
    (``timeout`` hangs, ``malformed`` answers 200) have none."""
    kind = fault.kind
    if kind == "rate_limit":
        retry_after = (("Retry-After", _format_seconds(fault.retry_after)),)
        return error_response(
            429, "Rate limit reached (simulated).", "requests", "rate_limit_exceeded", retry_after
        )
    if kind == "server_error":
        return error_response(
            500,
            "The server had an error while processing your request (simulated).",
            "server_error",
        )
    if kind == "unauthorized":
        return error_response(
            401,
            "Incorrect API key provided (simulated).",
            "invalid_request_error",
            "invalid_api_key",
        )
    if kind == "not_found":
        message = f"The model '{model}' does not exist (simulated)."
        return error_response(404, message, "invalid_request_error", "model_not_found")
    raise ValueError(f"Fault kind {kind!r} is a behaviour, not an error reply.")
