"""Dependencies point inward: the shared core knows no service and no composition root."""

from __future__ import annotations

import ast

import pytest

from tests.servers import ROOT

SERVICES = ("generator", "summariser", "visualiser", "web_app", "function_app", "local_host")


def imported_modules(source: str) -> set[str]:
    """Every module a Python source imports, at any depth (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
            "import_module",
            "__import__",
        ):
            found.update(str(arg.value) for arg in node.args if isinstance(arg, ast.Constant))
    return found


@pytest.mark.parametrize(
    "path", sorted((ROOT / "pipeline").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_no_module_of_the_core_imports_a_service(path) -> None:
    imports = imported_modules(path.read_text(encoding="utf-8"))
    wrong = sorted(name for name in imports if name.split(".")[0] in SERVICES)
    assert wrong == [], f"{path.relative_to(ROOT)} imports {wrong}"


def test_the_check_sees_imports_inside_functions() -> None:
    source = "def f():\n    from visualiser.read_model import ReadModel\n    import importlib\n"
    source += "    importlib.import_module('generator.ingest')\n"
    assert {"visualiser.read_model", "generator.ingest"} <= imported_modules(source)


def test_only_the_composition_roots_know_every_service() -> None:
    for root in ("function_app.py", "web_app.py"):
        imports = imported_modules((ROOT / root).read_text(encoding="utf-8"))
        assert {"generator", "visualiser"} <= {name.split(".")[0] for name in imports}, root
