"""LanguageModel and EmbeddingModel: real litellm calls to the simulated LM over HTTP."""

import asyncio
import json
import logging
from typing import Literal, Optional

import pytest

import synaprefect as sp
from synaprefect.language_models import (
    AuthenticationError,
    ModelNotFoundError,
    TransientLanguageModelError,
    phase_scope,
)
from synaprefect.testing import FaultPlan
from synaprefect.testing.skills import embedding_model_for, language_model_for
from synaprefect.testing.wire import EMBEDDINGS_PATH


class Step(sp.DataModel):
    description: str
    done: bool = False


class Plan(sp.DataModel):
    title: str
    priority: Literal["low", "high"]
    steps: list[Step]
    note: Optional[str] = None
    estimate: float


MESSAGES = [{"role": "user", "content": "Plan my day."}]


async def test_structured_output_of_nested_schema(simulated_lm):
    lm = language_model_for(simulated_lm)
    result = await lm(MESSAGES, schema=Plan.get_schema())
    plan = Plan(**result.get_json())  # validates against the pydantic model too
    assert plan.priority in ("low", "high") and isinstance(plan.steps, list)
    assert lm.counters()["calls"] == 1 and lm.counters()["total_tokens"] > 0
    assert simulated_lm.stats().requests == 1


async def test_plain_chat_without_schema(simulated_lm):
    lm = language_model_for(simulated_lm)
    result = await lm(MESSAGES)
    assert result["role"] == "assistant" and isinstance(result["content"], str)


@pytest.mark.parametrize("transport", ["litellm", "http"])
async def test_calls_change_no_process_wide_litellm_setting(simulated_lm, transport):
    import litellm

    before = litellm.drop_params
    lm = language_model_for(simulated_lm, transport=transport, top_k=3)  # top_k: dropped
    await lm(MESSAGES, schema=Plan.get_schema())
    assert litellm.drop_params == before is False  # other code keeps litellm's default


@pytest.mark.parametrize("kind", ["rate_limit", "server_error", "timeout", "malformed"])
async def test_each_transient_fault_is_retried_and_recovered(simulated_lm_factory, kind):
    server = simulated_lm_factory(faults=FaultPlan.at({0: kind}, retry_after=1, hang_seconds=5))
    lm = language_model_for(server, timeout=0.5, retry=3)
    loop = asyncio.get_running_loop()
    start = loop.time()
    result = await lm(MESSAGES, schema=Plan.get_schema())
    elapsed = loop.time() - start
    Plan(**result.get_json())
    counters = lm.counters()
    assert counters["retries"] == 1 and counters["failed_calls"] == 0
    assert counters["calls"] == 1
    assert server.stats().requests == 2
    if kind == "rate_limit":
        assert elapsed >= 0.9  # Retry-After: 1 was honoured


async def test_exhausted_retries_raise_and_are_counted(simulated_lm_factory, caplog):
    server = simulated_lm_factory(faults=FaultPlan(every=1, kinds=("server_error",)))
    lm = language_model_for(server, retry=3)
    with caplog.at_level(logging.WARNING, logger="synaprefect"):
        with pytest.raises(TransientLanguageModelError, match=r"failed after 3 attempts"):
            await lm(MESSAGES, schema=Plan.get_schema())
    assert lm.counters()["failed_calls"] == 1 and lm.counters()["retries"] == 2
    assert server.stats().requests == 3
    assert any("failed after 3 attempts" in r.getMessage() for r in caplog.records)


async def test_wrong_key_raises_at_once_without_leaking_it(simulated_lm_factory, caplog):
    server = simulated_lm_factory(api_key="sk-right-key")
    lm = language_model_for(server, api_key="sk-wrong-secret-123")
    with caplog.at_level(logging.DEBUG):
        with pytest.raises(AuthenticationError) as caught:
            await lm(MESSAGES, schema=Plan.get_schema())
    assert "openai/simulated" in str(caught.value)
    assert server.stats().requests == 1  # no retry on a permanent error
    assert lm.counters()["failed_calls"] == 1
    assert "sk-wrong-secret-123" not in str(caught.value)
    assert all("sk-wrong-secret-123" not in r.getMessage() for r in caplog.records)
    assert "sk-wrong-secret-123" not in json.dumps(lm.get_config())


async def test_unknown_model_raises_at_once(simulated_lm_factory):
    server = simulated_lm_factory(models=["known"])
    lm = sp.LanguageModel("openai/no-such-model", api_base=server.base_url, api_key="sk-x")
    with pytest.raises(ModelNotFoundError, match="Check the model string"):
        await lm(MESSAGES, schema=Plan.get_schema())
    assert server.stats().requests == 1


