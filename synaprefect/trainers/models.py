"""Every model a program uses, found by one walk: what cost accounting counts
(``Program.language_models``) and what model swapping replaces
(``recipes.use_language_model``).

Example:
```python
from synaprefect.trainers.models import language_models, replace_language_model

replace_language_model(program, synaprefect.LanguageModel("openai/gpt-4o-mini"))
assert language_models(program) == [program.get_module("generator").language_model]
```
"""

from typing import Any

from synaprefect.language_models.base import ModelBase
from synaprefect.language_models.language_model import LanguageModel
from synaprefect.utils.nest import flatten

__all__ = ["model_owners", "language_models", "replace_language_model", "sample_window"]


def _modules_of(owner: Any) -> list[Any]:
    """``owner`` with every module inside it (itself a module, or a reward or optimizer
    holding modules as attributes, such as an ``LMAsJudge``'s ``SelfCritique``)."""
    found = [owner]
    for value in [owner, *vars(owner).values()]:
        if hasattr(value, "_walk"):
            found += list(value._walk())
    return found


def model_owners(program: Any) -> list[Any]:
    """Every object of ``program`` that may hold a model as an attribute, once each: its
    modules and, when compiled, its rewards, its optimizer and the modules inside them.

    Example: ``[type(owner).__name__ for owner in model_owners(program)]``
    """
    owners: list[Any] = list(program._walk())
    if program.compiled:
        extra = list(program._rewards.rewards)
        if program.optimizer is not None:
            extra += [program.optimizer, *program.optimizer.modules()]
        for owner in extra:
            owners += _modules_of(owner)
    unique: dict[int, Any] = {}
    for owner in owners:
        unique.setdefault(id(owner), owner)
    return list(unique.values())


def language_models(program: Any) -> list[ModelBase]:
    """Every language or embedding model ``program`` calls, fallbacks included, once each.

    Example: ``sum(model.counters()["cost"] for model in language_models(program))``
    """
    return _models_of(model_owners(program))


def _models_of(owners: list[Any]) -> list[ModelBase]:
    """The models ``owners`` hold as attributes (in lists and dicts too), fallbacks
    included, once each."""
    found: dict[int, ModelBase] = {}
    for owner in owners:
        for value in vars(owner).values():
            for item in flatten(value) if isinstance(value, (list, dict, tuple)) else [value]:
                if isinstance(item, ModelBase):
                    found.setdefault(id(item), item)
                    fallback = getattr(item, "fallback", None)
                    if fallback is not None:
                        found.setdefault(id(fallback), fallback)
    return list(found.values())


def sample_window(module: Any) -> int | None:
    """How many samples of a batch are worth starting at once through ``module``: four
    times the largest ``max_concurrency`` of the models it calls. Preparing every sample
    of a large batch before the first request goes out delays it by as much (about 0.5 s
    for 1,000 samples); four, not one, keeps the model's slots full while samples spend
    up to three quarters of their time elsewhere (tools, parsing, other modules). None
    (start them all) when a model has no cap, or the module calls none.

    Example: ``sample_window(generator)  # 128 for a LanguageModel(max_concurrency=32)``
    """
    caps = [model.max_concurrency for model in _models_of(_modules_of(module))]
    if not caps or any(cap is None for cap in caps):
        return None
    return 4 * max(cap for cap in caps if cap is not None)


def replace_language_model(program: Any, language_model: LanguageModel) -> None:
    """Make every module, reward and optimizer of ``program`` call ``language_model``
    (embedding models stay).

    Example: ``replace_language_model(program, synaprefect.LanguageModel("openai/gpt-4o"))``
    """
    for owner in model_owners(program):
        for attribute, value in list(vars(owner).items()):
            if isinstance(value, LanguageModel):
                setattr(owner, attribute, language_model)
