"""Utilities: the plots of programs, training histories and evaluation scores (public,
as ``synaprefect.utils.plot_*``), and small helpers shared across synaprefect (the other
modules of this package, private to it).

matplotlib is imported when a plot is drawn, not by ``import synaprefect``.

Example:
```python
synaprefect.utils.plot_program(program, show_module_names=True)
synaprefect.utils.plot_history(history)
```
"""

from synaprefect.utils.plot_history import (
    plot_history,
    plot_history_comparison,
    plot_history_comparison_with_mean_and_std,
    plot_history_with_mean_and_std,
)
from synaprefect.utils.plot_metrics import (
    plot_metrics,
    plot_metrics_comparison,
    plot_metrics_comparison_with_mean_and_std,
    plot_metrics_with_mean_and_std,
)
from synaprefect.utils.plot_program import plot_program

__all__ = [
    "plot_program",
    "plot_history",
    "plot_history_with_mean_and_std",
    "plot_history_comparison",
    "plot_history_comparison_with_mean_and_std",
    "plot_metrics",
    "plot_metrics_with_mean_and_std",
    "plot_metrics_comparison",
    "plot_metrics_comparison_with_mean_and_std",
]

# Synalinks' examples register tool functions as ``synalinks.utils.register_synalinks_
# serializable``; the decorator lives in ``saving``, which imports this package: looked up
# on first use, not at import.
_FROM_SAVING = ("register_synalinks_serializable",)
__all__ += list(_FROM_SAVING)


def __getattr__(name: str):
    if name in _FROM_SAVING:
        from synaprefect.saving import serialization

        return getattr(serialization, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
