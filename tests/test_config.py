"""Configuration home, seeds and session state."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import synaprefect
from synaprefect import config
from synaprefect.storage import settings


def test_import_writes_nothing(tmp_path):
    home = tmp_path / "home"
    env = {**os.environ, "SYNAPREFECT_HOME": str(home), "HOME": str(tmp_path / "user")}
    subprocess.run([sys.executable, "-c", "import synaprefect"], check=True, env=env)
    assert not home.exists() and not (tmp_path / "user").exists()


@pytest.mark.parametrize("preset", [None, "True"])
def test_litellm_is_imported_offline_without_changing_the_environment(preset):
    # litellm would fetch its price map from the internet when imported: synaprefect
    # imports it offline, and leaves the process environment as it found it.
    code = textwrap.dedent(
        """
        import os, socket
        attempts = []

        def connect(self, address):
            attempts.append(address)
            raise OSError("this test is offline")

        socket.socket.connect = connect
        import synaprefect
        from synaprefect.language_models.base import litellm_module
        litellm_module()
        print(os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP", "unset"), len(attempts))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "LITELLM_LOCAL_MODEL_COST_MAP"}
    if preset is not None:
        env["LITELLM_LOCAL_MODEL_COST_MAP"] = preset
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == [preset or "unset", "0"]


def test_home_and_config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNAPREFECT_HOME", str(tmp_path / "h"))
    monkeypatch.setattr(config, "_config_cache", None)
    assert config.synaprefect_home() == tmp_path / "h"
    assert config.load_config() == {}
    path = config.save_config(seed=7)
    assert path == tmp_path / "h" / "synaprefect.json" and config.load_config() == {"seed": 7}


def test_home_falls_back_to_tmp_when_home_is_not_writable(monkeypatch):
    monkeypatch.delenv("SYNAPREFECT_HOME")
    monkeypatch.setattr(settings, "_writable", lambda path: False)
    assert config.synaprefect_home().name == ".synaprefect"
    assert str(config.synaprefect_home()).startswith(__import__("tempfile").gettempdir())


def test_seeds_make_random_choices_reproducible():
    synaprefect.set_seed(5)
    first = config.rng().permutation(10).tolist(), np.random.rand()
    synaprefect.set_seed(5)
    assert (config.rng().permutation(10).tolist(), np.random.rand()) == first
    assert synaprefect.get_seed() == 5


def test_clear_session_resets_names():
    assert synaprefect.Identity().name == "identity"
    assert synaprefect.Identity().name == "identity_1"
    synaprefect.clear_session()
    assert synaprefect.Identity().name == "identity"


def test_public_api_is_explicit():
    for name in synaprefect.__all__:
        assert hasattr(synaprefect, name), name
