"""Tests of the simulated LM server over real HTTP (httpx, raw sockets and litellm)."""

import os

# Must precede the litellm import so that it never tries to fetch the cost map online.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import asyncio
import datetime
import importlib.util
import json
import math
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import litellm
import pytest

from synaprefect.testing import (
    FAULT_KINDS,
    Fault,
    FaultPlan,
    ServerStats,
    SimulatedLM,
    SimulatedRequest,
    compute_prompt_key,
    constant_responder,
    generate_from_schema,
    match_responder,
    schema_responder,
)
from synaprefect.testing.server import main as server_main

pytest_plugins = ["synaprefect.testing.pytest_plugin"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# litellm routes any call with `tools` through its MCP handler, which imports the optional
# `mcp` package; without it, skip that handler (the request sent is the same).
_TOOL_KWARGS = {} if importlib.util.find_spec("mcp") else {"_skip_mcp_handler": True}

ORDER_SCHEMA = {
    "type": "object",
    "$defs": {
        "Status": {"type": "string", "enum": ["open", "shipped", "closed"]},
        "Item": {
            "type": "object",
            "properties": {
                "sku": {"type": "string", "minLength": 12, "maxLength": 20},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 5},
                "price": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
                "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
            },
            "required": ["sku", "quantity", "price", "tags"],
            "additionalProperties": False,
        },
        "Category": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Category"}},
                "parent": {
                    "anyOf": [{"$ref": "#/$defs/Category"}, {"type": "null"}],
                    "default": None,
                },
            },
            "required": ["name", "children"],
            "additionalProperties": False,
        },
    },
    "properties": {
        "order_id": {"type": "string", "format": "uuid"},
        "kind": {"const": "order"},
        "status": {"$ref": "#/$defs/Status"},
        "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}, "minItems": 2, "maxItems": 4},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "created": {"type": "string", "format": "date-time"},
        "gift": {"type": ["boolean", "null"]},
        "category": {"$ref": "#/$defs/Category"},
        "meta": {
            "allOf": [
                {
                    "type": "object",
                    "properties": {"version": {"type": "integer", "minimum": 2}},
                    "required": ["version"],
                },
                {"properties": {"source": {"const": "web"}}, "required": ["source"]},
            ]
        },
    },
    "required": [
        "order_id",
        "kind",
        "status",
        "items",
        "note",
        "created",
        "gift",
        "category",
        "meta",
    ],
    "additionalProperties": False,
}


def _check_order(order: dict) -> None:
    """Validate ``order`` against ORDER_SCHEMA with jsonschema when available, and by hand."""
    if importlib.util.find_spec("jsonschema"):
        import jsonschema

        jsonschema.Draft202012Validator(ORDER_SCHEMA).validate(order)
    assert set(order) == set(ORDER_SCHEMA["properties"])
    uuid.UUID(order["order_id"])
    datetime.datetime.fromisoformat(order["created"])
    assert order["kind"] == "order"
    assert order["status"] in ("open", "shipped", "closed")
    assert 2 <= len(order["items"]) <= 4
    for item in order["items"]:
        assert set(item) == {"sku", "quantity", "price", "tags"}
        assert 12 <= len(item["sku"]) <= 20
        assert isinstance(item["quantity"], int) and 1 <= item["quantity"] <= 5
        assert 0 < item["price"] <= 10
        assert len(item["tags"]) <= 3 and all(isinstance(tag, str) for tag in item["tags"])
    assert isinstance(order["note"], str)  # first non-null anyOf branch
    assert isinstance(order["gift"], bool)
    assert order["meta"]["version"] >= 2 and order["meta"]["source"] == "web"

    def check_category(node: dict, depth: int) -> None:
        assert depth < 20, "recursion did not stop"
        assert isinstance(node["name"], str)
        for child in node["children"]:
            check_category(child, depth + 1)
        if node.get("parent") is not None:
            check_category(node["parent"], depth + 1)

    check_category(order["category"], 0)
    assert order["category"]["children"], "the first level of a recursive schema is expanded"


def _messages(text: str) -> list[dict]:
    return [{"role": "system", "content": "You extract orders."}, {"role": "user", "content": text}]


