"""The default http transport sends what litellm sends, and fails and costs the same.

Every case makes the same call twice against the simulated LM, once through litellm and
once through the http transport, and compares what reached the server (path, body,
the headers that matter) and what came back (answer, usage, cost, error class).
"""

import asyncio
import json

import pytest

import synaprefect as sp
from synaprefect.language_models import http_transport
from synaprefect.language_models.errors import (
    AuthenticationError,
    ModelNotFoundError,
    TransientLanguageModelError,
)
from synaprefect.testing import FaultPlan, SimulatedLM
from synaprefect.testing.responders import schema_responder

MESSAGES = [
    {"role": "system", "content": "You answer questions."},
    {"role": "user", "content": '<input>{"query": "Capital of France?"}</input>'},
]
SCHEMA = {
    "type": "object",
    "title": "Answer",
    "additionalProperties": False,
    "properties": {"thinking": {"type": "string"}, "answer": {"type": "string"}},
    "required": ["thinking", "answer"],
}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a city up.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]
# The headers litellm's request carries that change what the server does.
HEADERS = ("authorization", "content-type", "x-trace-id")

# (model, call options, schema or None): every option of the http transport, per provider.
CASES = {
    "openai-structured": ("openai/simulated", {}, SCHEMA),
    "openai-sampling": (
        "openai/simulated",
        {
            "temperature": 0.3,
            "top_p": 0.9,
            "seed": 7,
            "stop": ["\n\n"],
            "max_tokens": 64,
            "presence_penalty": 0.1,
            "frequency_penalty": 0.2,
            "logit_bias": {"50256": -100},
            "user": "u-1",
            "top_k": 5,
            "n": 1,
        },
        SCHEMA,
    ),
    "openai-max-completion-tokens": ("openai/simulated", {"max_completion_tokens": 32}, SCHEMA),
    "openai-tools": (
        "openai/simulated",
        {
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "lookup"}},
            "parallel_tool_calls": False,
            "_skip_mcp_handler": True,
        },
        None,
    ),
    "openai-reasoning-model": (
        "openai/o3-mini",
        {"reasoning_effort": "low", "temperature": 0.2, "max_tokens": 50},
        SCHEMA,
    ),
    "openai-logprobs": ("openai/simulated", {"logprobs": True, "top_logprobs": 2}, SCHEMA),
    "openai-extra-headers": ("openai/simulated", {"extra_headers": {"X-Trace-Id": "t-42"}}, SCHEMA),
    "openai-priced": ("openai/gpt-4o-mini", {"temperature": 0.0}, SCHEMA),
    "openai-plain-chat": ("openai/simulated", {"temperature": 0.5}, None),
    "vllm-structured": ("hosted_vllm/simulated", {"temperature": 0.1, "seed": 3}, SCHEMA),
    "vllm-tools": (
        "hosted_vllm/simulated",
        {
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "lookup"}},
            "_skip_mcp_handler": True,
        },
        None,
    ),
}


def capturing_server(**kwargs):
    seen = []

    def capture(request):
        seen.append(
            {
                "path": request.path,
                "body": request.body,
                "headers": {
                    k.lower(): v for k, v in request.headers.items() if k.lower() in HEADERS
                },
            }
        )
        return schema_responder(request)

    return SimulatedLM(responder=capture, **kwargs), seen


async def call_both(model, options, schema, server, transports=("litellm", "http")):
    results = {}
    for transport in transports:
        lm = sp.LanguageModel(
            model,
            api_base=server.base_url,
            api_key="sk-parity",
            transport=transport,
            retry=1,
            **options,
        )
        answer = await lm(MESSAGES, schema=schema)
        results[transport] = (answer.get_json(), lm.counters())
    return results


@pytest.mark.parametrize("case", sorted(CASES))
async def test_same_request_answer_usage_and_cost(case):
    model, options, schema = CASES[case]
    assert (
        http_transport.request_body(
            sp.LanguageModel(model, api_base="http://x", **options)._call_kwargs(
                {"messages": MESSAGES}
            )
        )
        is not None
    ), "the case must take the http path"
    server, seen = capturing_server()
    with server:
        results = await call_both(model, options, schema, server)
    assert len(seen) == 2
    litellm_request, http_request = seen
    assert http_request["path"] == litellm_request["path"]
    assert http_request["body"] == litellm_request["body"]
    # Key order inside schemas is the order a model writes the fields in: it must match.
    for field in ("response_format", "tools"):
        assert json.dumps(http_request["body"].get(field)) == json.dumps(
            litellm_request["body"].get(field)
        )
    assert http_request["headers"] == litellm_request["headers"]
    assert http_request["headers"]["authorization"] == "Bearer sk-parity"
    (litellm_answer, litellm_counters), (http_answer, http_counters) = (
        results["litellm"],
        results["http"],
    )
    assert http_answer == litellm_answer
    for figure in ("calls", "prompt_tokens", "completion_tokens", "total_tokens"):
        assert http_counters[figure] == litellm_counters[figure], figure
    assert http_counters["cost"] == pytest.approx(litellm_counters["cost"], rel=1e-9)
    if case == "openai-priced":
        assert http_counters["cost"] > 0  # litellm's price map prices it


