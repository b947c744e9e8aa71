"""`make mutate`'s runner: a tested mutation is killed, an untested one survives, stale ones are named."""

from __future__ import annotations

from pathlib import Path

from tests.mutation.catalogue import Mutation
from tests.mutation.run import mutate_and_test, problem_with

MODULE = "def add(a, b):\n    return a + b\n\n\ndef double(a):\n    return a * 2\n"
TESTS = "from mod import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def tiny_tree(path: Path) -> Path:
    path.mkdir()
    (path / "mod.py").write_text(MODULE)
    (path / "test_mod.py").write_text(TESTS)
    return path


def test_a_tested_mutation_is_killed_an_untested_one_survives(tmp_path: Path) -> None:
    tree = tiny_tree(tmp_path / "tree")
    killed = mutate_and_test(Mutation("plus", "mod.py", "a + b", "a - b", ("test_mod.py",), "adds"), tree)
    untested = Mutation("times", "mod.py", "a * 2", "a * 3", ("test_mod.py",), "doubles")
    survived = mutate_and_test(untested, tree)

    assert (killed.status, survived.status) == ("killed", "survived")
    assert "test_add" in killed.detail
    assert (tree / "mod.py").read_text() == MODULE  # each mutation is undone


def test_stale_ambiguous_and_broken_mutations_are_reported(tmp_path: Path) -> None:
    tree = tiny_tree(tmp_path / "tree")
    stale = Mutation("gone", "mod.py", "a / b", "a * b", ("test_mod.py",), "-")
    ambiguous = Mutation("twice", "mod.py", "return a", "return b", ("test_mod.py",), "-")
    broken = Mutation("syntax", "mod.py", "a + b", "a +", ("test_mod.py",), "-")

    assert [problem_with(m, tree).status for m in (stale, ambiguous, broken)] == ["stale", "stale", "invalid"]
