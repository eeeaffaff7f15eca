"""Pytest fixtures for the simulated LM server and a loopback S3 server.

Enable them with ``pytest_plugins = ["synaprefect.testing.pytest_plugin"]`` in a root
``conftest.py`` (or a test module)::

    async def test_my_program(simulated_lm):
        response = await litellm.acompletion(**simulated_lm.litellm_kwargs, messages=[...])
        assert simulated_lm.stats().completed == 1
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from synaprefect.testing.server import SimulatedLM

# Tests run offline: keep litellm from fetching its model cost map from the internet when
# it is imported after this plugin (setdefault leaves an explicit choice alone).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__all__ = ["simulated_lm", "simulated_lm_factory", "loopback_s3", "s3_storage"]


@pytest.fixture
def simulated_lm() -> Iterator[SimulatedLM]:
    """A started thread-mode ``SimulatedLM()`` with fresh statistics, stopped after the test."""
    with SimulatedLM() as server:
        yield server


@pytest.fixture
def simulated_lm_factory() -> Iterator[Callable[..., SimulatedLM]]:
    """Function ``make(**kwargs) -> SimulatedLM`` starting servers; all are stopped after the test."""
    servers: list[SimulatedLM] = []

    def make(**kwargs: Any) -> SimulatedLM:
        server = SimulatedLM(**kwargs).start()
        servers.append(server)
        return server

    yield make
    for server in reversed(servers):
        server.stop()


@pytest.fixture(scope="session")
def loopback_s3() -> Iterator[Any]:
    """moto's S3 server on loopback for the session (``synaprefect.testing.s3``)."""
    from synaprefect.testing.s3 import LoopbackS3

    with LoopbackS3() as server:
        yield server


@pytest.fixture
def s3_storage(loopback_s3, monkeypatch) -> Iterator[str]:
    """A fresh bucket, with this process and its children pointed at it; yields
    ``s3://<bucket>/synaprefect``, the URL to use as ``SYNAPREFECT_STORAGE``."""
    import uuid

    bucket = f"test-{uuid.uuid4().hex[:12]}"
    loopback_s3.create_bucket(bucket)
    for name, value in loopback_s3.environment().items():
        monkeypatch.setenv(name, value)
    yield f"s3://{bucket}/synaprefect"