async def test_disk_cache_makes_no_second_request(simulated_lm, tmp_path):
    lm = language_model_for(simulated_lm, caching=True, cache_dir=str(tmp_path))
    first = await lm(MESSAGES, schema=Plan.get_schema())
    second = await lm(MESSAGES, schema=Plan.get_schema())
    assert first.get_json() == second.get_json()
    assert simulated_lm.stats().requests == 1
    assert lm.counters()["cache_hits"] == 1
    # another process (a new model object) reads the same files
    other = language_model_for(simulated_lm, caching=True, cache_dir=str(tmp_path))
    await other(MESSAGES, schema=Plan.get_schema())
    assert simulated_lm.stats().requests == 1
    await lm(MESSAGES, schema=Plan.get_schema(), temperature=0.5)  # other settings: a miss
    assert simulated_lm.stats().requests == 2


async def test_a_paid_answer_the_cache_cannot_store_is_returned_not_paid_again(
    simulated_lm, tmp_path, caplog
):
    full_disk = tmp_path / "cache"
    full_disk.write_text("a file where the cache's folder should be")
    lm = language_model_for(simulated_lm, caching=True, cache_dir=str(full_disk))
    with caplog.at_level(logging.WARNING, logger="synaprefect.language_models"):
        answer = await lm(MESSAGES, schema=Plan.get_schema())
    assert answer is not None and simulated_lm.stats().requests == 1
    assert lm.counters()["calls"] == 1 and lm.counters()["failed_calls"] == 0
    assert "a paid answer was not written to the response cache" in caplog.text


@pytest.mark.parametrize("transport", ["litellm", "http"])
async def test_the_tokens_of_broken_answers_are_counted(simulated_lm, transport):
    lm = language_model_for(simulated_lm, transport=transport, retry=2)
    await lm(MESSAGES, schema=Plan.get_schema())
    one_prompt = lm.counters()["prompt_tokens"]
    assert one_prompt > 0
    lm.reset_counters()
    simulated_lm.set_faults(FaultPlan.at({1: "malformed", 2: "malformed"}))
    with pytest.raises(TransientLanguageModelError, match="not valid JSON"):
        await lm(MESSAGES, schema=Plan.get_schema())
    simulated_lm.set_faults(None)
    counters = lm.counters()
    assert counters["calls"] == counters["failed_calls"] == counters["retries"] == 1
    # Two answers came back, and were billed, though neither followed the schema.
    assert counters["prompt_tokens"] == 2 * one_prompt


async def test_the_tokens_of_short_embedding_answers_are_counted(simulated_lm):
    embedder = embedding_model_for(simulated_lm, retry=2)
    texts = ["the cat sat", "stock markets fell"]
    await embedder.embed(texts)
    one_answer = embedder.counters()["prompt_tokens"]
    assert one_answer > 0
    embedder.reset_counters()
    # Both attempts get one vector for two texts: billed, and unusable.
    simulated_lm.set_faults(
        FaultPlan.at({1: "malformed", 2: "malformed"}, only_paths=(EMBEDDINGS_PATH,))
    )
    with pytest.raises(TransientLanguageModelError, match="1 embeddings for 2 texts"):
        await embedder.embed(texts)
    simulated_lm.set_faults(None)
    counters = embedder.counters()
    assert counters["calls"] == counters["failed_calls"] == counters["retries"] == 1
    assert counters["prompt_tokens"] == 2 * one_answer


async def test_a_broken_answer_to_a_cancelled_caller_is_billed(simulated_lm):
    lm = language_model_for(simulated_lm)
    simulated_lm.set_latency(0.3)
    simulated_lm.set_faults(FaultPlan.at({0: "malformed"}))
    call = asyncio.ensure_future(lm(MESSAGES, schema=Plan.get_schema()))
    await asyncio.sleep(0.1)  # the request is out
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call  # it waits for the answer it paid for
    counters = lm.counters()
    assert counters["failed_calls"] == 1 and counters["prompt_tokens"] > 0


async def test_counters_are_kept_per_phase(simulated_lm):
    lm = language_model_for(simulated_lm)
    await lm(MESSAGES, schema=Plan.get_schema())
    with phase_scope("reward"):
        await lm(MESSAGES, schema=Plan.get_schema())
        await lm(MESSAGES, schema=Plan.get_schema())
    with phase_scope("optimizer"):
        await lm(MESSAGES, schema=Plan.get_schema())
    assert lm.counters("inference")["calls"] == 1
    assert lm.counters("reward")["calls"] == 2
    assert lm.counters("optimizer")["calls"] == 1
    assert lm.counters()["calls"] == 4
    assert lm.last_call["phase"] == "optimizer" and lm.last_call["latency_s"] > 0
    with pytest.raises(ValueError, match="Unknown phase"):
        with phase_scope("training"):
            pass


async def test_max_concurrency_caps_requests_in_flight(simulated_lm_factory):
    server = simulated_lm_factory(latency=0.05)
    lm = language_model_for(server, max_concurrency=4)
    await asyncio.gather(
        *(lm([{"role": "user", "content": str(i)}], schema=Plan.get_schema()) for i in range(24))
    )
    assert server.stats().requests == 24
    assert server.stats().max_in_flight == 4


