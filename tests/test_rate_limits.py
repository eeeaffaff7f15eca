"""A Prefect rate limit shared by models, flows and processes (``LanguageModel(rate_limit=...)``),
against the session's real Prefect API and the simulated LM."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from synaprefect.orchestration.rate_limits import RateLimitNotFoundError
from synaprefect.testing import SimulatedLM
from synaprefect.testing.responders import schema_responder
from synaprefect.testing.skills import language_model_for

pytestmark = pytest.mark.e2e  # a real Prefect API and a second process

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}

# The subprocess: the same model and limit, ``count`` calls at once.
_OTHER_PROCESS = """
import asyncio, json, sys
from synaprefect.language_models import LanguageModel
base_url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
lm = LanguageModel("openai/simulated", api_base=base_url, api_key="sk-simulated",
                   rate_limit=name)
async def main():
    await asyncio.gather(*(lm([{"role": "user", "content": f"child {i}"}],
                              schema=json.loads(sys.argv[4])) for i in range(count)))
asyncio.run(main())
"""


async def _create_limit(prefect_api, limit: int, decay: float | None) -> str:
    from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate

    name = f"lm-{uuid.uuid4().hex[:8]}"
    async with prefect_api.client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=limit, slot_decay_per_second=decay or 0.0)
        )
    return name


def _most_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max(sum(1 for t in times[i:] if t - start <= window) for i, start in enumerate(times))


async def test_rate_limit_is_shared_by_models_and_processes(prefect_api):
    limit, decay = 2, 8.0
    name = await _create_limit(prefect_api, limit, decay)
    arrivals: list[float] = []

    def responder(request):
        arrivals.append(time.monotonic())
        return schema_responder(request)

    with SimulatedLM(responder=responder) as server:
        first = language_model_for(server, rate_limit=name)
        second = language_model_for(server, rate_limit=name)
        child = subprocess.Popen(
            [sys.executable, "-c", _OTHER_PROCESS, server.base_url, name, "8", json.dumps(SCHEMA)],
            env=dict(os.environ),
        )
        try:
            await asyncio.gather(
                *(
                    model([{"role": "user", "content": f"parent {i}"}], schema=SCHEMA)
                    for i in range(6)
                    for model in (first, second)
                )
            )
            assert await asyncio.to_thread(child.wait, 120) == 0
        finally:
            child.kill()
        assert server.stats().completed == 20

    # Slots come back at `decay` per second: in any window of w seconds at most
    # limit + decay * w requests reach the provider (a little slack for HTTP jitter).
    for window in (0.25, 0.5, 1.0):
        allowed = limit + decay * (window + 0.25) + 1
        assert _most_in_window(arrivals, window) <= allowed, (window, sorted(arrivals))
    # Without the limit the 20 requests would arrive within a few milliseconds.
    assert max(arrivals) - min(arrivals) >= (20 - limit - 1) / decay - 0.25


@pytest.mark.parametrize("decay", [None, 0.0])
async def test_missing_or_decayless_limit_fails_before_any_request(
    prefect_api, simulated_lm, decay
):
    name = (await _create_limit(prefect_api, 5, decay)) if decay is not None else "no-such"
    lm = language_model_for(simulated_lm, rate_limit=name)
    with pytest.raises(RateLimitNotFoundError, match=f"prefect gcl create {name}"):
        await lm([{"role": "user", "content": "hi"}], schema=SCHEMA)
    assert simulated_lm.stats().requests == 0
    assert isinstance(RateLimitNotFoundError("x"), ValueError)  # flows do not retry it


async def test_cached_answers_take_no_slot(prefect_api, simulated_lm, tmp_path):
    name = await _create_limit(prefect_api, 1, 0.01)  # the one slot returns in 100 s
    lm = language_model_for(simulated_lm, rate_limit=name, caching=True, cache_dir=str(tmp_path))
    messages = [{"role": "user", "content": "cached"}]
    await lm(messages, schema=SCHEMA)  # takes the slot
    # A call that took a slot now would wait ~100 s for it.
    await asyncio.wait_for(
        asyncio.gather(*(lm(messages, schema=SCHEMA) for _ in range(5))), timeout=30
    )
    assert simulated_lm.stats().requests == 1
    assert lm.counters()["cache_hits"] == 5


def test_rate_limit_name_is_validated_and_saved():
    from synaprefect.language_models import LanguageModel

    with pytest.raises(ValueError, match="rate_limit"):
        LanguageModel("openai/x", rate_limit="")
    lm = LanguageModel("openai/x", rate_limit="openai-rpm")
    assert LanguageModel.from_config(lm.get_config()).rate_limit == "openai-rpm"


def test_jobs_take_the_rate_limit_from_the_environment(monkeypatch):
    from synaprefect.recipes import open_language_model

    monkeypatch.setenv("SYNAPREFECT_RATE_LIMIT", "openai-rpm")
    with open_language_model("openai/gpt-4o-mini") as lm:
        assert lm.rate_limit == "openai-rpm"
    monkeypatch.delenv("SYNAPREFECT_RATE_LIMIT")
    with open_language_model("openai/gpt-4o-mini") as lm:
        assert lm.rate_limit is None
