"""Layers (docs/architecture.md): a package imports only the packages of lower layers,
at module level or inside a function alike (an import inside a function that goes up is
a cycle held together by timing), and the packages' imports form no cycle."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parent.parent / "synaprefect"

# Bottom to top, as in the picture of docs/architecture.md. Packages of one layer may
# import each other, as long as the imports form no cycle (the last test).
LAYERS = [
    ["utils", "version", "_prefect_defaults"],
    ["storage"],
    ["config"],
    ["data_models", "initializers"],
    ["variables"],
    ["saving"],
    ["language_models", "testing", "knowledge_bases"],
    ["modules", "ops"],
    ["rewards"],
    ["metrics"],
    ["callbacks", "optimizers"],
    ["trainers"],
    ["programs"],
    ["orchestration"],
    ["tuners"],
    ["datasets"],
    ["recipes", "demo", "cli"],
]
RANK = {package: rank for rank, layer in enumerate(LAYERS) for package in layer}

# Narrower than the layers: datasets turn files into data models; programs and jobs are
# built on them elsewhere (``recipes``, the flows, the command line).
NARROWER = {
    "datasets": ["modules", "programs", "optimizers", "callbacks", "orchestration", "tuners"],
}

# Imports that break the layers on purpose, as (importing file, imported package, why).
# None: every seam is an installed hook (call store, rate limiter, prediction recorder,
# tracked runtime, operation modules, request kinds; docs/architecture.md).
EXCEPTIONS: list[tuple[str, str, str]] = []


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> list[tuple[int, str]]:
    """(line, synaprefect package) of every import that runs: at module level or inside
    functions, but not under ``if TYPE_CHECKING:`` (annotations only, never executed)."""
    found = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child):
            for other in child.orelse:
                found += _imports(other)
            continue
        names: list[str] = []
        if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
            names = (
                [child.module]
                if child.module != "synaprefect"
                else [f"synaprefect.{alias.name}" for alias in child.names]
            )
        elif isinstance(child, ast.Import):
            names = [alias.name for alias in child.names]
        found += [
            (child.lineno, name.split(".")[1]) for name in names if name.startswith("synaprefect.")
        ]
        found += _imports(child)
    return found


def package_of(path: Path) -> str:
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def runtime_imports() -> dict[str, set[tuple[str, str]]]:
    """package -> {(file:line, imported package)} for every import of another package."""
    graph: dict[str, set[tuple[str, str]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = package_of(path)
        if source == "__init__":  # the root package re-exports everything
            continue
        for line, target in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if target != source:
                where = f"{path.relative_to(PACKAGE)}:{line}"
                graph.setdefault(source, set()).add((where, target))
    return graph


def _excepted(where: str, target: str) -> bool:
    return any(
        where.startswith(f"{file}:") and target == package for file, package, _ in EXCEPTIONS
    )


def test_every_package_has_a_layer():
    packages = {
        package_of(path)
        for path in PACKAGE.iterdir()
        if path.suffix == ".py" or (path / "__init__.py").exists()
    }
    assert packages - {"__init__"} == set(RANK)


def test_no_package_imports_a_higher_layer():
    upward = sorted(
        f"{where}: {source} imports {target}"
        for source, imports in runtime_imports().items()
        for where, target in imports
        if RANK[target] > RANK[source] and not _excepted(where, target)
    )
    assert upward == []


@pytest.mark.parametrize("package", sorted(NARROWER))
def test_a_package_imports_nothing_it_is_narrowed_from(package):
    found = sorted(
        f"{where}: {target}"
        for where, target in runtime_imports()[package]
        if target in NARROWER[package]
    )
    assert found == []


def test_the_packages_import_no_cycle():
    edges = {
        source: {target for where, target in imports if not _excepted(where, target)}
        for source, imports in runtime_imports().items()
    }
    cycles = []

    def visit(package: str, path: list[str]) -> None:
        for target in sorted(edges.get(package, ())):
            if target in path:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in done:
                visit(target, path + [target])
        done.add(package)

    done: set[str] = set()
    for package in sorted(edges):
        if package not in done:
            visit(package, [package])
    assert cycles == []


def test_the_check_sees_imports_inside_functions(tmp_path):
    # The walk must not stop at module level: that is where the cycles used to hide.
    source = (
        "from synaprefect.utils import nest\n"
        "def f():\n    from synaprefect.tuners.remote import run_trial_request\n"
        "if TYPE_CHECKING:\n    from synaprefect.programs import Program\n"
    )
    assert _imports(ast.parse(source)) == [(1, "utils"), (3, "tuners")]
