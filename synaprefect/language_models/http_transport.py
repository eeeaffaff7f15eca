"""``transport="http"``: chat completions sent straight to an OpenAI-compatible endpoint.

litellm spends several milliseconds of CPU on every call (the OpenAI SDK's request
transformation, cost calculation, its logging pipeline); on a 2-core machine that, not the
model's latency, bounds how many calls per second a program makes. This transport sends
the request body litellm would send, over one keep-alive ``aiohttp`` session per event
loop, and reads the answer itself.

It applies to ``openai/...`` models whose request options are all OpenAI chat-completion
parameters (``OPTIONS``); the body is built by litellm's own parameter mapping
(``litellm.utils.get_optional_params``, cached per model and options), so parameters are
renamed, dropped or moved exactly as litellm does. Every other call, and every other
provider, goes through litellm. Errors carry the HTTP status and headers, so
``calls.classify_error`` maps them to the same classes as litellm's (401/403
authentication, 404 model not found, 400/422 bad request, the rest transient,
``Retry-After`` honoured).

What it does not do: litellm's callbacks (``litellm.callbacks``) are not called, the
OpenAI SDK's client headers (``User-Agent``, ``X-Stainless-*``) are not sent, keys come
from ``api_key=`` or ``OPENAI_API_KEY`` only, the endpoint from ``api_base=``,
``OPENAI_BASE_URL`` or ``OPENAI_API_BASE``, and the cost is litellm's flat per-token price
of the model (no tiered or cached-token pricing).

Example:
```python
lm = synaprefect.LanguageModel("openai/my-model", api_base="http://127.0.0.1:8000/v1",
                               api_key="sk-local", transport="http")
# or for every LanguageModel of the process: SYNAPREFECT_LM_TRANSPORT=http
```
"""

import asyncio
import copy
import functools
import json
import os
import urllib.request
import weakref
from types import SimpleNamespace
from typing import Any

from synaprefect.language_models.errors import AuthenticationError

__all__ = ["TRANSPORTS", "OPTIONS", "ProviderHTTPError", "default_transport",
           "request_body", "chat_completion", "message_of", "prices"]

TRANSPORTS = ("litellm", "http")
# Request options litellm maps onto an OpenAI request body (anything else, such as
# litellm's own metadata, extra headers or API versions, keeps a call on litellm).
OPTIONS = frozenset({
    "response_format", "temperature", "top_p", "top_k", "n", "stop", "max_tokens",
    "max_completion_tokens", "presence_penalty", "frequency_penalty", "logit_bias", "user",
    "seed", "tools", "tool_choice", "parallel_tool_calls", "logprobs", "top_logprobs",
    "reasoning_effort",
})
# litellm.acompletion arguments that configure the call rather than the request body.
_CONTROL = frozenset({"model", "messages", "api_base", "api_key", "timeout", "max_retries",
                      "drop_params"})
_DEFAULT_BASE = "https://api.openai.com/v1"


class ProviderHTTPError(Exception):
    """The endpoint answered with an error status (or with a body that is not JSON).

    ``status_code`` and ``headers`` are where ``calls.classify_error`` and the
    ``Retry-After`` handling look for them on litellm's errors.
    """

    def __init__(self, status_code: int, message: str, headers: Any = None):
        super().__init__(f"HTTP {status_code}: {message}")
        self.status_code = status_code
        self.headers = headers or {}


def default_transport() -> str:
    """``$SYNAPREFECT_LM_TRANSPORT`` (``litellm`` or ``http``), ``litellm`` when unset."""
    transport = os.environ.get("SYNAPREFECT_LM_TRANSPORT", "litellm").strip().lower()
    if transport not in TRANSPORTS:
        raise ValueError(
            f"$SYNAPREFECT_LM_TRANSPORT must be one of {TRANSPORTS}, got {transport!r}."
        )
    return transport


# (model name, options as JSON, key order kept: it is part of the body) -> litellm's
# mapping of them, or None when litellm's mapping refuses them.
_mapped: dict[tuple[str, str], dict | None] = {}
_MAPPED_MAX = 256


def _map_options(name: str, options: dict) -> dict | None:
    """litellm's OpenAI request parameters for ``options`` (``None`` when its mapping
    refuses them: the call then goes through litellm, which reports it)."""
    from synaprefect.language_models.base import litellm_module

    litellm_module()  # imported offline first
    from litellm.utils import get_optional_params

    try:
        mapped = get_optional_params(model=name, custom_llm_provider="openai",
                                     drop_params=True, **copy.deepcopy(options))
    except Exception:  # litellm raises its own errors; they are litellm's to report
        return None
    mapped.pop("stream", None)
    # The OpenAI SDK merges ``extra_body`` (litellm's provider-specific params) into the
    # body itself.
    extra = mapped.pop("extra_body", None) or {}
    return {**mapped, **extra}