def _chat_body(text: str = "hello", **extra) -> dict:
    return {"model": "simulated", "messages": [{"role": "user", "content": text}], **extra}


def _json_schema_format(schema: dict) -> dict:
    return {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": schema, "strict": True},
    }


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b)) / (math.hypot(*a) * math.hypot(*b))


async def _wait_for(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def _connect(lm: SimulatedLM) -> socket.socket:
    return socket.create_connection(("127.0.0.1", httpx.URL(lm.base_url).port), timeout=5)


def _raw_exchange(lm: SimulatedLM, payload: bytes, responses: int) -> list[tuple[int, dict, bytes]]:
    """Send raw bytes on one connection and read ``responses`` HTTP responses from it."""
    with _connect(lm) as sock:
        sock.sendall(payload)
        reader = sock.makefile("rb")
        results = []
        for _ in range(responses):
            status = int(reader.readline().split()[1])
            headers = {}
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            results.append((status, headers, reader.read(int(headers["content-length"]))))
        return results


def _server_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


# --------------------------------------------------------------------------- structured output


async def test_structured_output_of_nested_schema_via_litellm(simulated_lm):
    response = await litellm.acompletion(
        **simulated_lm.litellm_kwargs,
        messages=_messages("Order #1: two mugs"),
        response_format=_json_schema_format(ORDER_SCHEMA),
    )
    order = json.loads(response.choices[0].message.content)
    _check_order(order)
    usage = response.usage
    assert (
        usage.prompt_tokens >= 1
        and usage.completion_tokens >= len(response.choices[0].message.content) // 5
    )
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_same_prompt_same_answer_and_prompt_key(simulated_lm):
    async def ask(text: str) -> str:
        response = await litellm.acompletion(
            **simulated_lm.litellm_kwargs,
            messages=_messages(text),
            response_format=_json_schema_format(ORDER_SCHEMA),
        )
        return response.choices[0].message.content

    first, again, other = await ask("Order #7"), await ask("Order #7"), await ask("Order #8")
    assert first == again
    assert other != first
    _check_order(json.loads(other))
    stats = simulated_lm.stats()
    assert stats.unique_prompts == 2
    key = compute_prompt_key(_messages("Order #7"), ORDER_SCHEMA)
    assert stats.completed_prompt_keys.count(key) == 2


async def test_plain_chat_and_json_object_answers(simulated_lm):
    async with httpx.AsyncClient(base_url=simulated_lm.base_url) as client:
        plain = (await client.post("/chat/completions", json=_chat_body("hi"))).json()
        json_mode = (
            await client.post(
                "/chat/completions", json=_chat_body("hi", response_format={"type": "json_object"})
            )
        ).json()
    assert plain["object"] == "chat.completion"
    message = plain["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"].startswith("Simulated answer")
    assert plain["choices"][0]["finish_reason"] == "stop"
    assert set(json.loads(json_mode["choices"][0]["message"]["content"])) == {"answer"}


async def test_forced_tool_call_answer_via_litellm(simulated_lm):
    parameters = {
        "type": "object",
        "properties": {
            "label": {"type": "string", "enum": ["spam", "ham"]},
            "score": {"type": "number"},
        },
        "required": ["label", "score"],
    }
    tools = [
        {
            "type": "function",
            "function": {"name": "other", "parameters": {"type": "object", "properties": {}}},
        },
        {"type": "function", "function": {"name": "classify", "parameters": parameters}},
    ]
    response = await litellm.acompletion(
        **simulated_lm.litellm_kwargs,
        messages=_messages("Buy now!!!"),
        tools=tools,
        tool_choice={"type": "function", "function": {"name": "classify"}},
        **_TOOL_KWARGS,
    )
    message = response.choices[0].message
    assert not message.content
    (call,) = message.tool_calls
    assert call.function.name == "classify" and call.id
    arguments = json.loads(call.function.arguments)
    assert arguments["label"] in ("spam", "ham") and isinstance(arguments["score"], float)


async def test_streaming_via_litellm(simulated_lm):
    stream = await litellm.acompletion(
        **simulated_lm.litellm_kwargs,
        messages=_messages("stream please"),
        response_format=_json_schema_format(
            {"type": "object", "properties": {"x": {"type": "integer"}}}
        ),
        stream=True,
    )
    text = "".join(
        [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    )
    assert isinstance(json.loads(text)["x"], int)


async def test_custom_responders(simulated_lm_factory):
    async def async_responder(request: SimulatedRequest):
        await asyncio.sleep(0)
        return {
            "echo": request.user_prompt,
            "system": request.system_prompt,
            "index": request.index,
        }

    lm = simulated_lm_factory(responder=async_responder)
    async with httpx.AsyncClient(base_url=lm.base_url) as client:
        body = {"model": "x", "messages": _messages("ping")}
        content = (await client.post("/chat/completions", json=body)).json()["choices"][0][
            "message"
        ]["content"]
        assert json.loads(content) == {"echo": "ping", "system": "You extract orders.", "index": 0}

        lm.set_responder(
            match_responder({"France": {"city": "Paris"}, "raw": "not json", "boom": Fault("500")})
        )
        answers = [
            await client.post("/chat/completions", json=_chat_body(text))
            for text in ("France?", "raw", "boom")
        ]
        assert json.loads(answers[0].json()["choices"][0]["message"]["content"]) == {
            "city": "Paris"
        }
        assert answers[1].json()["choices"][0]["message"]["content"] == "not json"
        assert answers[2].status_code == 500

        lm.set_responder(constant_responder([1, 2]))
        content = (await client.post("/chat/completions", json=_chat_body())).json()["choices"][0][
            "message"
        ]["content"]
        assert json.loads(content) == [1, 2]

        def broken(request):
            raise RuntimeError("responder bug")

        lm.set_responder(broken)
        failed = await client.post("/chat/completions", json=_chat_body())
        assert failed.status_code == 500 and "responder bug" in failed.json()["error"]["message"]

        lm.set_responder(None)
        content = (await client.post("/chat/completions", json=_chat_body())).json()["choices"][0][
            "message"
        ]["content"]
        assert content.startswith("Simulated answer")


# --------------------------------------------------------------------------- schema generator


def test_generate_from_schema_is_deterministic_and_valid():
    assert generate_from_schema(ORDER_SCHEMA, "seed-1") == generate_from_schema(
        ORDER_SCHEMA, "seed-1"
    )
    orders = [generate_from_schema(ORDER_SCHEMA, f"seed-{n}") for n in range(30)]
    for order in orders:
        _check_order(order)
    assert len({json.dumps(order, sort_keys=True) for order in orders}) == 30


@pytest.mark.parametrize(
    ("schema", "check"),
    [
        ({"type": "integer", "minimum": 10, "maximum": 12}, lambda v: v in (10, 11, 12)),
        ({"type": "integer", "exclusiveMinimum": 4, "exclusiveMaximum": 6}, lambda v: v == 5),
        ({"type": "number", "minimum": -1.5, "maximum": -1.25}, lambda v: -1.5 <= v <= -1.25),
        ({"type": "string", "minLength": 50, "maxLength": 60}, lambda v: 50 <= len(v) <= 60),
        (
            {"type": "string", "format": "date"},
            lambda v: datetime.date.fromisoformat(v) is not None,
        ),
        ({"type": ["null", "integer"]}, lambda v: isinstance(v, int)),
        ({"type": "null"}, lambda v: v is None),
        ({"type": "boolean"}, lambda v: isinstance(v, bool)),
        ({"enum": [3, "x", None]}, lambda v: v in (3, "x", None)),
        ({"const": {"a": [1]}}, lambda v: v == {"a": [1]}),
        ({"type": "integer", "default": 42}, lambda v: v == 42),
        (
            {"oneOf": [{"type": "null"}, {"type": "string", "format": "email"}]},
            lambda v: v.endswith("@example.com"),
        ),
        (
            {"type": "array", "items": {"type": "integer"}},
            lambda v: len(v) == 1 and isinstance(v[0], int),
        ),
        (
            {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3},
            lambda v: len(v) == 3,
        ),
        (
            {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "items": False,
            },
            lambda v: len(v) == 2 and isinstance(v[0], int) and isinstance(v[1], str),
        ),
        (
            {"type": "object", "additionalProperties": {"type": "integer"}},
            lambda v: v and all(isinstance(x, int) for x in v.values()),
        ),
        ({"properties": {"a": {"type": "integer"}}}, lambda v: isinstance(v["a"], int)),
        (
            {
                "$defs": {
                    "L": {
                        "type": "object",
                        "properties": {"next": {"$ref": "#/$defs/L"}},
                        "required": ["next"],
                    }
                },
                "$ref": "#/$defs/L",
            },
            lambda v: isinstance(v, dict),  # an unsatisfiable required cycle still terminates
        ),
        (
            {
                "definitions": {
                    "T": {
                        "type": "object",
                        "properties": {
                            "kids": {"type": "array", "items": {"$ref": "#/definitions/T"}}
                        },
                    }
                },
                "$ref": "#/definitions/T",
            },
            lambda v: v["kids"][0]["kids"][0] == {},  # recursion ends in the minimal form
        ),
    ],
)
def test_generate_from_schema_keywords(schema, check):
    for seed in ("a", "b", "c"):
        assert check(generate_from_schema(schema, seed)), generate_from_schema(schema, seed)


# --------------------------------------------------------------------------- faults


def test_fault_and_plan_objects():
    assert Fault("429").kind == "rate_limit" and Fault("hang").kind == "timeout"
    assert {Fault(alias).kind for alias in ("500", "401", "404", "malformed")} == {
        "server_error",
        "unauthorized",
        "not_found",
        "malformed",
    }
    assert set(FAULT_KINDS) == {
        "rate_limit",
        "server_error",
        "timeout",
        "malformed",
        "unauthorized",
        "not_found",
    }
    with pytest.raises(ValueError):
        Fault("teapot")
    with pytest.raises(ValueError):
        FaultPlan(every=2, kinds=())
    plan = FaultPlan.at({3: "429"}, retry_after=2, only_paths=("/v1/embeddings",))
    assert FaultPlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan


async def test_fault_plan_cycles_kinds_with_retry_after(simulated_lm_factory):
    lm = simulated_lm_factory(faults=FaultPlan(every=2, kinds=("429", "500"), retry_after=1))
    async with httpx.AsyncClient(base_url=lm.base_url) as client:
        responses = [
            await client.post("/chat/completions", json=_chat_body(f"q{n}")) for n in range(6)
        ]
        # Embeddings are outside the default only_paths and never fail.
        embedding = await client.post("/embeddings", json={"model": "simulated", "input": "x"})
    assert [r.status_code for r in responses] == [200, 429, 200, 500, 200, 429]
    assert embedding.status_code == 200
    assert responses[1].headers["retry-after"] == "1"
    assert responses[1].json()["error"]["code"] == "rate_limit_exceeded"
    assert responses[3].json()["error"]["type"] == "server_error"
    stats = lm.stats()
    assert stats.by_fault == {"rate_limit": 2, "server_error": 1}
    assert stats.by_status == {"200": 4, "429": 2, "500": 1}
    assert stats.requests == 7 and stats.completed == 4


async def test_fault_plan_start_explicit_and_callable(simulated_lm_factory):
    lm = simulated_lm_factory(faults=FaultPlan(every=2, start=3, kinds=("server_error",)))
    async with httpx.AsyncClient(base_url=lm.base_url) as client:

        async def statuses(count: int) -> list[int]:
            return [
                (await client.post("/chat/completions", json=_chat_body(f"{n}"))).status_code
                for n in range(count)
            ]

        assert await statuses(7) == [200, 200, 200, 200, 500, 200, 500]

        lm.set_faults(FaultPlan.at({1: "malformed", 2: "404"}))
        lm.reset_stats()  # request indexes restart at 0
        assert await statuses(4) == [200, 200, 404, 200]

        lm.set_faults(lambda request: Fault("401") if "bad" in request.user_prompt else None)
        bad = await client.post("/chat/completions", json=_chat_body("a bad one"))
        good = await client.post("/chat/completions", json=_chat_body("a good one"))
        assert (bad.status_code, good.status_code) == (401, 200)

        lm.set_faults(None)
        assert await statuses(3) == [200, 200, 200]


async def test_rate_limit_error_via_litellm(simulated_lm_factory):
    lm = simulated_lm_factory(faults=FaultPlan(every=1, kinds=("rate_limit",)))
    with pytest.raises(litellm.RateLimitError):
        await litellm.acompletion(**lm.litellm_kwargs, messages=_messages("x"), max_retries=0)
    assert lm.stats().by_status == {"429": 1}


async def test_malformed_answer_fails_json_loads(simulated_lm_factory):
    lm = simulated_lm_factory(faults=FaultPlan.at({0: "malformed"}))
    kwargs = {**lm.litellm_kwargs, "response_format": _json_schema_format(ORDER_SCHEMA)}
    broken = await litellm.acompletion(**kwargs, messages=_messages("Order #3"))
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.choices[0].message.content)
    fine = await litellm.acompletion(**kwargs, messages=_messages("Order #3"))
    _check_order(json.loads(fine.choices[0].message.content))
    stats = lm.stats()
    assert stats.by_status == {"200": 2} and stats.by_fault == {"malformed": 1}
    # only the valid answer counts as a completed prompt
    assert stats.completed_prompt_keys == [compute_prompt_key(_messages("Order #3"), ORDER_SCHEMA)]

    lm.set_faults(FaultPlan(every=1, kinds=("malformed",)))
    async with httpx.AsyncClient(base_url=lm.base_url) as client:
        plain = await client.post("/chat/completions", json=_chat_body("no schema"))
    assert (
        plain.status_code == 200
        and plain.json()["choices"][0]["message"]["content"] == '{"answer": '
    )
    assert (
        len(lm.stats().completed_prompt_keys) == 1
    )  # a malformed answer is never a completed prompt


async def test_timeout_fault_hangs_without_blocking_others(simulated_lm_factory):
    lm = simulated_lm_factory(faults=FaultPlan.at({0: "timeout"}, hang_seconds=30))
    async with (
        httpx.AsyncClient(base_url=lm.base_url, timeout=0.5) as hanging,
        httpx.AsyncClient(base_url=lm.base_url, timeout=5) as other,
    ):
        hung = asyncio.create_task(hanging.post("/chat/completions", json=_chat_body("slow")))
        await _wait_for(lambda: lm.stats().in_flight == 1)
        answered = await other.post("/chat/completions", json=_chat_body("fast"))
        # answered while the other request still hangs: nothing waited for it
        assert answered.status_code == 200 and lm.stats().in_flight == 1
        with pytest.raises(httpx.ReadTimeout):
            await hung
    # the client gave up and closed its connection: the server dropped the hanging request
    await _wait_for(lambda: lm.stats().in_flight == 0)
    stats = lm.stats()
    assert stats.by_fault == {"timeout": 1} and stats.by_status == {"200": 1}


async def test_timeout_fault_answers_504_after_hang_seconds(simulated_lm_factory):
    lm = simulated_lm_factory(faults=FaultPlan.at({0: "timeout"}, hang_seconds=0.2))
    async with httpx.AsyncClient(base_url=lm.base_url, timeout=5) as client:
        response = await client.post("/chat/completions", json=_chat_body())
    assert response.status_code == 504


async def test_stop_cancels_hanging_requests():
    lm = SimulatedLM(faults=FaultPlan(every=1, kinds=("timeout",), hang_seconds=600)).start()
    async with httpx.AsyncClient(base_url=lm.base_url, timeout=900) as client:
        hung = asyncio.create_task(client.post("/chat/completions", json=_chat_body()))
        await _wait_for(lambda: lm.stats().in_flight == 1)
        # A stop that waited for the hang would take 600 s: the bound only tells them apart.
        await asyncio.wait_for(asyncio.to_thread(lm.stop), timeout=120)
        with pytest.raises(httpx.TransportError):
            await hung
    with pytest.raises(RuntimeError):
        _ = lm.base_url


async def test_unauthorized_with_wrong_key(simulated_lm_factory):
    lm = simulated_lm_factory(api_key="sk-right")
    async with httpx.AsyncClient(base_url=lm.base_url) as client:
        wrong = await client.post(
            "/chat/completions", json=_chat_body(), headers={"Authorization": "Bearer nope"}
        )
        missing = await client.post("/chat/completions", json=_chat_body())
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert wrong.json()["error"]["code"] == "invalid_api_key"
    with pytest.raises(litellm.AuthenticationError):
        await litellm.acompletion(
            model=lm.model,
            api_base=lm.base_url,
            api_key="sk-wrong",
            messages=_messages("x"),
            max_retries=0,
        )
    ok = await litellm.acompletion(**lm.litellm_kwargs, messages=_messages("x"))
    assert ok.choices[0].message.content
    assert lm.stats().by_status == {"401": 3, "200": 1}
    assert lm.stats().by_fault == {}  # auth failures are not injected faults


async def test_unknown_model_is_not_found(simulated_lm_factory):
    lm = simulated_lm_factory(models=["gpt-sim"])
    with pytest.raises(litellm.NotFoundError):
        await litellm.acompletion(
            model="openai/gpt-unknown",
            api_base=lm.base_url,
            api_key=lm.api_key,
            messages=_messages("x"),
            max_retries=0,
        )
    for model in ("openai/gpt-sim", lm.model):
        answer = await litellm.acompletion(
            model=model, api_base=lm.base_url, api_key=lm.api_key, messages=_messages("x")
        )
        assert answer.choices[0].message.content
    async with httpx.AsyncClient(base_url=lm.base_url) as client:
        prefixed = await client.post(
            "/chat/completions", json={**_chat_body(), "model": "openai/gpt-sim"}
        )
        unknown = await client.post("/chat/completions", json={**_chat_body(), "model": "nope"})
        models = (await client.get("/models")).json()
    assert prefixed.status_code == 200
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    assert [entry["id"] for entry in models["data"]] == ["simulated", "gpt-sim"]


# --------------------------------------------------------------------------- embeddings


async def test_embeddings_similarity_via_litellm(simulated_lm):
    texts = [
        "The cat sat on the mat",
        "the cat sat on a mat today",
        "Quarterly revenue grew in Europe",
        "The cat sat on the mat",
        "",
    ]
    response = await litellm.aembedding(**simulated_lm.litellm_kwargs, input=texts)
    vectors = [entry["embedding"] for entry in response.data]
    assert all(len(vector) == 64 for vector in vectors)
    assert all(math.isclose(math.hypot(*vector), 1.0, rel_tol=1e-5) for vector in vectors)
    assert _cosine(vectors[0], vectors[1]) > _cosine(vectors[0], vectors[2])
    assert _cosine(vectors[0], vectors[1]) > 0.5
    assert vectors[0] == vectors[3]
    assert response.usage.prompt_tokens >= 1
    assert simulated_lm.stats().embeddings == 5


async def test_embeddings_hash_each_word_to_one_signed_bucket(simulated_lm):
    words = [f"word{n}" for n in range(40)]
    async with httpx.AsyncClient(base_url=simulated_lm.base_url) as client:
        response = await client.post(
            "/embeddings", json={"model": "simulated", "input": words, "encoding_format": "float"}
        )
    signs = []
    for entry in response.json()["data"]:
        nonzero = [value for value in entry["embedding"] if value != 0.0]
        assert len(nonzero) == 1 and abs(nonzero[0]) == 1.0
        signs.append(nonzero[0])
    assert {1.0, -1.0} <= set(signs)


async def test_embeddings_over_plain_http(simulated_lm_factory):
    lm = simulated_lm_factory(embedding_dim=16)
    async with httpx.AsyncClient(base_url=lm.base_url) as client:
        single = (
            await client.post("/embeddings", json={"model": "simulated", "input": "hello world"})
        ).json()
        empty = (
            await client.post("/embeddings", json={"model": "simulated", "input": ["", "  "]})
        ).json()
        bad = await client.post("/embeddings", json={"model": "simulated", "input": 3})
    assert single["object"] == "list" and single["data"][0]["object"] == "embedding"
    assert len(single["data"][0]["embedding"]) == 16
    assert empty["data"][0]["embedding"] == empty["data"][1]["embedding"]
    assert math.isclose(math.hypot(*empty["data"][0]["embedding"]), 1.0)
    assert bad.status_code == 400


# --------------------------------------------------------------------------- stats and concurrency


async def test_stats_concurrency_and_unique_prompts(simulated_lm_factory):
    # Every request waits inside the server until all 50 are there at once: a server that
    # handled requests one by one would never release them (and the test would time out).
    arrived = {"count": 0, "all": None}

    async def barrier(request):
        if arrived["all"] is None:
            arrived["all"] = asyncio.Event()
        arrived["count"] += 1
        if arrived["count"] >= 50:
            arrived["all"].set()
        await asyncio.wait_for(arrived["all"].wait(), timeout=30)
        return schema_responder(request)

    lm = simulated_lm_factory(responder=barrier)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=lm.base_url, limits=limits, timeout=10) as client:
        await client.get("/models")  # warm-up; excluded by the reset below
        lm.reset_stats()
        responses = await asyncio.gather(
            *(
                client.post("/chat/completions", json=_chat_body(f"prompt {n % 25}"))
                for n in range(50)
            )
        )
    assert all(r.status_code == 200 for r in responses)
    stats = lm.stats()
    # All 50 were held at once: the server answers concurrently, not one by one.
    assert stats.max_in_flight == 50 and stats.in_flight == 0
    assert stats.requests == 50 and stats.completed == 50
    assert stats.unique_prompts == 25
    assert len(stats.completed_prompt_keys) == 50 and len(set(stats.completed_prompt_keys)) == 25
    assert (
        compute_prompt_key([{"role": "user", "content": "prompt 3"}]) in stats.completed_prompt_keys
    )
    assert ServerStats.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats

    lm.reset_stats()
    assert lm.stats() == ServerStats()


