"""The simulated LM itself, independent of HTTP: routing, latency, faults, responders, stats.

``Simulation.handle(method, path, headers, body)`` turns one request into a
``WireResponse``; ``app.py`` serves it over HTTP. All its state is touched from the serving
event loop only.

Example::

    simulation = Simulation(latency=0.01)
    response = await simulation.handle("POST", "/v1/chat/completions", {}, body)
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from synaprefect.testing.answers import chat_completion, embeddings, malformed_answer
from synaprefect.testing.faults import Fault, FaultHook, FaultPlan, fault_error
from synaprefect.testing.responders import schema_responder
from synaprefect.testing.wire import (
    CHAT_PATH,
    EMBEDDINGS_PATH,
    MODELS_PATH,
    ROUTES,
    SIMULATED_MODEL,
    SimulatedRequest,
    WireResponse,
    approx_tokens,
    dumps,
    error_response,
    loads,
    request_shape,
)
from synaprefect.utils.imports import import_object

__all__ = ["Responder", "ServerStats", "Simulation"]

# (request) -> dict | list | str | Fault, or an awaitable of one (async responders).
Responder = Callable[[SimulatedRequest], Any]

# Prompts shorter than this are never cached (as with OpenAI).
_CACHE_MIN_TOKENS = 1024
_SETTINGS = frozenset({"latency", "latency_jitter", "faults", "responder", "api_key", "models"})
_OK = b'{"ok":true}'


@dataclass
class ServerStats:
    """Snapshot of what the server has seen since start or the last ``reset_stats()``.

    Example::

        stats = lm.stats()
        assert stats.by_status.get("200") == stats.completed
        assert len(set(stats.completed_prompt_keys)) == len(stats.completed_prompt_keys)  # no re-issued call
    """

    requests: int = 0
    completed: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    by_fault: dict[str, int] = field(default_factory=dict)
    unique_prompts: int = 0
    completed_prompt_keys: list[str] = field(default_factory=list)
    max_in_flight: int = 0
    in_flight: int = 0
    embeddings: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable copy."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServerStats:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def _resolve_responder(responder: Responder | str | None) -> Responder:
    if responder is None:
        return schema_responder
    if isinstance(responder, str):
        responder = import_object(responder)
    if not callable(responder):
        raise TypeError(f"responder must be callable, got {responder!r}")
    return responder


def _is_json(text: str) -> bool:
    try:
        loads(text)
    except ValueError:
        return False
    return True


class Simulation:
    """Server state and request handling; touched only from the serving event loop."""

    def __init__(self, *, embedding_dim: int = 64, **settings: Any) -> None:
        """``settings`` are :meth:`configure`'s; the rest keep their defaults."""
        self.responder: Responder = schema_responder
        self.latency = 0.0
        self.latency_jitter = 0.0
        self.faults: FaultPlan | FaultHook | None = None
        self.api_key: str | None = None
        self.models: list[str] | None = None
        self.embedding_dim = embedding_dim
        self._rng = random.Random(0)
        self._in_flight = 0
        self.configure(**settings)
        self.reset()

    # ---- control (shared by thread mode and the /_sim endpoints of process mode)

    def reset(self) -> None:
        """Clear the statistics, restart request indexes at 0 and rewind a fault plan."""
        self._next_index = 0
        self._requests = 0
        self._completed = 0
        self._by_status: Counter[str] = Counter()
        self._by_fault: Counter[str] = Counter()
        self._prompt_keys: set[str] = set()
        self._completed_keys: list[str] = []
        self._max_in_flight = self._in_flight  # requests still running stay counted
        self._embeddings = 0
        self._cached_prompts: set[str] = set()
        if isinstance(self.faults, FaultPlan):
            self.faults.rewind()

    def stats(self) -> ServerStats:
        """A snapshot of the statistics."""
        return ServerStats(
            requests=self._requests,
            completed=self._completed,
            by_status=dict(self._by_status),
            by_fault=dict(self._by_fault),
            unique_prompts=len(self._prompt_keys),
            completed_prompt_keys=list(self._completed_keys),
            max_in_flight=self._max_in_flight,
            in_flight=self._in_flight,
            embeddings=self._embeddings,
        )

    def configure(self, **changes: Any) -> None:
        """Apply settings (``responder``, ``latency``, ``latency_jitter``, ``faults``, ``api_key``,
        ``models``); ``faults`` and ``responder`` accept objects or their JSON forms."""
        unknown = set(changes) - _SETTINGS
        if unknown:
            raise ValueError(f"unknown settings: {sorted(unknown)}")
        if "responder" in changes:
            self.responder = _resolve_responder(changes["responder"])
        if "faults" in changes:
            faults = changes["faults"]
            if isinstance(faults, Mapping):
                faults = FaultPlan.from_dict(faults)
            if faults is not None and not callable(faults) and not isinstance(faults, FaultPlan):
                raise TypeError(f"faults must be a FaultPlan, a callable or None, got {faults!r}")
            self.faults = faults
        for key in ("latency", "latency_jitter"):
            if key in changes:
                setattr(self, key, float(changes[key]))
        if "api_key" in changes:
            self.api_key = changes["api_key"]
        if "models" in changes:
            self.models = list(changes["models"]) if changes["models"] else None

    def _control(self, method: str, path: str, body: bytes) -> WireResponse:
        try:
            if path == "/_sim/stats" and method == "GET":
                return WireResponse(200, dumps(self.stats().to_dict()))
            if path == "/_sim/reset" and method == "POST":
                self.reset()
                return WireResponse(200, _OK)
            if path == "/_sim/config" and method == "POST":
                self.configure(**(loads(body) if body else {}))
                return WireResponse(200, _OK)
        except (ValueError, TypeError, ImportError, AttributeError) as exc:
            return error_response(400, f"invalid control request: {exc}", "invalid_request_error")
        return error_response(
            404, f"unknown control endpoint {method} {path}", "invalid_request_error"
        )

    # ---- API

    async def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> WireResponse:
        """Answer one request; ``headers`` have lower-case names."""
        if path.startswith("/v1/_sim/"):
            path = path[3:]  # control endpoints also answer below the base URL
        if path.startswith("/_sim/"):
            return self._control(method, path, body)
        if not path.startswith("/v1/"):
            path = "/v1" + path  # tolerate clients configured with a base URL lacking /v1
        index = self._next_index
        self._next_index += 1
        self._requests += 1
        self._in_flight += 1
        if self._in_flight > self._max_in_flight:
            self._max_in_flight = self._in_flight
        try:
            response = await self._handle_api(method, path, headers, body, index)
        finally:
            self._in_flight -= 1
        self._by_status[str(response.status)] += 1
        if response.status == 200:
            self._completed += 1
        return response

    async def _handle_api(
        self, method: str, path: str, headers: dict[str, str], body: bytes, index: int
    ) -> WireResponse:
        expected_method = ROUTES.get(path)
        if expected_method is None:
            return error_response(
                404, f"unknown path {path}", "invalid_request_error", "unknown_url"
            )
        if method != expected_method:
            return error_response(405, f"use {expected_method} for {path}", "invalid_request_error")
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return fault_error(Fault("unauthorized"))
        if path == MODELS_PATH:
            names = [SIMULATED_MODEL, *(self.models or [])]
            data = [
                {"id": name, "object": "model", "created": 0, "owned_by": "synaprefect"}
                for name in names
            ]
            return WireResponse(200, dumps({"object": "list", "data": data}))
        try:
            payload = loads(body)
            if not isinstance(payload, dict):
                raise ValueError("the JSON body must be an object")
            model = str(payload.get("model", ""))
            messages: list = []
            schema, tool_name = None, None
            if path == CHAT_PATH:
                messages = payload.get("messages") or []
                if not isinstance(messages, list):
                    raise ValueError("'messages' must be a list")
                schema, tool_name = request_shape(payload)
        except (ValueError, TypeError, AttributeError) as exc:  # includes JSON decode errors
            return error_response(400, f"invalid request body: {exc}", "invalid_request_error")
        request = SimulatedRequest(
            index, path, model, messages, schema, tool_name, payload, headers
        )
        if not self._model_known(model):
            return fault_error(Fault("not_found"), model)
        if path == CHAT_PATH:
            self._prompt_keys.add(request.prompt_key)
        try:
            fault = self._planned_fault(request)
        except Exception as exc:  # a broken fault hook must show up as a server error
            return error_response(
                500, f"fault plan failed: {type(exc).__name__}: {exc}", "server_error"
            )
        delay = self.latency + (
            self._rng.uniform(0.0, self.latency_jitter) if self.latency_jitter else 0.0
        )
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is not None:
            return await self._inject(fault, request)
        if path == EMBEDDINGS_PATH:
            return self._embeddings_answer(request)
        try:
            answer = self.responder(request)
            if inspect.isawaitable(answer):
                answer = await answer
        except (
            Exception
        ) as exc:  # a broken responder must show up as a server error, not kill the server
            return error_response(
                500, f"responder failed: {type(exc).__name__}: {exc}", "server_error"
            )
        if isinstance(answer, Fault):
            return await self._inject(answer, request)
        # A string answer to a schema request that is not JSON is not a completed prompt.
        if request.schema is None or not isinstance(answer, str) or _is_json(answer):
            self._completed_keys.append(request.prompt_key)
        return chat_completion(request, answer, self._cached_prefix_tokens(request))

    def _cached_prefix_tokens(self, request: SimulatedRequest) -> int:
        """Prompt caching as OpenAI reports it: a system prompt of 1,024 tokens or more
        seen before is read from the cache, in steps of 128 tokens."""
        tokens = approx_tokens(len(request.system_prompt))
        if tokens < _CACHE_MIN_TOKENS:
            return 0
        seen = request.system_prompt in self._cached_prompts
        self._cached_prompts.add(request.system_prompt)
        return tokens // 128 * 128 if seen else 0

    def _model_known(self, model: str) -> bool:
        if self.models is None:
            return True
        names = {SIMULATED_MODEL, *self.models}
        bare = {name.removeprefix("openai/") for name in names}
        return model in names or model.removeprefix("openai/") in bare

    def _planned_fault(self, request: SimulatedRequest) -> Fault | None:
        if self.faults is None:
            return None
        if isinstance(self.faults, FaultPlan):
            return self.faults.pick(request)
        return self.faults(request)

    async def _inject(self, fault: Fault, request: SimulatedRequest) -> WireResponse:
        self._by_fault[fault.kind] += 1
        if fault.kind == "timeout":
            # Cancelled by the HTTP front end when the client gives up or the server stops.
            await asyncio.sleep(fault.hang_seconds)
            return error_response(504, "simulated timeout", "timeout", "timeout")
        if fault.kind == "malformed":
            if request.path == EMBEDDINGS_PATH:
                return self._embeddings_answer(request, malformed=True)
            return malformed_answer(request)
        return fault_error(fault, request.model)

    def _embeddings_answer(
        self, request: SimulatedRequest, malformed: bool = False
    ) -> WireResponse:
        try:
            response, count = embeddings(request, self.embedding_dim, malformed)
        except (ValueError, TypeError) as exc:
            return error_response(
                400, f"invalid embeddings request: {exc}", "invalid_request_error"
            )
        self._embeddings += count
        return response
