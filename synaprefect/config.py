"""Where synaprefect keeps its files, the global seed, and session state.

Importing the package writes nothing: the home folder and ``synaprefect.json`` are created
the first time something is saved there.
"""

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from synaprefect.utils.json_utils import atomic_write_json, read_json_file
from synaprefect.utils.naming import reset_names

__all__ = [
    "synaprefect_home",
    "config_path",
    "load_config",
    "save_config",
    "set_seed",
    "get_seed",
    "rng",
    "clear_session",
]

_DEFAULT_SEED = 123
_seed = _DEFAULT_SEED
_rng = np.random.default_rng(_DEFAULT_SEED)
_config_cache: dict[str, Any] | None = None


def _writable(path: Path) -> bool:
    probe = path if path.exists() else path.parent
    return os.access(probe, os.W_OK)


def synaprefect_home() -> Path:
    """``$SYNAPREFECT_HOME``, else ``~/.synaprefect``, else ``<tmp>/.synaprefect``."""
    if os.environ.get("SYNAPREFECT_HOME"):
        return Path(os.environ["SYNAPREFECT_HOME"]).expanduser()
    home = Path("~").expanduser() / ".synaprefect"
    if _writable(home):
        return home
    return Path(tempfile.gettempdir()) / ".synaprefect"


def config_path() -> Path:
    return synaprefect_home() / "synaprefect.json"


def load_config() -> dict[str, Any]:
    """The configuration file's content (``{}`` when it does not exist or is unreadable)."""
    global _config_cache
    if _config_cache is None:
        try:
            loaded = read_json_file(config_path(), "configuration file")
            _config_cache = loaded if isinstance(loaded, dict) else {}
        except (FileNotFoundError, ValueError, OSError):
            _config_cache = {}
    return dict(_config_cache)


def save_config(**values: Any) -> Path:
    """Merge ``values`` into ``synaprefect.json`` (written atomically) and return its path."""
    global _config_cache
    config = {**load_config(), **values}
    path = config_path()
    atomic_write_json(path, config)
    _config_cache = config
    return path


def set_seed(seed: int) -> None:
    """Seed every random choice synaprefect makes (shuffling, optimizers) and the global
    ``random`` and ``numpy.random`` generators, for reproducible runs."""
    global _seed, _rng
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"`seed` must be an int, got {seed!r}.")
    _seed = seed
    _rng = np.random.default_rng(seed)
    random.seed(seed)
    np.random.seed(seed)


def get_seed() -> int:
    return _seed


def rng() -> np.random.Generator:
    """The library's own random generator, reseeded by ``set_seed``."""
    return _rng


def clear_session() -> None:
    """Reset global state: automatic names start again from ``generator``, ``generator_1``."""
    reset_names()