async def test_latency_applies_per_request(simulated_lm_factory):
    lm = simulated_lm_factory()
    lm.set_latency(0.3)
    async with httpx.AsyncClient(base_url=lm.base_url) as client:
        started = time.monotonic()
        await client.post("/chat/completions", json=_chat_body())
        assert time.monotonic() - started >= 0.3
        lm.set_latency(0.0)
        await client.post("/chat/completions", json=_chat_body())
        lm.set_latency(0.4)  # each request takes the latency set when it arrives
        started = time.monotonic()
        await client.post("/chat/completions", json=_chat_body())
        assert time.monotonic() - started >= 0.4


# --------------------------------------------------------------------------- HTTP protocol


def test_keep_alive_pipelining_and_chunked_bodies(simulated_lm):
    body = json.dumps(_chat_body("chunked")).encode()
    chunked = (
        b"".join(
            b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:25], body[25:])
        )
        + b"0\r\n\r\n"
    )
    request = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked
        + b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        + b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
    )  # fmt: skip
    first, second, third = _raw_exchange(simulated_lm, request, responses=3)
    assert first[0] == second[0] == third[0] == 200
    assert first[1]["connection"] == "keep-alive"
    assert (
        json.loads(first[2])["choices"][0]["message"]
        == json.loads(second[2])["choices"][0]["message"]
    )
    assert json.loads(third[2])["object"] == "list"
    assert simulated_lm.stats().requests == 3


