"""Synalinks' public names, resolved against synaprefect, and the table that documents them.

``synalinks_public_names.json`` lists every path Synalinks exports with its
``synalinks_export`` decorator (``synalinks.modules.Generator``...) and what it is
(class, function, value). ``docs/synalinks-compatibility.md`` gives each one a status; the test
``test_public_names.py`` keeps the two honest.

    python -m tests.compat.public_names            # report: present / missing per name
    python -m tests.compat.public_names --json     # {path: kind found in synaprefect}
    python -m tests.compat.public_names --refresh REPO   # re-read a Synalinks git mirror
"""

from __future__ import annotations

import ast
import inspect
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "NAMES_FILE",
    "DOC_FILE",
    "STATUSES",
    "load_synalinks_names",
    "kind_of",
    "resolve_all",
    "parse_table",
    "expand",
    "extract_from_mirror",
]

HERE = Path(__file__).parent
NAMES_FILE = HERE / "synalinks_public_names.json"
DOC_FILE = HERE.parents[1] / "docs" / "synalinks-compatibility.md"
STATUSES = ("present", "different", "not provided")
# Public without the decorator: synalinks/__init__.py imports pydantic's Field by hand and
# Synalinks' API generator adds __version__.
_UNDECORATED = {"synalinks.Field": "function", "synalinks.__version__": "value"}
_ROW = re.compile(
    r"^\|(?P<names>[^|]*`[^|]*)\|\s*(?P<status>present|different|not provided)"
    r"\s*\|(?P<reason>[^|]*)\|\s*$"
)


def load_synalinks_names() -> dict[str, str]:
    """``{"synalinks.X.Y": "class" | "function" | "value"}`` from the committed list."""
    return json.loads(NAMES_FILE.read_text())["names"]


def kind_of(obj: Any) -> str:
    """ "class", "function", "module" or "value": what a Synalinks script can do with it."""
    if inspect.isclass(obj):
        return "class"
    if inspect.ismodule(obj):
        return "module"
    return "function" if callable(obj) else "value"


def _resolve(path: str) -> str | None:
    """The kind of ``synaprefect.<rest of path>``, reached by attributes only (as a
    script using ``import synaprefect as synalinks`` would); None when missing."""
    import synaprefect

    obj: Any = synaprefect
    for part in path.split(".")[1:]:
        if not hasattr(obj, part):
            return None
        obj = getattr(obj, part)
    return kind_of(obj)


def resolve_all(paths: list[str]) -> dict[str, str | None]:
    """Resolve ``paths`` in a fresh interpreter, so that submodules imported by whoever
    calls this (a test session) cannot make a missing attribute appear."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.compat.public_names", "--json"],
        input=json.dumps(paths),
        capture_output=True,
        text=True,
        check=True,
        cwd=HERE.parents[1],
    )
    return json.loads(done.stdout)


def expand(cell: str) -> list[str]:
    """The names of a table cell: each backquoted path, ``a.{b,c}`` giving a.b and a.c."""
    names = []
    for quoted in re.findall(r"`([^`]+)`", cell):
        match = re.fullmatch(r"(?P<head>[\w.]*)\{(?P<alts>[\w,\s]+)\}(?P<tail>[\w.]*)", quoted)
        if match is None:
            names.append(quoted)
            continue
        for alt in match["alts"].split(","):
            names.append(f"{match['head']}{alt.strip()}{match['tail']}")
    return names


def parse_table(text: str) -> dict[str, tuple[str, str]]:
    """``{name: (status, how or why)}`` from the doc's table rows; a name listed twice
    raises."""
    table: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        row = _ROW.match(line)
        if row is None:
            continue
        for name in expand(row["names"]):
            if name in table:
                raise ValueError(f"{name} appears twice in the table")
            table[name] = (row["status"], row["reason"].strip())
    return table


def extract_from_mirror(repo: str) -> dict[str, str]:
    """Every path given to ``synalinks_export`` under ``synalinks/src`` at the mirror's
    HEAD, with the kind of the decorated definition, and the two undecorated names."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", repo, *args], capture_output=True, text=True, check=True
        ).stdout

    names = dict(_UNDECORATED)
    for path in git("grep", "-l", "synalinks_export(", "HEAD", "--", "synalinks/src").split():
        source = git("show", path)
        # Tuner stubs are exported from a factory: f"synalinks.tuners.{name}" per stub.
        stubs = re.findall(r"^(\w+) = _make_stub\(", source, re.MULTILINE)
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            for decorator in node.decorator_list:
                if getattr(getattr(decorator, "func", None), "id", None) != "synalinks_export":
                    continue
                argument = decorator.args[0]
                for item in getattr(argument, "elts", [argument]):
                    if isinstance(item, ast.JoinedStr):
                        template = ast.unparse(item)[2:-1]
                        found = [template.replace("{name}", stub) for stub in stubs]
                    else:
                        found = [ast.literal_eval(item)]
                    names.update(dict.fromkeys(found, kind))
    return dict(sorted(names.items()))


def _main(argv: list[str]) -> None:
    if argv[:1] == ["--json"]:
        print(json.dumps({path: _resolve(path) for path in json.loads(sys.stdin.read())}))
    elif argv[:1] == ["--refresh"]:
        head = subprocess.run(
            ["git", "-C", argv[1], "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        document = {
            "source": f"SynaLinks/synalinks at {head}",
            "names": extract_from_mirror(argv[1]),
        }
        NAMES_FILE.write_text(json.dumps(document, indent=1) + "\n")
    else:
        names = load_synalinks_names()
        found = resolve_all(list(names))
        for path in names:
            print(f"{'present' if found[path] else 'missing'}\t{path}\t{found[path] or ''}")


if __name__ == "__main__":
    _main(sys.argv[1:])