def request_body(call_kwargs: dict) -> dict | None:
    """The body ``litellm.acompletion(**call_kwargs)`` would POST to an OpenAI-compatible
    endpoint, or ``None`` where this transport does not apply."""
    model = call_kwargs["model"]
    if not model.startswith("openai/"):
        return None
    options = {key: value for key, value in call_kwargs.items() if key not in _CONTROL}
    if not OPTIONS.issuperset(options):
        return None
    name = model.split("/", 1)[1]
    try:
        key = (name, json.dumps(options))
    except TypeError:  # not JSON (a pydantic class as response_format, ...): litellm's
        return None
    if key not in _mapped:
        if len(_mapped) >= _MAPPED_MAX:
            _mapped.clear()
        _mapped[key] = _map_options(name, options)
    mapped = _mapped[key]
    if mapped is None:
        return None
    return {"model": name, "messages": call_kwargs["messages"], **mapped}


# One session per event loop: aiohttp sessions belong to the loop that created them.
_sessions: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple]" = (
    weakref.WeakKeyDictionary()
)


async def _closing(session: Any):
    """Parked async generator whose ``finally`` closes ``session``: ``asyncio.run`` (and
    any loop shut down with ``shutdown_asyncgens``) finalises it before closing."""
    try:
        yield
    finally:
        await session.close()


async def _session() -> Any:
    loop = asyncio.get_running_loop()
    entry = _sessions.get(loop)
    if entry is None or entry[0].closed:
        import aiohttp

        # No connection cap (a model's max_concurrency is the cap). Proxies come from the
        # environment, as with litellm's client; aiohttp then looks them up on every
        # request (in a thread), so only when some are set.
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                        trust_env=bool(urllib.request.getproxies()))
        keeper = _closing(session)
        await keeper.__anext__()
        entry = _sessions[loop] = (session, keeper)
    return entry[0]


def _error_message(status: int, body: bytes) -> str:
    try:
        error = json.loads(body)["error"]
        return str(error.get("message") or error) if isinstance(error, dict) else str(error)
    except (ValueError, KeyError, TypeError):
        return body[:300].decode("utf-8", "replace") or f"status {status}"


async def chat_completion(model: str, body: dict, *, api_base: str | None,
                          api_key: str | None, timeout: float) -> dict:
    """POST ``body`` (see ``request_body``) to ``<api_base>/chat/completions``; the
    decoded JSON answer. Raises ``ProviderHTTPError``, ``TimeoutError``, aiohttp's
    connection errors, or ``AuthenticationError`` when no key is configured."""
    import aiohttp

    key = api_key or os.environ.get("OPENAI_API_KEY")
    if not key:
        raise AuthenticationError(
            model, "missing credentials: no API key (pass api_key= or set OPENAI_API_KEY)")
    base = (api_base or os.environ.get("OPENAI_BASE_URL") or os.environ.get("OPENAI_API_BASE")
            or _DEFAULT_BASE).rstrip("/")
    payload = json.dumps(body).encode()
    session = await _session()
    try:
        async with session.post(f"{base}/chat/completions", data=payload,
                                headers={"Authorization": f"Bearer {key}",
                                         "Content-Type": "application/json"},
                                timeout=aiohttp.ClientTimeout(total=timeout)) as response:
            content = await response.read()
            status, headers = response.status, response.headers
    except TimeoutError:
        raise TimeoutError(f"no answer within {timeout} s") from None
    if status != 200:
        raise ProviderHTTPError(status, _error_message(status, content), headers)
    try:
        answer = json.loads(content)
        answer["choices"][0]["message"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ProviderHTTPError(status, f"not a chat completion: {content[:120]!r}") from None
    return answer


def message_of(answer: dict) -> SimpleNamespace:
    """The first choice's message with attribute access, as litellm's response has it."""
    message = answer["choices"][0]["message"]
    calls = [SimpleNamespace(function=SimpleNamespace(
        arguments=(call.get("function") or {}).get("arguments")))
        for call in message.get("tool_calls") or []]
    return SimpleNamespace(content=message.get("content"), refusal=message.get("refusal"),
                           tool_calls=calls)


@functools.lru_cache(maxsize=256)
def prices(model: str) -> tuple[float, float]:
    """litellm's price of one prompt and one completion token of ``model`` (0 when
    the model is not in its price map)."""
    from synaprefect.language_models.base import litellm_module

    litellm = litellm_module()
    try:
        prompt, _ = litellm.cost_per_token(model=model, prompt_tokens=1000,
                                           completion_tokens=0)
        _, completion = litellm.cost_per_token(model=model, prompt_tokens=0,
                                               completion_tokens=1000)
    except Exception:  # litellm raises for models missing from its price map
        return 0.0, 0.0
    return prompt / 1000, completion / 1000

