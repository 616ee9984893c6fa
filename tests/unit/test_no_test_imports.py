"""Nothing outside tests/ imports from tests/: the wheel ships no `tests` package, so a module of
the four packages that did would fail in an installed desk, and bench uses what the package ships
(`otcdesk.samples`, `otcdesk.child_processes`). Checked on the source with `ast`, so an import
inside a function or under `TYPE_CHECKING` counts too."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: the four packages of the wheel and bench (the tools that measure them)
SOURCES = ("otcdesk", "streams", "producers", "consumers", "bench")
IMPORTERS = {"import_module", "__import__"}


def _is_tests(name: str) -> bool:
    return name == "tests" or name.startswith("tests.")


def imports_of_tests(source: str) -> list[int]:
    """The lines of `source` that import `tests` or a module under it: `import`, `from ... import`
    (absolute) and `importlib.import_module` / `__import__` of a literal name."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            names = [str(node.args[0].value)] if called in IMPORTERS else []
        else:
            continue
        if any(_is_tests(name) for name in names):
            lines.append(node.lineno)
    return sorted(lines)


def test_no_module_of_the_packages_or_bench_imports_tests() -> None:
    files = sorted(p for top in SOURCES for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts)
    assert len(files) > 100  # the walk found the sources
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in files
        for line in imports_of_tests(path.read_text(encoding="utf-8"))
    ]
    assert found == [], f"imports of tests/ outside tests/: {found}"


def test_the_check_finds_every_form_of_import() -> None:
    source = """\
import tests
import os, tests.samples
from tests.integration.desk import tails
from tests import samples
from . import tests as local
from .tests import x
import testsuite
from testsuite import y


def later():
    from tests.samples import sample_events
    importlib.import_module("tests.samples")
    __import__("tests")
    importlib.import_module("otcdesk.samples")
"""
    assert imports_of_tests(source) == [1, 2, 3, 4, 12, 13, 14]