def test_expect_100_continue_is_answered_before_the_body(simulated_lm):
    body = json.dumps(_chat_body("continue")).encode()
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n"
    with _connect(simulated_lm) as sock:
        sock.sendall(head % len(body))
        reader = sock.makefile("rb")
        assert reader.readline().split()[1] == b"100"  # sent while the body is still held back
        assert reader.readline() == b"\r\n"
        sock.sendall(body)
        assert int(reader.readline().split()[1]) == 200
    assert simulated_lm.stats().completed == 1


def test_http_errors_and_connection_close(simulated_lm):
    # HTTP/1.1 requires a Host header (RFC 9112 §3.2): without one aiohttp answers 400.
    cases = [
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n{oops", 400),
        (b"GET /v1/nowhere HTTP/1.1\r\nHost: x\r\n\r\n", 404),
        (b"GET /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n[]", 400),
    ]
    for raw, status in cases:
        ((got, headers, body),) = _raw_exchange(simulated_lm, raw, responses=1)
        assert got == status and "message" in json.loads(body)["error"]
    ((status, headers, _),) = _raw_exchange(
        simulated_lm, b"GET /v1/models HTTP/1.0\r\n\r\n", responses=1
    )
    assert status == 200 and headers["connection"] == "close"
    # A request that cannot be parsed is answered 400, then the server closes the connection.
    with _connect(simulated_lm) as sock:
        sock.sendall(b"garbage\r\n\r\n")
        reader = sock.makefile("rb")
        assert int(reader.readline().split()[1]) == 400
        reader.read()  # returns at end of stream only: a connection left open times out here


# --------------------------------------------------------------------------- process mode and CLI


async def test_process_mode():
    with pytest.raises(TypeError):
        SimulatedLM(mode="process", responder=schema_responder)
    with SimulatedLM(
        mode="process",
        responder="synaprefect.testing.responders:schema_responder",
        faults=FaultPlan.at({1: "500"}),
        api_key="sk-proc",
        latency=0.01,
    ) as lm:
        response = await litellm.acompletion(
            **lm.litellm_kwargs,
            messages=_messages("Order #9"),
            response_format=_json_schema_format(ORDER_SCHEMA),
        )
        _check_order(json.loads(response.choices[0].message.content))
        async with httpx.AsyncClient(
            base_url=lm.base_url, headers={"Authorization": "Bearer sk-proc"}
        ) as client:
            failed = await client.post("/chat/completions", json=_chat_body())
            assert failed.status_code == 500
            stats = lm.stats()
            assert (stats.requests, stats.completed, stats.by_status) == (
                2,
                1,
                {"200": 1, "500": 1},
            )
            assert stats.completed_prompt_keys == [
                compute_prompt_key(_messages("Order #9"), ORDER_SCHEMA)
            ]

            lm.set_faults(FaultPlan(every=1, kinds=("429",), retry_after=3))
            limited = await client.post("/chat/completions", json=_chat_body())
            assert limited.status_code == 429 and limited.headers["retry-after"] == "3"
            lm.set_faults(None)
            lm.set_latency(0.3)
            started = time.monotonic()
            assert (await client.post("/chat/completions", json=_chat_body())).status_code == 200
            assert time.monotonic() - started >= 0.3
            lm.reset_stats()
            assert lm.stats().requests == 0
        with pytest.raises(TypeError):
            lm.set_faults(lambda request: None)
        process = lm._process
    assert process.poll() is not None


def test_cli_prints_url_and_stops_on_sigterm():
    command = [
        sys.executable, "-m", "synaprefect.testing.server", "--port", "0",
        "--fault-every", "2", "--faults", "429", "--retry-after", "1", "--api-key", "sk-cli",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=_server_env())
    try:
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        with httpx.Client(base_url=base_url, headers={"Authorization": "Bearer sk-cli"}) as client:
            first = client.post("/chat/completions", json=_chat_body())
            second = client.post("/chat/completions", json=_chat_body())
            stats = client.get(base_url.removesuffix("/v1") + "/_sim/stats").json()
        assert (first.status_code, second.status_code) == (200, 429)
        assert second.headers["retry-after"] == "1"
        assert stats["by_fault"] == {"rate_limit": 1}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


def test_cli_rejects_unknown_fault_kind():
    with pytest.raises(ValueError):
        server_main(["--port", "0", "--faults", "teapot"])


def test_fixtures_give_fresh_servers(simulated_lm, simulated_lm_factory):
    assert simulated_lm.stats() == ServerStats()
    other = simulated_lm_factory(latency=0.01)
    assert other.base_url != simulated_lm.base_url
    with httpx.Client(base_url=other.base_url) as client:
        assert client.get("/models").status_code == 200
    assert other.stats().requests == 1 and simulated_lm.stats().requests == 0