async def test_cached_prompt_tokens_cost_what_litellm_says():
    """A long system prompt sent again is read from the provider's cache (the simulated LM
    reports it as OpenAI does): both transports count the cheaper cached tokens."""
    long_prompt = [{"role": "system", "content": "Rules. " * 1200}, MESSAGES[1]]
    costs = {}
    with SimulatedLM() as server:
        for transport in ("litellm", "http"):
            server.reset_stats()  # the server forgets what it cached
            lm = sp.LanguageModel(
                "openai/gpt-4o-mini",
                api_base=server.base_url,
                api_key="sk-parity",
                transport=transport,
            )
            await lm(long_prompt, schema=SCHEMA)  # first sight: nothing cached
            first = lm.counters()["cost"]
            await lm(long_prompt, schema=SCHEMA)  # the prefix now comes from the cache
            costs[transport] = (first, lm.counters()["cost"] - first)
    (litellm_first, litellm_cached), (http_first, http_cached) = costs["litellm"], costs["http"]
    assert http_cached == pytest.approx(litellm_cached, rel=1e-9)
    assert http_first == pytest.approx(litellm_first, rel=1e-9)
    assert 0 < http_cached < http_first  # the cached call was cheaper


@pytest.mark.parametrize(
    "fault, error",
    [
        ("unauthorized", AuthenticationError),
        ("not_found", ModelNotFoundError),
        ("server_error", TransientLanguageModelError),
        ("rate_limit", TransientLanguageModelError),
        ("malformed", TransientLanguageModelError),
    ],
)
async def test_same_error_class_and_counts(fault, error):
    raised = {}
    with SimulatedLM(faults=FaultPlan(every=1, kinds=(fault,), retry_after=0)) as server:
        for transport in ("litellm", "http"):
            lm = sp.LanguageModel(
                "openai/simulated",
                api_base=server.base_url,
                api_key="sk-parity",
                transport=transport,
                retry=2,
                retry_backoff=0.01,
            )
            with pytest.raises(error) as caught:
                await lm(MESSAGES, schema=SCHEMA)
            counters = lm.counters()
            raised[transport] = (type(caught.value), counters["failed_calls"], counters["retries"])
    assert raised["http"] == raised["litellm"]


async def test_timeouts_are_transient_on_both():
    with SimulatedLM(faults=FaultPlan(every=1, kinds=("timeout",), hang_seconds=5)) as server:
        for transport in ("litellm", "http"):
            lm = sp.LanguageModel(
                "openai/simulated",
                api_base=server.base_url,
                api_key="sk-parity",
                transport=transport,
                retry=1,
                timeout=0.3,
            )
            with pytest.raises(TransientLanguageModelError):
                await lm(MESSAGES, schema=SCHEMA)


async def test_the_default_is_http_where_it_applies(monkeypatch):
    monkeypatch.delenv("SYNAPREFECT_LM_TRANSPORT", raising=False)
    assert http_transport.default_transport() == "http"
    sdk_headers = []

    def capture(request):
        sdk_headers.append(any(k.lower().startswith("x-stainless") for k in request.headers))
        return schema_responder(request)

    with SimulatedLM(responder=capture) as server:
        for transport in (None, "litellm"):
            lm = sp.LanguageModel(
                "openai/simulated", api_base=server.base_url, api_key="sk-x", transport=transport
            )
            await lm(MESSAGES, schema=SCHEMA)
    # litellm's OpenAI SDK client announces itself; the default transport does not.
    assert sdk_headers == [False, True]


@pytest.mark.parametrize(
    "model, options",
    [
        ("ollama_chat/llama3", {}),  # Ollama's own API, not chat completions
        ("anthropic/claude-3-5-haiku", {}),
        ("openai/simulated", {"api_version": "2024-01-01"}),  # an option litellm handles
        ("hosted_vllm/simulated", {"api_base": None}),  # litellm reports the missing base
    ],
)
def test_everything_else_goes_through_litellm(model, options):
    base = options.pop("api_base", "http://127.0.0.1:9/v1")
    lm = sp.LanguageModel(model, api_base=base, api_key="sk-x", **options)
    assert http_transport.request_body(lm._call_kwargs({"messages": MESSAGES})) is None


async def test_litellm_callbacks_keep_calls_on_litellm(simulated_lm, monkeypatch):
    from litellm.integrations.custom_logger import CustomLogger

    from synaprefect.language_models.base import litellm_module

    litellm = litellm_module()
    logged = []

    class Recorder(CustomLogger):
        async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
            logged.append(kwargs["model"])

    # litellm copies callbacks into its internal lists at call time: restore them all.
    for hook in (
        "success_callback",
        "failure_callback",
        "input_callback",
        "_async_success_callback",
        "_async_failure_callback",
        "_async_input_callback",
        "service_callback",
    ):
        monkeypatch.setattr(litellm, hook, [])
    monkeypatch.setattr(litellm, "callbacks", [Recorder()])
    lm = sp.LanguageModel("openai/simulated", api_base=simulated_lm.base_url, api_key="sk-x")
    await lm(MESSAGES, schema=SCHEMA)
    for _ in range(50):  # litellm logs success from a background task
        if logged:
            break
        await asyncio.sleep(0.05)
    assert logged == ["simulated"]


def test_organization_in_the_environment_keeps_calls_on_litellm(monkeypatch):
    lm = sp.LanguageModel("openai/simulated", api_base="http://127.0.0.1:9/v1", api_key="k")
    kwargs = lm._call_kwargs({"messages": MESSAGES})
    assert http_transport.request_body(kwargs) is not None
    monkeypatch.setenv("OPENAI_ORGANIZATION", "org-1")
    assert http_transport.request_body(kwargs) is None