async def test_fallback_model_is_used_when_the_first_fails(simulated_lm_factory):
    broken = simulated_lm_factory(faults=FaultPlan(every=1, kinds=("server_error",)))
    healthy = simulated_lm_factory()
    lm = language_model_for(broken, retry=2, fallback=language_model_for(healthy))
    result = await lm(MESSAGES, schema=Plan.get_schema())
    Plan(**result.get_json())
    assert lm.counters()["fallback_activations"] == 1 and healthy.stats().requests == 1


async def test_embeddings(simulated_lm):
    embedder = embedding_model_for(simulated_lm)
    vectors = await embedder.embed(["the cat sat", "the cat sat", "stock markets fell"])
    assert len(vectors) == 3 and vectors[0] == vectors[1]
    dot = lambda a, b: sum(x * y for x, y in zip(a, b))  # noqa: E731
    assert dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2])
    result = await embedder(["one"])
    assert len(result["embeddings"]) == 1
    assert embedder.counters()["calls"] == 2


def test_config_round_trip_and_errors():
    lm = sp.LanguageModel("ollama/llama3", temperature=0.2, api_key="sk-secret")
    assert lm.model == "ollama_chat/llama3"
    config = lm.get_config()
    assert "api_key" not in config and config["temperature"] == 0.2
    assert sp.LanguageModel.from_config(config).get_config() == config
    with pytest.raises(ValueError, match="litellm model string"):
        sp.LanguageModel("")
    with pytest.raises(ValueError, match="max_concurrency"):
        sp.LanguageModel("openai/x", max_concurrency=0)


async def test_missing_key_is_a_permanent_error(simulated_lm, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    lm = sp.LanguageModel(simulated_lm.model, api_base=simulated_lm.base_url)
    with pytest.raises(AuthenticationError, match="API key"):
        await lm(MESSAGES, schema=Plan.get_schema())
    assert lm.counters()["retries"] == 0


async def test_forced_tool_call_providers_get_structured_output(simulated_lm):
    lm = sp.LanguageModel(
        "openrouter/simulated", api_base=simulated_lm.base_url, api_key="sk-x", retry_backoff=0.01
    )
    result = await lm(MESSAGES, schema=Plan.get_schema())
    Plan(**result.get_json())
    assert simulated_lm.stats().requests == 1 and lm.counters()["retries"] == 0


def test_credentials_of_every_kind_stay_out_of_configs():
    lm = sp.LanguageModel(
        "openai/x",
        aws_session_token="tok-123456",
        vertex_credentials="cred-abcdef",
        temperature=0.1,
        extra_headers={"Authorization": "Bearer sk-live-123", "X-Trace": "visible"},
    )
    config = json.dumps(lm.get_config())
    for secret in ("tok-123456", "cred-abcdef", "sk-live-123"):
        assert secret not in config and secret not in lm._redact(f"error {secret}")
    assert '"X-Trace": "visible"' in config and '"temperature": 0.1' in config
    assert sp.LanguageModel("openai/x", max_tokens=9).get_config()["max_tokens"] == 9
    kwargs = lm._call_kwargs({})
    assert kwargs["extra_headers"] == {"X-Trace": "visible", "Authorization": "Bearer sk-live-123"}


async def test_cache_keys_include_the_endpoint(simulated_lm_factory, tmp_path):
    first, second = simulated_lm_factory(), simulated_lm_factory()
    for server in (first, second):
        lm = language_model_for(server, caching=True, cache_dir=str(tmp_path))
        await lm(MESSAGES, schema=Plan.get_schema())
    assert first.stats().requests == 1 and second.stats().requests == 1


def test_errors_survive_pickling_between_processes():
    import pickle

    error = AuthenticationError("openai/x", "401 bad key")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is AuthenticationError and str(copy) == str(error)
    assert (copy.model, copy.cause) == ("openai/x", "401 bad key")


async def test_synalinks_module_arguments_are_not_sent_to_the_provider(simulated_lm):
    bodies = []
    simulated_lm.set_responder(
        lambda request: (
            bodies.append(request.body)
            or {"title": "t", "priority": "low", "steps": [], "estimate": 1.0}
        )
    )
    lm = language_model_for(simulated_lm, description="The planner's model")
    await lm(MESSAGES, schema=Plan.get_schema())
    assert "description" not in bodies[0] and lm.description == "The planner's model"
    assert sp.LanguageModel.from_config(lm.get_config()).description == lm.description
    with pytest.raises(ValueError, match="hooks"):
        sp.LanguageModel("openai/x", hooks=[object()])
    with pytest.raises(ValueError, match="hooks"):
        sp.EmbeddingModel("openai/x", hooks=[object()])
