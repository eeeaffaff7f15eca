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

__all__ = ["model_owners", "language_models", "replace_language_model"]


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
    found: dict[int, ModelBase] = {}
    for owner in model_owners(program):
        for value in vars(owner).values():
            for item in flatten(value) if isinstance(value, (list, dict, tuple)) else [value]:
                if isinstance(item, ModelBase):
                    found.setdefault(id(item), item)
                    fallback = getattr(item, "fallback", None)
                    if fallback is not None:
                        found.setdefault(id(fallback), fallback)
    return list(found.values())


def replace_language_model(program: Any, language_model: LanguageModel) -> None:
    """Make every module, reward and optimizer of ``program`` call ``language_model``
    (embedding models stay).

    Example: ``replace_language_model(program, synaprefect.LanguageModel("openai/gpt-4o"))``
    """
    for owner in model_owners(program):
        for attribute, value in list(vars(owner).items()):
            if isinstance(value, LanguageModel):
                setattr(owner, attribute, language_model)
