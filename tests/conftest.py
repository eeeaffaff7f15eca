"""Test session setup: an isolated synaprefect home, a fresh session per test."""

import os
import tempfile

# Isolate every file the library may write before anything is imported.
_SESSION_HOME = tempfile.mkdtemp(prefix="synaprefect-tests-")
os.environ["SYNAPREFECT_HOME"] = os.path.join(_SESSION_HOME, "home")

import pytest  # noqa: E402

import synaprefect  # noqa: E402

pytest_plugins = ["synaprefect.testing.pytest_plugin"]



@pytest.fixture(autouse=True)
def _fresh_session():
    synaprefect.clear_session()
    synaprefect.set_seed(123)
    yield
