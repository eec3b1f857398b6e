"""Guards on the shape of the code: no import cycles between modules, no oversized files.

The import graph is read with `ast`, not by importing, so it sees every import: at
module level, inside functions and under ``if TYPE_CHECKING:``. A cycle hidden inside a
function still ties the two modules together, and only waits for a refactoring to move
the import up and break start-up.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Package name -> its folder. plugins/ installs as `voiced_plugins` (see pyproject.toml).
PACKAGES = {"voiced": ROOT / "voiced", "voicectl": ROOT / "voicectl", "voiced_plugins": ROOT / "plugins"}
MAX_LINES = 400

Graph = Mapping[str, Iterable[str]]


def find_modules(packages: Mapping[str, Path]) -> dict[str, Path]:
    """Dotted module name -> source file, for every .py file under each package folder."""
    modules: dict[str, Path] = {}
    for package, folder in packages.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules among `modules` it imports anywhere in its source.

    ``import a.b.c`` and ``from a.b import c`` (c a module) are edges to ``a.b.c`` alone:
    Python runs the parents' __init__ too, but counting that would make every package
    whose __init__ re-exports its submodules look like a cycle. ``from a.b import name``
    (name not a module) is an edge to ``a.b``.
    """
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        # The package relative imports start from: the module's own for an __init__.
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                for alias in node.names:
                    submodule = f"{base}.{alias.name}"
                    targets.add(submodule if submodule in modules else base)
        graph[name] = {target for target in targets if target in modules}
    return graph


def find_cycles(graph: Graph) -> list[list[str]]:
    """The import cycles: each strongly connected component of more than one module, and
    each module that imports itself, as a sorted list of names (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    lowlink: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = lowlink[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                connect(target)
                lowlink[node] = min(lowlink[node], lowlink[target])
            elif target in on_stack:
                lowlink[node] = min(lowlink[node], index[target])
        if lowlink[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(cycles)


def describe(cycle: list[str], graph: Graph) -> str:
    """The cycle's modules and the imports that tie them, for whoever breaks it."""
    edges = [f"{source} -> {target}"
             for source in cycle for target in sorted(graph[source]) if target in cycle]
    return f"{', '.join(cycle)}\n    " + "\n    ".join(edges)


def test_the_cycle_finder_finds_circles_and_only_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c"], ["e"]]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"b", "c"}}) == []


def test_the_graph_sees_every_kind_of_import_but_not_parent_packages(tmp_path: Path) -> None:
    source = {
        "__init__.py": "from .a import A\n",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub.b import B\nA = 1\n",
        "sub/__init__.py": "",
        "sub/b.py": "def late():\n    from .. import a\n    import pkg.sub.c\n",
        "sub/c.py": "from pkg.sub import b\nfrom pkg import A\nimport os\n",
    }
    for name, text in source.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    graph = import_graph(find_modules({"pkg": tmp_path / "pkg"}))
    assert graph == {
        "pkg": {"pkg.a"},
        "pkg.a": {"pkg.sub.b"},
        "pkg.sub": set(),
        "pkg.sub.b": {"pkg.a", "pkg.sub.c"},
        "pkg.sub.c": {"pkg.sub.b", "pkg"},
    }
    assert find_cycles(graph) == [["pkg", "pkg.a", "pkg.sub.b", "pkg.sub.c"]]


def test_no_module_imports_itself_through_others() -> None:
    graph = import_graph(find_modules(PACKAGES))
    cycles = find_cycles(graph)
    assert not cycles, f"{len(cycles)} import cycle(s):\n" + "\n".join(describe(c, graph) for c in cycles)


def test_no_source_file_is_over_the_line_limit() -> None:
    lengths = {path: len(path.read_text().splitlines()) for path in find_modules(PACKAGES).values()}
    oversized = sorted(f"{path.relative_to(ROOT)}: {n} lines" for path, n in lengths.items() if n > MAX_LINES)
    assert not oversized, f"over {MAX_LINES} lines, split them:\n" + "\n".join(oversized)
