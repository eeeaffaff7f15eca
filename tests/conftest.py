"""Test session setup: an isolated synaprefect home and Prefect home, a fresh session per
test, and the Prefect API fixture (``prefect_api``) for the tests that need it."""

import os
import tempfile

# Isolate every file the library may write before anything is imported.
_SESSION_HOME = tempfile.mkdtemp(prefix="synaprefect-tests-")
os.environ["SYNAPREFECT_HOME"] = os.path.join(_SESSION_HOME, "home")
# Flows and the CLI run only on a model that was asked for: the suite asks for the offline
# simulated LM (tests of the "no model" error unset it).
os.environ["SYNAPREFECT_MODEL"] = "simulated"
os.environ.pop("SYNAPREFECT_STORAGE", None)

import pytest  # noqa: E402

# Prefect reads its settings when first imported: configure it before any import can. The
# harness is also a plugin (below); registering it first keeps pytest's assertion rewriting.
pytest.register_assert_rewrite("synaprefect.testing.prefect_harness")
from synaprefect.testing.prefect_harness import configure_prefect_test_environment  # noqa: E402

configure_prefect_test_environment(_SESSION_HOME)

import synaprefect  # noqa: E402

pytest_plugins = ["synaprefect.testing.pytest_plugin", "synaprefect.testing.prefect_harness"]


@pytest.fixture(autouse=True)
def _fresh_session(tmp_path, monkeypatch):
    """Fresh names and seed, and a home of its own: persisted run results (resume) from
    one test must never make another pass for the wrong reason."""
    monkeypatch.setenv("SYNAPREFECT_HOME", str(tmp_path / "synaprefect-home"))
    synaprefect.clear_session()
    synaprefect.set_seed(123)
    yield
