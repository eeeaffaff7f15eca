"""docs/synalinks-compatibility.md against synaprefect and Synalinks' public names.

Every Synalinks public name (the committed list) has exactly one row status; a name
marked present or different resolves under ``import synaprefect as synalinks``, a
present class is a class and a present function is callable; a name marked not provided
does not resolve. Resolution runs in a fresh interpreter (``public_names.resolve_all``).
"""

import pytest

from tests.compat.public_names import (
    DOC_FILE,
    STATUSES,
    expand,
    load_synalinks_names,
    parse_table,
    resolve_all,
)

SYNALINKS = load_synalinks_names()


@pytest.fixture(scope="module")
def table():
    return parse_table(DOC_FILE.read_text())


@pytest.fixture(scope="module")
def found(table):
    return resolve_all(sorted(table))


def test_the_committed_list_is_synalinks_public_api():
    assert len(SYNALINKS) == 778
    for path in (
        "synalinks.Generator",
        "synalinks.modules.Generator",
        "synalinks.utils.plot_program",
        "synalinks.datasets.gsm8k.load_data",
        "synalinks.tuners.RandomSearch",
        "synalinks.Field",
    ):
        assert path in SYNALINKS
    assert set(SYNALINKS.values()) == {"class", "function", "value"}


def test_every_synalinks_name_has_one_row(table):
    assert sorted(set(SYNALINKS) - set(table)) == []
    assert sorted(set(table) - set(SYNALINKS)) == []  # no invented or misspelled names
    assert {status for status, _ in table.values()} == set(STATUSES)


def test_different_and_not_provided_say_how_or_why(table):
    unexplained = [
        name for name, (status, reason) in table.items() if status != "present" and len(reason) < 10
    ]
    assert unexplained == []


def test_present_and_different_names_resolve(table, found):
    missing = [
        name
        for name, (status, _) in table.items()
        if status != "not provided" and found[name] is None
    ]
    assert missing == []


def test_present_names_are_what_synalinks_exports(table, found):
    wrong = [
        (name, SYNALINKS[name], found[name])
        for name, (status, _) in table.items()
        if status == "present" and found[name] != SYNALINKS[name]
    ]
    assert wrong == []


def test_not_provided_names_do_not_resolve(table, found):
    resolving = [
        name
        for name, (status, _) in table.items()
        if status == "not provided" and found[name] is not None
    ]
    assert resolving == []


def test_resolution_sees_only_what_a_script_sees():
    found = resolve_all(
        [
            "synalinks.Generator",
            "synalinks.datasets.gsm8k.load_data",
            "synalinks.version",
            "synalinks.MultiServerMCPClient",
            "synalinks.testing.SimulatedLM",
            "synalinks.modules.generator.Generator.nonexistent",
        ]
    )
    assert found == {
        "synalinks.Generator": "class",
        "synalinks.datasets.gsm8k.load_data": "function",
        "synalinks.version": "module",
        "synalinks.MultiServerMCPClient": None,
        # a submodule nobody imports at `import synaprefect` is not an attribute
        "synalinks.testing.SimulatedLM": None,
        "synalinks.modules.generator.Generator.nonexistent": None,
    }


def test_table_cells_expand_and_duplicates_are_refused():
    assert expand("`synalinks.a.{B, c}.d`, `synalinks.E`") == [
        "synalinks.a.B.d",
        "synalinks.a.c.d",
        "synalinks.E",
    ]
    rows = "| `synalinks.{A, B}` | present | |\n| `synalinks.B` | not provided | because |\n"
    with pytest.raises(ValueError, match="synalinks.B appears twice"):
        parse_table(rows)
