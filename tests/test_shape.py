"""The shape of the code: what a newcomer can hold in mind.

Measured, not hoped for: no function of ``src/`` above a cyclomatic
complexity of 20 (as radon counts it: a branch, loop, ``except``,
comprehension or boolean operator adds one), no module above 600 lines, and
no module that reaches into another's private (underscore) names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from radon.complexity import cc_visit

from .helpers import ROOT

SRC = ROOT / "src" / "wsproto_lite"
MODULES = sorted(SRC.glob("*.py"))
MAX_COMPLEXITY = 20
MAX_LINES = 600


def test_src_has_modules() -> None:
    assert len(MODULES) > 5


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_function_above_complexity_20(path: Path) -> None:
    blocks = cc_visit(path.read_text())
    over = [
        f"{block.fullname} (line {block.lineno}): {block.complexity}"
        for block in blocks
        if block.complexity > MAX_COMPLEXITY
    ]
    assert not over, f"split these into named steps: {over}"


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_module_above_600_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; give one of its concerns a module"


def private_imports(source: str) -> list[str]:
    """The underscore names that ``source`` imports from a sibling module
    (importing a private sibling module itself, ``from . import _speed``,
    reaches into nothing)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level and node.module:
            found += [alias.name for alias in node.names if alias.name.startswith("_")]
    return found


def test_the_private_import_check_sees_one() -> None:
    assert private_imports("from .events import _as_bytes, Message") == ["_as_bytes"]
    assert private_imports("from ._frames import apply_mask") == []
    assert private_imports("from . import _speedups") == []


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_no_module_imports_another_modules_private_names(path: Path) -> None:
    assert private_imports(path.read_text()) == []
