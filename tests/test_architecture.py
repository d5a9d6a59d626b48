"""The import arrows of docs/architecture.md, checked on the source (every module parsed with ``ast``):

- ``engine/`` and ``trackers/`` never import the GUI: no ``app`` or ``PyQt5`` import, and no string naming
  such a module either (``importlib.import_module("app.gui_bench")`` hides an arrow from import graphs);
- ``trackers/`` never imports torch or engine (it runs with numpy and lap alone);
- the backend rooms never import ``engine.bench`` or ``engine.cli`` (by import or by string): benchmarks
  and commands sit on top of the backend, never under it.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BACKEND = ("engine/pose", "engine/a2v", "engine/io", "engine/render", "engine/weights", "engine/training",
           "engine/stages", "engine/pipeline.py", "engine/types.py", "engine/config.py", "engine/vocab.py",
           "engine/device.py", "engine/paths.py", "engine/cvcompat.py")
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, module: str, is_package: bool = False) -> list[tuple[int, str, str]]:
    """``(line, name, how)`` for every module ``source`` imports (``how``: "import" or "string").

    Relative imports are resolved against ``module``; a string constant that looks like a dotted module
    name counts too (docstrings are prose and are skipped)."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, "import") for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base, "import"))
            found += [(node.lineno, f"{base}.{alias.name}", "import") for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            if _MODULE_NAME.match(node.value):
                found.append((node.lineno, node.value, "string"))
    return found


def _hits(rooms, forbidden: tuple[str, ...], strings: bool = True) -> list[str]:
    problems = []
    for room in rooms:
        base = ROOT / room
        files = [base] if base.suffix == ".py" else sorted(base.rglob("*.py"))
        for path in files:
            names = imported_names(path.read_text(encoding="utf-8"), _module_of(path), path.name == "__init__.py")
            for line, name, how in names:
                if how == "string" and not strings:
                    continue
                if any(name == f or name.startswith(f + ".") for f in forbidden):
                    problems.append(f"{path.relative_to(ROOT)}:{line}: {how} {name}")
    return problems


def test_engine_and_trackers_never_name_the_gui():
    assert _hits(("engine", "trackers"), ("app", "PyQt5", "pyqtgraph")) == []


def test_trackers_never_import_torch_or_engine():
    assert _hits(("trackers",), ("torch", "torchvision", "engine"), strings=False) == []


def test_backend_rooms_never_import_bench_or_cli():
    for room in BACKEND:
        assert (ROOT / room).exists(), f"{room} moved: update BACKEND here and in docs/architecture.md"
    assert _hits(BACKEND, ("engine.bench", "engine.cli")) == []


@pytest.mark.parametrize("snippet, module, expected", [
    ("import app.gui_bench", "engine.x", "app.gui_bench"),
    ("from PyQt5 import QtCore", "engine.x", "PyQt5"),
    ("importlib.import_module('app.gui_bench')", "engine.bench.cli", "app.gui_bench"),
    ("from ..cli import common", "engine.render.annotate", "engine.cli"),
    ("from . import common", "engine.cli.run", "engine.cli.common"),
])
def test_the_checker_sees_each_kind_of_arrow(snippet, module, expected):
    """The checker itself: imports, from-imports, relative imports and module names in strings."""
    names = {name for _, name, _ in imported_names(snippet, module)}
    assert expected in names, names


def test_the_checker_skips_docstrings():
    source = '"""app"""\ndef f():\n    "PyQt5"\n    return 1\n'
    assert imported_names(source, "engine.x") == []
