"""Layers (docs/architecture.md): a lower package never imports a higher one, not even
inside a function."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "synaprefect"

# package -> the packages it must not import. The language-model layer knows nothing of
# modules, trainers or orchestrators: a job installs its call store and the orchestration
# layer its rate limiter (``call_store``, ``calls.set_rate_limiter``).
FORBIDDEN = {
    "language_models": ["modules", "programs", "trainers", "orchestration", "tuners",
                        "optimizers", "callbacks"],
    "modules": ["trainers", "orchestration", "tuners", "callbacks"],
    # Knowledge bases store data models; the modules that use them sit above.
    "knowledge_bases": ["modules", "programs", "trainers", "orchestration", "tuners",
                        "optimizers", "callbacks"],
    # Datasets turn files into data models; programs and jobs are built on them elsewhere
    # (``recipes``, the flows, the command line).
    "datasets": ["modules", "programs", "optimizers", "callbacks", "orchestration", "tuners",
                 "recipes", "cli", "demo"],
    "storage": ["data_models", "language_models", "modules", "programs", "trainers",
                "orchestration", "tuners", "saving", "callbacks"],
}


def imported_packages(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n.split(".")[1] for n in names if n.startswith("synaprefect.") and "." in n}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer):
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(imported_packages(path) & set(FORBIDDEN[layer]))
        for path in (PACKAGE / layer).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
