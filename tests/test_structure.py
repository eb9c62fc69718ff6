"""The package's shape: no private name imported across modules, no import cycle, short modules.

Every import statement of every module counts, the ones inside functions too (a lazy import
hides a cycle; it does not remove it). Read with `ast`, nothing is imported or run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import rnnlab

PACKAGE = Path(rnnlab.__file__).parent
MAX_LINES = 600
#: a module longer than MAX_LINES says why in its docstring, in a paragraph starting so
LONG_MODULE_NOTE = "Why this module is long:"


def module_files(root: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name → file, for every .py file under root (packages as their name)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def extension_modules(root: Path = PACKAGE) -> set[str]:
    """Compiled modules (e.g. rnnlab._kernels), which import nothing of the package."""
    found = set()
    for path in [*root.rglob("*.so"), *root.rglob("*.pyd")]:
        parts = path.relative_to(root.parent).parts
        found.add(".".join([*parts[:-1], path.name.split(".")[0]]))
    return found


def imports_of(name: str, path: Path, modules: set[str]) -> list[tuple[int, str, str | None]]:
    """(line, imported module, imported name or None) for every import of a package module.

    `from a.b import c` is an import of module a.b.c when that is a module, else of name c
    from module a.b."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name, None)
                for a in node.names
                if a.name.split(".")[0] == PACKAGE.name
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] != PACKAGE.name:
                continue
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                if submodule in modules:
                    found.append((node.lineno, submodule, None))
                else:
                    found.append((node.lineno, source, alias.name))
    return found


def import_graph(root: Path = PACKAGE):
    """(edges: module → set of modules it imports, private: list of offending imports)."""
    files = module_files(root)
    modules = set(files) | extension_modules(root)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    private = []
    for name, path in files.items():
        for line, source, imported in imports_of(name, path, modules):
            edges[name].add(source)
            if (
                imported is not None
                and imported.startswith("_")
                and not (imported.startswith("__") and imported.endswith("__"))
            ):
                private.append(
                    f"{path.relative_to(root.parent)}:{line}: from {source} import {imported}"
                )
    return edges, private


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in edges:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in edges[v]:
                cycles.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return cycles


# -- the package -----------------------------------------------------------------------------
def test_no_private_name_is_imported_from_another_module():
    _, private = import_graph()
    assert not private, "private names imported across modules:\n" + "\n".join(private)


def test_no_import_cycle_among_the_packages_modules():
    edges, _ = import_graph()
    assert len(edges) > 50  # the walk found the package
    assert "rnnlab.model" in edges["rnnlab.training.tbptt"]
    cycles = find_cycles(edges)
    assert not cycles, f"import cycles: {cycles}"


def test_modules_are_short_or_say_why():
    long = []
    for path in module_files().values():
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        if n > MAX_LINES and LONG_MODULE_NOTE not in (ast.get_docstring(ast.parse(text)) or ""):
            long.append(f"{path.relative_to(PACKAGE.parent)}: {n} lines")
    assert not long, (
        f"modules over {MAX_LINES} lines whose docstring does not say {LONG_MODULE_NOTE!r}: {long}"
    )


# -- the checks themselves fail on what they look for ------------------------------------------
def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "rnnlab"
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(
    "statement",
    [
        "from .losses import _log_softmax",
        "from rnnlab.losses import EPSILON, _log_softmax",
        "from ..losses import _log_softmax",
    ],
)
def test_a_reintroduced_private_import_is_caught(tmp_path, statement):
    where = "metrics.py" if ".." not in statement else "callbacks/base.py"
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "losses.py": "EPSILON = 1\n",
            "callbacks/__init__.py": "",
            where: f"{statement}\n",
        },
    )
    _, private = import_graph(root)
    assert len(private) == 1 and "_log_softmax" in private[0], private


def test_private_modules_dunders_and_submodules_are_not_private_names(tmp_path):
    root = _tree(
        tmp_path,
        {
            "__init__.py": "from . import _validation\n__version__ = '1'\n",
            "_validation.py": "def describe(x): ...\n",
            "cli.py": "from . import __version__\nfrom ._validation import describe\n",
        },
    )
    _, private = import_graph(root)
    assert private == []


def test_a_reintroduced_cycle_is_caught_even_through_a_lazy_import(tmp_path):
    root = _tree(
        tmp_path,
        {
            "__init__.py": "",
            "model.py": "from .io import save_model\n",
            "io.py": "def load():\n    from .model import Sequential\n",
        },
    )
    edges, _ = import_graph(root)
    assert find_cycles(edges) == [["rnnlab.io", "rnnlab.model"]]
    root = _tree(
        tmp_path / "b",
        {"__init__.py": "", "model.py": "from .io import save_model\n", "io.py": "import json\n"},
    )
    edges, _ = import_graph(root)
    assert find_cycles(edges) == []
