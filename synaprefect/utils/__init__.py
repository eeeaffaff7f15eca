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

# Synalinks exports its serialization registry from ``utils`` too (its examples register
# tool functions with ``synalinks.utils.register_synalinks_serializable``).
from synaprefect.utils.serialization import (
    CustomObjectScope,
    custom_object_scope,
    deserialize_synalinks_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_synalinks_serializable,
    serialize_synalinks_object,
)

__all__ += [
    "register_synalinks_serializable",
    "serialize_synalinks_object",
    "deserialize_synalinks_object",
    "custom_object_scope",
    "CustomObjectScope",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
]
