"""Where synaprefect keeps its files, the global seed, and session state.

Importing the package writes nothing: the home folder and ``synaprefect.json`` are created
the first time something is saved there.
"""

import os
import random
from pathlib import Path
from typing import Any

import numpy as np

from synaprefect.storage.settings import set_storage, storage_root, synaprefect_home
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
    "set_kept_runs",
    "kept_runs",
    "set_task_retries",
    "task_retries",
    "set_fit_plots",
    "fit_plots",
    "set_storage",
    "storage_root",
    # Synalinks' names
    "synalinks_home",
    "api_base",
    "set_api_base",
    "backend",
    "set_backend",
    "floatx",
    "set_floatx",
    "epsilon",
    "set_epsilon",
]

_DEFAULT_SEED = 123
_seed = _DEFAULT_SEED
_rng = np.random.default_rng(_DEFAULT_SEED)
_config_cache: dict[str, Any] | None = None


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


def set_seed(value: int) -> None:
    """Seed every random choice synaprefect makes (shuffling, optimizers) and the global
    ``random`` and ``numpy.random`` generators, for reproducible runs.

    Example: ``synaprefect.set_seed(42)`` (or ``set_seed(value=42)``, as in Synalinks)
    """
    global _seed, _rng
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"`value` (the seed) must be an int, got {value!r}.")
    _seed = value
    _rng = np.random.default_rng(value)
    random.seed(value)
    np.random.seed(value)


def get_seed() -> int:
    return _seed


def rng() -> np.random.Generator:
    """The library's own random generator, reseeded by ``set_seed``."""
    return _rng


# Operational settings: a setter wins, then the environment variable, then the default.
_overrides: dict[str, Any] = {}


def _setting(name: str, env: str, default: Any, parse, kind: str | None = None) -> Any:
    if name in _overrides:
        return _overrides[name]
    raw = os.environ.get(env)
    if raw in (None, ""):
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"${env} must be a {kind or parse.__name__}, got {raw!r}.") from None


def set_kept_runs(count: int) -> None:
    """Keep the run folders (persisted steps and LM answers) of the last ``count``
    finished jobs of each program; 0 (default, or ``$SYNAPREFECT_KEEP_RUNS``) removes a
    job's folder as soon as it finishes. Unfinished jobs are always kept: they resume.

    Example: ``synaprefect.config.set_kept_runs(3)``
    """
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError(f"`count` must be an int >= 0, got {count!r}.")
    _overrides["kept_runs"] = count


def kept_runs() -> int:
    return _setting("kept_runs", "SYNAPREFECT_KEEP_RUNS", 0, int)


def set_task_retries(retries: int, delay: float | None = None) -> None:
    """How often a failed task (a module call, a batch, an optimizer update) is tried
    again after the model's own retries gave up, and the seconds between tries; the same
    with tracking on or off. Defaults: 1 retry, 2 s (``$SYNAPREFECT_TASK_RETRIES``,
    ``$SYNAPREFECT_TASK_RETRY_DELAY``).

    Example: ``synaprefect.config.set_task_retries(3, delay=10.0)``
    """
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"`retries` must be an int >= 0, got {retries!r}.")
    if delay is not None and delay < 0:
        raise ValueError(f"`delay` must be >= 0 seconds, got {delay!r}.")
    _overrides["task_retries"] = retries
    if delay is not None:
        _overrides["task_retry_delay"] = float(delay)


def task_retries() -> tuple[int, float]:
    """``(retries, delay in seconds)`` of tasks (see ``set_task_retries``)."""
    return (
        _setting("task_retries", "SYNAPREFECT_TASK_RETRIES", 1, int),
        _setting("task_retry_delay", "SYNAPREFECT_TASK_RETRY_DELAY", 2.0, float),
    )


def _boolean(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def set_fit_plots(enabled: bool) -> None:
    """Whether a tracked fit ends by publishing its ``<program>-plots`` artifact (curves
    per epoch and program graph). Drawing them costs about half a second in the first
    fit of a process (importing matplotlib for the graph), about 25 ms after. Default on
    (``$SYNAPREFECT_FIT_PLOTS``).

    Example: ``synaprefect.config.set_fit_plots(False)``
    """
    if not isinstance(enabled, bool):
        raise ValueError(f"`enabled` must be True or False, got {enabled!r}.")
    _overrides["fit_plots"] = enabled


def fit_plots() -> bool:
    """Whether tracked fits publish their plots (see ``set_fit_plots``)."""
    return _setting(
        "fit_plots",
        "SYNAPREFECT_FIT_PLOTS",
        True,
        _boolean,
        "boolean (1/0, true/false, yes/no, on/off)",
    )


def clear_session() -> None:
    """Reset global state: automatic names start again from ``generator``, ``generator_1``."""
    reset_names()


# ---- Synalinks' settings ------------------------------------------------------------------
# Kept so Synalinks scripts run unchanged; none changes what synaprefect computes.

_FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")


def synalinks_home() -> str:
    """Synalinks' name for ``synaprefect_home()``, as a string."""
    return str(synaprefect_home())


def api_base() -> str:
    """The Synalinks Studio address a script set (``$SYNAPREFECT_API_BASE``, default
    ``http://localhost:8000/api``); synaprefect sends nothing there: its runs are in
    Prefect's UI."""
    return _setting("api_base", "SYNAPREFECT_API_BASE", "http://localhost:8000/api", str)


def set_api_base(api_base: str) -> None:
    """Example: ``synaprefect.set_api_base("http://studio:8000/api")``"""
    if not isinstance(api_base, str) or not api_base:
        raise ValueError(f"`api_base` must be a URL string, got {api_base!r}.")
    _overrides["api_base"] = api_base


def backend() -> str:
    """The data-model backend: always ``"pydantic"``."""
    return "pydantic"


def set_backend(backend: str) -> None:
    if backend != "pydantic":
        raise ValueError(f"`backend` must be 'pydantic' (the only one), got {backend!r}.")


def floatx() -> str:
    """The float type name a script set (default ``"float32"``)."""
    return _overrides.get("floatx", "float32")


def set_floatx(value: str) -> None:
    """Example: ``synaprefect.config.set_floatx("float64")``"""
    if value not in _FLOAT_TYPES:
        raise ValueError(f"`floatx` must be one of {list(_FLOAT_TYPES)}, got {value!r}.")
    _overrides["floatx"] = value


def epsilon() -> float:
    """The fuzz factor a script set (default ``1e-7``)."""
    return _overrides.get("epsilon", 1e-7)


def set_epsilon(value: float) -> None:
    """Example: ``synaprefect.config.set_epsilon(1e-5)``"""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f"`epsilon` must be a positive number, got {value!r}.")
    _overrides["epsilon"] = float(value)
