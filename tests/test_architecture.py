"""The package's shape: no import cycle, and imports that go one way.

    cli -> features (ingest, digest, telegram, web, ops, roster, signup, worker) -> store, mail -> model, errors

The graph is read from the source with `ast`, so an import inside a function counts as much
as one at the top of a module (it is a cycle waiting for the first call). Run on its own:

    .venv/bin/pytest -q tests/test_architecture.py
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "bhrdigest"

FEATURES = ("digest", "telegram", "web", "ops", "ingest", "roster", "signup", "worker")
# module prefix -> packages it must not import (relative to bhrdigest)
FORBIDDEN = {
    "store": (*FEATURES, "cli"),
    "mail": (*FEATURES, "cli", "store"),
    "model": ("",),  # "": anything of ours
    "errors": ("",),
}


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at `root`."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at any depth of its code."""
    modules = module_files(root)
    top = root.name
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, package)
                for alias in node.names:  # `from pkg import module` imports the module
                    targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
        graph[name] = {t for t in targets if t == top or t.startswith(top + ".")} - {name}
    return graph


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while (member := stack.pop()) != module:
                group.append(member)
            group.append(module)
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def layering_violations(graph: dict[str, set[str]], top: str = "bhrdigest") -> list[str]:
    """Imports that go against the layering, as "importer -> imported (rule)" lines."""

    def within(module: str, package: str) -> bool:
        prefix = f"{top}.{package}" if package else top
        return module == prefix or module.startswith(prefix + ".")

    found = []
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            if within(target, "cli") and not (within(importer, "cli") or importer == f"{top}.__main__"):
                found.append(f"{importer} -> {target} (nothing imports the command line)")
            for layer, banned in FORBIDDEN.items():
                if within(importer, layer) and not within(target, layer):
                    found.extend(
                        f"{importer} -> {target} ({layer} must not import {package or 'anything of ours'})"
                        for package in banned
                        if within(target, package)
                    )
    return found


def test_no_module_of_bhrdigest_takes_part_in_an_import_cycle():
    found = cycles(import_graph(SOURCE))
    assert not found, "import cycles: " + "; ".join(" <-> ".join(group) for group in found)


def test_imports_go_one_way_from_the_command_line_down_to_the_model():
    found = layering_violations(import_graph(SOURCE))
    assert not found, "imports against the layering:\n" + "\n".join(found)


@pytest.fixture
def package(tmp_path):
    """A throwaway `bhrdigest` source tree written from {module path: code}."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "bhrdigest"
        for relative, code in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code)
        return root

    return write


def test_a_cycle_through_an_import_inside_a_function_is_found(package):
    root = package({
        "__init__.py": "",
        "web/__init__.py": "",
        "web/app.py": "def create():\n    from bhrdigest.web import pages\n",
        "web/pages.py": "from .app import create\n",
        "web/other.py": "from bhrdigest.web.app import create\n",
    })
    assert cycles(import_graph(root)) == [["bhrdigest.web.app", "bhrdigest.web.pages"]]


def test_the_store_importing_a_feature_and_anyone_importing_the_cli_are_found(package):
    root = package({
        "__init__.py": "",
        "model.py": "import bhrdigest.errors\n",
        "errors.py": "",
        "cli/__init__.py": "",
        "cli/app.py": "from bhrdigest.store import ledger\n",
        "store/__init__.py": "",
        "store/ledger.py": "from bhrdigest.telegram.format import Alert\nfrom bhrdigest import model\n",
        "telegram/__init__.py": "",
        "telegram/format.py": "from bhrdigest.cli.app import main\n",
    })
    assert layering_violations(import_graph(root)) == [
        "bhrdigest.model -> bhrdigest.errors (model must not import anything of ours)",
        "bhrdigest.store.ledger -> bhrdigest.telegram.format (store must not import telegram)",
        "bhrdigest.telegram.format -> bhrdigest.cli.app (nothing imports the command line)",
    ]
