"""Orchestration: where fit / evaluate / predict run (plain asyncio or Prefect flows) and
where their artifacts go.

Importing this package does not import Prefect (about 1.7 s): only ``PrefectRuntime``
(``get_runtime()`` with tracking on) and the ``read_*`` functions do.

Example:
```python
from synaprefect import orchestration

runtime = orchestration.get_runtime()          # PrefectRuntime unless tracking is off
with orchestration.tracking(False):
    assert not orchestration.get_runtime().tracking
history = await orchestration.read_variable_history("qa", "generator/instructions")
```
"""

from typing import Any

from synaprefect.language_models.calls import set_rate_limiter
from synaprefect.orchestration.artifacts import (
    artifact_key,
    evaluation_key,
    history_table_key,
    plots_key,
    progress_key,
    read_json_history,
    read_variable_history,
    read_variable_history_sync,
    summary_key,
    variable_artifact_key,
)
from synaprefect.orchestration.observability import (
    enable_logging,
    enable_observability,
    is_observability_enabled,
)
from synaprefect.orchestration.rate_limits import acquire_rate_limit
from synaprefect.trainers.runtime import (
    LocalRuntime,
    Runtime,
    get_runtime,
    is_tracking,
    is_transient,
    run_tags,
    set_run_tags,
    set_tracked_runtime,
    set_tracking,
    tracking,
)


def _prefect_runtime() -> Runtime:
    # Prefect is imported by the first tracked job, not with this package.
    from synaprefect.orchestration.prefect_runtime import PrefectRuntime

    return PrefectRuntime()


# Models with ``rate_limit=NAME`` take slots of the Prefect limit NAME; tracked jobs run
# on Prefect.
set_rate_limiter(acquire_rate_limit)
set_tracked_runtime(_prefect_runtime)

# ``PrefectRuntime`` stays out of ``__all__``: a star import would otherwise import Prefect.
__all__ = [
    "Runtime",
    "LocalRuntime",
    "get_runtime",
    "set_tracking",
    "tracking",
    "is_tracking",
    "is_transient",
    "set_run_tags",
    "run_tags",
    "enable_logging",
    "enable_observability",
    "is_observability_enabled",
    "artifact_key",
    "variable_artifact_key",
    "history_table_key",
    "summary_key",
    "evaluation_key",
    "progress_key",
    "plots_key",
    "read_json_history",
    "read_variable_history",
    "read_variable_history_sync",
]


def __getattr__(name: str) -> Any:
    # ``orchestration.PrefectRuntime`` imports Prefect on first use only.
    if name == "PrefectRuntime":
        from synaprefect.orchestration.prefect_runtime import PrefectRuntime

        return PrefectRuntime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
