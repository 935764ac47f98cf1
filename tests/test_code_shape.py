"""The package's shape, checked: no import cycle (lazy imports included) and no print in library code."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("clausetag", "training", "inference", "data", "models")
#: Functions that write a command's own output (its result on stdout, its status on stderr).
COMMAND_OUTPUT = {"main", "run", "_say", "_report", "_validate", "_stats"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for file in (REPO / package).rglob("*.py"):
            parts = list(file.relative_to(REPO).with_suffix("").parts)
            parts = parts if parts[0] == "clausetag" else ["clausetag", *parts]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return found


def _imports(file: Path, known: set[str]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        out |= {n for n in names if n in known}
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_even_through_lazy_imports() -> None:
    modules = _modules()
    graph = {m: _imports(f, set(modules)) - {m} for m, f in modules.items()}
    assert sum(map(len, graph.values())) > 100  # the walk sees the imports
    assert _cycles(graph) == []


def _prints_outside_commands(node: ast.AST, where: str = "") -> list[tuple[int, str]]:
    """(line, function) of each ``print`` call not in a command's own output function."""
    found = []
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) else where
        is_print = (
            isinstance(child, ast.Call) and isinstance(child.func, ast.Name) and child.func.id == "print"
        )
        if is_print and not (where in COMMAND_OUTPUT or where.endswith("_main")):
            found.append((child.lineno, where or "the module"))
        found += _prints_outside_commands(child, inner)
    return found


def test_library_code_logs_and_only_commands_print() -> None:
    printing = [
        f"{file.relative_to(REPO)}:{line} in {where}"
        for file in _modules().values()
        for line, where in _prints_outside_commands(ast.parse(file.read_text(encoding="utf-8")))
    ]
    assert printing == []


def test_importing_a_module_first_says_nothing() -> None:
    """Each entry point imported first in a fresh interpreter: no warning on stderr (e.g. a transformers
    registration that ran while one of our modules was half-initialised)."""
    import subprocess
    import sys

    for module in (
        "clausetag.training.args",
        "clausetag.training.train",
        "clausetag.inference",
        "clausetag.models.modeling",
    ):
        done = subprocess.run(
            [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120, cwd=REPO
        )
        assert (module, done.returncode, done.stderr) == (module, 0, "")
