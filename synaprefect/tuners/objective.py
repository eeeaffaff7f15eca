"""``Objective``: the metric a search optimizes, and whether higher or lower is better.

The direction of a named metric is inferred the way synaprefect knows its metrics: the
reward is maximized, a metric class declares its ``direction`` ("up" or "down"), and a
``val_`` prefix names the same metric on validation data. keras-tuner's own inference
("loss", "acc"...) comes last.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from synaprefect.tuners.keras_stub import import_keras_tuner

if TYPE_CHECKING:
    import keras_tuner

__all__ = [
    "Objective",
    "infer_direction",
    "resolve_objective",
    "objective_directions",
    "with_objective",
]

_DIRECTIONS = ("min", "max")
# Operational metrics of another phase than inference are named with the phase as prefix
# (``reward_total_tokens``, ``all_cost``).
_PHASE_PREFIXES = ("reward", "optimizer", "all")


def Objective(name: str, direction: str | None = None) -> keras_tuner.Objective:
    """The objective of a search: the metric ``name`` to maximize (``direction="max"``)
    or minimize (``"min"``); a ``keras_tuner.Objective``.

    Without ``direction`` it is inferred (see ``infer_direction``): ``"reward"`` and
    ``"val_reward"`` are maximized, metrics of synaprefect's registry follow their
    class's ``direction`` (``"accuracy"``: max, ``"cost"``: min), then keras-tuner's own
    rules apply (``"loss"``: min). Otherwise a ``ValueError`` asks for ``direction=``.

    Importing ``synaprefect.tuners`` does not import keras_tuner; this function does.

    Example:
    ```python
    objective = synaprefect.tuners.Objective("val_reward")          # maximized
    objective = synaprefect.tuners.Objective("my_score", direction="max")
    ```
    """
    kt = import_keras_tuner("synaprefect.tuners.Objective")
    if direction is None:
        direction = infer_direction(name)
        if direction is None:
            raise ValueError(
                f"Could not infer whether {name!r} should be maximized or minimized: no "
                "synaprefect metric of that name declares a direction and keras-tuner "
                "does not know it either. Pass it explicitly: "
                f"synaprefect.tuners.Objective({name!r}, direction='max') (or 'min')."
            )
    if direction not in _DIRECTIONS:
        raise ValueError(
            f"Invalid direction {direction!r} for objective {name!r}: use 'max' (higher "
            "is better) or 'min' (lower is better)."
        )
    return kt.Objective(name=name, direction=direction)


def infer_direction(name: str) -> str | None:
    """``"max"``, ``"min"`` or ``None`` (unknown) for the metric log key ``name``.

    Example:
    ```python
    infer_direction("val_reward")     # 'max'
    infer_direction("reward_cost")    # 'min' (Cost.direction == "down")
    infer_direction("val_loss")       # 'min' (keras-tuner's rule)
    ```
    """
    base = name[len("val_") :] if name.startswith("val_") else name
    # Rewards are always maximized; ``candidate_reward`` and the like are rewards too.
    if base == "reward" or base.endswith("_reward"):
        return "max"
    declared = _declared_direction(base)
    if declared is not None:
        return {"up": "max", "down": "min"}[declared]
    import_keras_tuner("synaprefect.tuners.infer_direction")
    from keras_tuner.engine import metrics_tracking

    return metrics_tracking.infer_metric_direction(name)


def resolve_objective(objective: Any) -> Any:
    """``objective`` as keras-tuner expects it: names become ``Objective(name)`` (with
    synaprefect's inference), lists are resolved item by item.

    Example: ``resolve_objective(["val_reward", "cost"])  # [Objective(max), Objective(min)]``
    """
    if objective is None:
        raise ValueError(
            "A tuner needs `objective=`: the metric to optimize, e.g. "
            "objective='val_reward' or synaprefect.tuners.Objective('val_reward', "
            "direction='max')."
        )
    if isinstance(objective, str):
        return Objective(objective)
    if isinstance(objective, (list, tuple)):
        return [resolve_objective(item) for item in objective]
    return objective


def _declared_direction(name: str) -> str | None:
    from synaprefect import metrics

    head, _, rest = name.partition("_")
    candidates = [(name, metrics.Metric)]
    if head in _PHASE_PREFIXES and rest:
        candidates.append((rest, metrics.OperationalMetric))
    for candidate, kind in candidates:
        try:
            metric = metrics.get(candidate)
        except ValueError:
            continue
        if isinstance(metric, kind):
            return metric.direction
    return None


def objective_directions(oracle: Any) -> dict[str, str]:
    """``{metric: "min" | "max"}`` of the oracle's objective (each of a multi-objective)."""
    objective = oracle.objective
    return dict(
        getattr(objective, "name_to_direction", None) or {objective.name: objective.direction}
    )


def with_objective(oracle: Any, metrics: dict[str, float]) -> dict[str, float]:
    """A trial's ``metrics`` checked against the oracle's objective, with the aggregate of
    a multi-objective added; ``FatalValueError`` (the search stops) when one is missing."""
    from keras_tuner import errors

    objective = oracle.objective
    missing = [name for name in objective_directions(oracle) if name not in metrics]
    if missing:
        raise errors.FatalValueError(
            f"The objective needs {missing}, but the trial reported only "
            f"{sorted(metrics)}. Validation metrics ('val_...') need `validation_data=` "
            "or `validation_split=` in search(); or pick one of the reported metrics."
        )
    if objective.name not in metrics:  # a MultiObjective: report its aggregate too
        metrics[objective.name] = float(objective.get_value(metrics))
    return metrics
