"""The background artifact publisher: order per key, keys side by side, failures logged."""

import asyncio
import logging

import pytest

from synaprefect.orchestration import publishing
from synaprefect.orchestration.publishing import Publisher


def _request(log: list, name: str, gate: asyncio.Event | None = None):
    async def request() -> None:
        log.append(f"{name} start")
        if gate is not None:
            await gate.wait()
        await asyncio.sleep(0)
        log.append(f"{name} end")

    return request


async def test_requests_of_one_key_run_one_after_the_other_in_submission_order():
    publisher, log = Publisher(), []
    gate = asyncio.Event()
    publisher.submit("qa-variables", _request(log, "v1", gate))
    publisher.submit("qa-variables", _request(log, "v2"))
    publisher.submit("qa-variables", _request(log, "v3"))
    await asyncio.sleep(0.01)
    assert log == ["v1 start"]  # v2 waits for v1, however long it takes
    gate.set()
    await publisher.drain()
    assert log == ["v1 start", "v1 end", "v2 start", "v2 end", "v3 start", "v3 end"]


async def test_a_slow_key_does_not_hold_back_the_others():
    publisher, log = Publisher(), []
    gate = asyncio.Event()
    publisher.submit("qa-plots", _request(log, "plots", gate))
    publisher.submit("qa-summary", _request(log, "summary"))
    publisher.submit("qa-history", _request(log, "history"))
    await asyncio.sleep(0.01)
    assert {"summary end", "history end"} <= set(log)
    assert "plots end" not in log
    draining = asyncio.ensure_future(publisher.drain())
    await asyncio.sleep(0.01)
    assert not draining.done()  # drain waits for every key
    gate.set()
    await draining
    assert "plots end" in log


async def test_a_failed_request_is_logged_with_its_key_and_the_next_one_still_runs(caplog):
    publisher, log = Publisher(), []

    async def broken() -> None:
        raise ConnectionError("API unreachable")

    publisher.submit("qa-summary", broken)
    publisher.submit("qa-summary", _request(log, "retry"))
    with caplog.at_level(logging.WARNING, logger="synaprefect"):
        await publisher.drain()
    assert log == ["retry start", "retry end"]
    assert "'qa-summary' was not published: ConnectionError: API unreachable" in caplog.text


async def test_progress_is_created_once_then_coalesced_and_drain_sends_the_last_value(
    monkeypatch,
):
    monkeypatch.setattr(publishing, "PROGRESS_INTERVAL", 3600.0)
    publisher, sent = Publisher(), []

    async def create(percent, description):
        sent.append(("create", percent))
        return "artifact-1"

    async def update(artifact_id, percent, description):
        sent.append(("update", artifact_id, percent))

    for percent in (10.0, 20.0, 30.0, 100.0):
        publisher.progress("qa-progress", percent, None, create, update)
    await publisher.drain()
    assert sent == [("create", 10.0), ("update", "artifact-1", 100.0)]


async def test_cancel_drops_what_was_not_sent():
    publisher, log = Publisher(), []
    gate = asyncio.Event()
    publisher.submit("qa-variables", _request(log, "v1", gate))
    publisher.submit("qa-variables", _request(log, "v2"))
    publisher.submit("qa-history", _request(log, "h1", gate))
    await asyncio.sleep(0.01)
    publisher.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await publisher.drain()
    assert log == ["v1 start", "h1 start"]


async def test_at_most_a_few_requests_are_out_at_once(monkeypatch):
    monkeypatch.setattr(publishing, "_MAX_IN_FLIGHT", 3)
    publisher, log = Publisher(), []
    gate = asyncio.Event()
    for index in range(8):  # a program with 8 variables, after one step
        publisher.submit(f"qa-variable-{index}", _request(log, f"v{index}", gate))
    await asyncio.sleep(0.01)
    assert log == ["v0 start", "v1 start", "v2 start"]
    gate.set()
    await publisher.drain()
    assert sorted(log) == sorted([f"v{i} {event}" for i in range(8) for event in ("start", "end")])
