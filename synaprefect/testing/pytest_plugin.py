"""Pytest fixtures for the simulated LM server.

Enable them with ``pytest_plugins = ["synaprefect.testing.pytest_plugin"]`` in a root
``conftest.py`` (or a test module)::

    async def test_my_program(simulated_lm):
        response = await litellm.acompletion(**simulated_lm.litellm_kwargs, messages=[...])
        assert simulated_lm.stats().completed == 1
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator

import pytest

from synaprefect.testing.server import SimulatedLM

# Tests run offline: keep litellm from fetching its model cost map from the internet when
# it is imported after this plugin (setdefault leaves an explicit choice alone).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

__all__ = ["simulated_lm", "simulated_lm_factory"]


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
