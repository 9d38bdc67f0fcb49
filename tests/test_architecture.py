"""The dependency rules of the layout, checked on the real imports (parsed, never run).

The README's Architecture section and /work/shared/design.md promise a shape:
protocol, bench, trust and federated import nothing of node or testnet; node
imports nothing of testnet; node's parts do not import each other in a circle
(not even through ``TYPE_CHECKING`` or function-level imports); private
``_names`` stay inside their package; testnet drives nodes only through the
public client, the CLI and the documented extension point
``peermind.node.extension``; the daemon imports no HTTP (api) module, and only the
composition root (``node run``) imports the daemon. Text that promises a shape
goes stale silently, so these tests read every source file with ``ast`` and
fail naming the offending imports.

``python tests/test_architecture.py`` prints the counts (used in issue 13's
before/after report).
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "peermind"
TOP_LEVEL = ("protocol", "bench", "trust", "federated", "node", "testnet")
NODE = f"{NAMESPACE}.node"
# Packages below node/testnet in the one-way direction rule.
LOWER = ("protocol", "bench", "trust", "federated")
# What testnet may import of node: its public client, its CLI and the extension point
# for test peers and benchmarks (whose names must be in its __all__).
EXTENSION = f"{NODE}.extension"
TESTNET_MAY_IMPORT = (f"{NODE}.client", f"{NODE}.cli", EXTENSION)


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to a module and, if any, a name."""

    importer: str
    module: str
    name: str | None
    line: int
    module_level: bool  # executed on import (not in a function, not under TYPE_CHECKING)


def _module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for folder in TOP_LEVEL:
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((NAMESPACE, *parts))] = path
    return modules


MODULES = _module_files()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(body: list[ast.stmt], module_level: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Yield import statements with whether they run when the module is imported."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, module_level
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _walk(node.body, False)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _walk(node.body, False)
            yield from _walk(node.orelse, module_level)
        else:
            for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from _walk([c for c in children if isinstance(c, ast.AST)], module_level)


def _resolve_from(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(importer: str) -> list[Import]:
    """Every import in one of our modules that targets one of our modules."""
    path = MODULES[importer]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []
    for node, module_level in _walk(tree.body, True):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(NAMESPACE + "."):
                    found.append(Import(importer, alias.name, None, node.lineno, module_level))
            continue
        target = _resolve_from(importer, is_package, node)
        if not target.startswith(NAMESPACE + "."):
            continue
        for alias in node.names:
            submodule = f"{target}.{alias.name}"
            if submodule in MODULES:
                found.append(Import(importer, submodule, None, node.lineno, module_level))
            else:
                found.append(Import(importer, target, alias.name, node.lineno, module_level))
    return found


ALL_IMPORTS = [imp for module in MODULES for imp in imports_of(module)]


def _top(module: str) -> str:
    return module.split(".")[1]


def _node_part(module: str) -> str | None:
    """node's part a module belongs to: its subpackage or top-level module."""
    parts = module.split(".")
    if parts[:2] != [NAMESPACE, "node"] or len(parts) < 3:
        return None
    return parts[2]


def _package_of(module: str) -> str:
    return module if MODULES[module].name == "__init__.py" else module.rsplit(".", 1)[0]


def _private_owner(imp: Import) -> str | None:
    """The package a private module or name belongs to, or None if it is public."""
    parts = imp.module.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:index])
    if imp.name and imp.name.startswith("_") and not imp.name.startswith("__"):
        return _package_of(imp.module) if imp.module in MODULES else imp.module
    return None


def _describe(imp: Import) -> str:
    what = f"{imp.module}.{imp.name}" if imp.name else imp.module
    return f"{MODULES[imp.importer].relative_to(ROOT)}:{imp.line} imports {what}"


def node_part_cycles(imports: list[Import] = ALL_IMPORTS) -> list[list[str]]:
    """Strongly connected groups (size > 1) of node's parts under module-level imports."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        source, target = _node_part(imp.importer), _node_part(imp.module)
        if imp.module_level and source and target and source != target:
            graph.setdefault(source, set()).add(target)
            graph.setdefault(target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def visit(vertex: str) -> None:  # Tarjan's algorithm
        index[vertex] = low[vertex] = len(index)
        stack.append(vertex)
        for nxt in sorted(graph[vertex]):
            if nxt not in index:
                visit(nxt)
                low[vertex] = min(low[vertex], low[nxt])
            elif nxt in stack:
                low[vertex] = min(low[vertex], index[nxt])
        if low[vertex] == index[vertex]:
            group: list[str] = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == vertex:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for vertex in sorted(graph):
        if vertex not in index:
            visit(vertex)
    return groups


def cycle_edges(group: list[str], imports: list[Import] = ALL_IMPORTS) -> list[str]:
    """The module-level imports that hold a group of node's parts in a cycle."""
    members = set(group)
    return [
        _describe(imp)
        for imp in imports
        if imp.module_level
        and _node_part(imp.importer) in members
        and _node_part(imp.module) in members
        and _node_part(imp.importer) != _node_part(imp.module)
    ]


def private_cross_package() -> list[str]:
    found = []
    for imp in ALL_IMPORTS:
        owner = _private_owner(imp)
        if owner and not (imp.importer == owner or imp.importer.startswith(owner + ".")):
            found.append(_describe(imp))
    return found


def node_internals_used_by_testnet() -> list[str]:
    return [
        _describe(imp)
        for imp in ALL_IMPORTS
        if _top(imp.importer) == "testnet"
        and _top(imp.module) == "node"
        and imp.module not in TESTNET_MAY_IMPORT
    ]


def _declared_all(module: str) -> set[str]:
    if module not in MODULES:
        return set()
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return {elt.value for elt in ast.walk(node.value) if isinstance(elt, ast.Constant)}
    return set()


def undeclared_extension_names() -> list[str]:
    """Names testnet takes from the extension point that it does not document."""
    declared = _declared_all(EXTENSION)
    return [_describe(imp) for imp in ALL_IMPORTS
            if _top(imp.importer) == "testnet" and imp.module == EXTENSION and imp.name not in declared]


def daemon_api_imports() -> list[str]:
    """The daemon's imports of the HTTP layer (lazy ones included): there must be none."""
    return [_describe(imp) for imp in ALL_IMPORTS
            if imp.importer == f"{NODE}.daemon" and _node_part(imp.module) == "api"]


# The composition root builds the daemon; the extension point hands its class to test peers.
DAEMON_IMPORTERS = (f"{NODE}.cli", EXTENSION)


def daemon_importers() -> list[str]:
    """Parts that import the daemon (even for type hints): each should get a typed port instead."""
    return [_describe(imp) for imp in ALL_IMPORTS
            if imp.module == f"{NODE}.daemon" and _top(imp.importer) == "node"
            and imp.importer not in (f"{NODE}.daemon", *DAEMON_IMPORTERS)]


def direction_violations() -> list[str]:
    found = []
    for imp in ALL_IMPORTS:
        source, target = _top(imp.importer), _top(imp.module)
        if (source in LOWER and target in ("node", "testnet")) or (
            source == "node" and target == "testnet"
        ):
            found.append(_describe(imp))
    return found


def top_level_dependencies() -> dict[str, set[str]]:
    """Which top-level folders each one imports (any import, lazy ones included)."""
    deps: dict[str, set[str]] = {top: set() for top in TOP_LEVEL}
    for imp in ALL_IMPORTS:
        source, target = _top(imp.importer), _top(imp.module)
        if source != target:
            deps[source].add(target)
    return deps


def test_the_analyzer_sees_the_code() -> None:
    """Guard against a vacuous pass: the parse finds modules and resolves relative imports."""
    assert f"{NODE}.daemon" in MODULES and f"{NAMESPACE}.protocol" in MODULES
    assert any(imp.importer == f"{NODE}.daemon" and imp.module == f"{NODE}.store"
               for imp in ALL_IMPORTS)


def test_analyzer_finds_a_planted_cycle_and_private_import() -> None:
    """The rules catch what they claim to: the import cycle and private import issue 13 found."""
    source = "from ..api.app import _json_body\nif TYPE_CHECKING:\n    from ..daemon import Node\n"
    tree = ast.parse(source)
    found = [(n, level) for n, level in _walk(tree.body, True)]
    assert [level for _, level in found] == [True, False]
    first = found[0][0]
    assert isinstance(first, ast.ImportFrom)
    target = _resolve_from(f"{NODE}.collab.http", False, first)
    assert target == f"{NODE}.api.app"
    imp = Import(f"{NODE}.collab.http", target, "_json_body", 1, True)
    assert _private_owner(imp) == f"{NODE}.api"
    back = Import(f"{NODE}.api.app", f"{NODE}.collab.answer", "Answer", 1, True)
    lazy = Import(f"{NODE}.daemon", f"{NODE}.api.server", "serve_api", 1, False)
    assert node_part_cycles([imp, back]) == [["api", "collab"]]
    assert node_part_cycles([imp, back, lazy]) == [["api", "collab"]]
    assert node_part_cycles([back, lazy]) == []


def test_lower_packages_import_nothing_of_node_or_testnet() -> None:
    assert direction_violations() == []


def test_no_module_level_cycle_between_node_parts() -> None:
    cycles = node_part_cycles()
    assert cycles == [], "\n".join(
        f"cycle {' <-> '.join(group)}:\n  " + "\n  ".join(cycle_edges(group)) for group in cycles
    )


def test_no_cycle_between_node_parts_even_in_type_hints_or_lazy_imports() -> None:
    """Nothing reaches back up: not even a ``TYPE_CHECKING`` import of the daemon closes a loop."""
    every = [dataclasses.replace(imp, module_level=True) for imp in ALL_IMPORTS]
    cycles = node_part_cycles(every)
    assert cycles == [], "\n".join(
        f"cycle {' <-> '.join(group)}:\n  " + "\n  ".join(cycle_edges(group, every)) for group in cycles
    )


def test_no_private_import_across_packages() -> None:
    assert private_cross_package() == []


def test_testnet_uses_node_only_through_client_cli_and_extension_point() -> None:
    assert node_internals_used_by_testnet() == []
    assert undeclared_extension_names() == []


def test_the_daemon_imports_no_http_layer() -> None:
    assert daemon_api_imports() == []


def test_only_the_composition_root_imports_the_daemon() -> None:
    """No part receives the whole daemon: api/, training/, ... declare typed ports it satisfies."""
    assert daemon_importers() == []


def test_every_extension_name_resolves() -> None:
    """The extension point's lazy table points at real names (a rename in node fails here)."""
    import peermind.node.extension as extension

    assert set(extension.__all__) == _declared_all(EXTENSION)
    for name in extension.__all__:
        assert getattr(extension, name) is not None, name


# --- the README's picture of node/, generated from the imports -------------------------------

README = ROOT / "README.md"
GRAPH_BEGIN = "<!-- node-graph: generated by `python tests/test_architecture.py --graph` -->"
GRAPH_END = "<!-- /node-graph -->"
# Leaf modules nearly every part uses; listing them on every line would hide the shape.
SHARED_LEAVES = ("errors", "events", "json_types", "labelled_rows", "logs", "lazy", "progress")


def node_part_graph(imports: list[Import] = ALL_IMPORTS) -> dict[str, set[str]]:
    """node part -> the other node parts it imports (any import: lazy and type-only ones too)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        source, target = _node_part(imp.importer), _node_part(imp.module)
        if source:
            graph.setdefault(source, set())
            if target and target != source:
                graph[source].add(target)
    return graph


def lower_dependencies(imports: list[Import] = ALL_IMPORTS) -> dict[str, set[str]]:
    """node part -> the lower packages (protocol, trust, federated, bench) it imports."""
    deps: dict[str, set[str]] = {}
    for imp in imports:
        source = _node_part(imp.importer)
        if source and _top(imp.module) in LOWER:
            deps.setdefault(source, set()).add(_top(imp.module))
    return deps


def graph_text() -> str:
    """The README block: one line per node part, what it imports (shared leaves apart)."""
    graph, lower = node_part_graph(), lower_dependencies()
    lines = []
    for part in sorted(graph, key=lambda p: (p in SHARED_LEAVES, p)):
        inner = sorted(graph[part] - set(SHARED_LEAVES))
        leaves = sorted(graph[part] & set(SHARED_LEAVES))
        below = sorted(lower.get(part, ()))
        parts = [", ".join(inner) or "-"]
        if leaves:
            parts.append(f"(+ {', '.join(leaves)})")
        if below:
            parts.append(f"[{', '.join(below)}]")
        lines.append(f"  {part:<14} ─► {' '.join(parts)}")
    return "\n".join(lines)


def readme_graph_claims() -> dict[str, set[str]]:
    """The node-part edges the README's generated block claims."""
    text = README.read_text(encoding="utf-8")
    if GRAPH_BEGIN not in text:
        return {}
    block = text.split(GRAPH_BEGIN, 1)[1].split(GRAPH_END, 1)[0]
    claims: dict[str, set[str]] = {}
    for line in block.splitlines():
        if "─►" not in line:
            continue
        part, rest = (x.strip() for x in line.split("─►", 1))
        names = rest.split("[", 1)[0].replace("(+", ",").replace(")", ",")
        claims[part] = {n.strip() for n in names.split(",") if n.strip() and n.strip() != "-"}
    return claims


def test_readme_graph_claims_only_real_imports() -> None:
    """Every edge the README draws between node's parts is an import in the code."""
    graph = node_part_graph()
    claims = readme_graph_claims()
    assert claims, "README.md lost its generated node graph"
    false = {part: sorted(targets - graph.get(part, set())) for part, targets in claims.items()}
    assert not {p: t for p, t in false.items() if t}, f"README claims imports that do not exist: {false}"


# --- docstrings on node's public functions and classes ---------------------------------------

DOCSTRING_DEBT = Path(__file__).with_name("architecture_docstring_debt.txt")


def _public_module(module: str) -> bool:
    return not any(part.startswith("_") and not part.startswith("__") for part in module.split("."))


def undocumented_public() -> list[str]:
    """``module:qualname`` of public functions, methods and classes in node/ without a docstring."""
    found: list[str] = []

    def visit(module: str, body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if node.name.startswith("_"):
                    continue
                name = f"{prefix}{node.name}"
                if ast.get_docstring(node) is None:
                    found.append(f"{module}:{name}")
                if isinstance(node, ast.ClassDef):
                    visit(module, node.body, name + ".")

    for module, path in MODULES.items():
        if _top(module) == "node" and _public_module(module):
            visit(module, ast.parse(path.read_text(encoding="utf-8")).body, "")
    return sorted(found)


def docstring_debt() -> set[str]:
    """The public names that had no docstring when the check was added (to be paid down)."""
    lines = DOCSTRING_DEBT.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_new_public_code_in_node_has_docstrings() -> None:
    """A public function or class added to node/ says why it exists (the listed debt shrinks only)."""
    new = [name for name in undocumented_public() if name not in docstring_debt()]
    assert new == [], "add a docstring to: " + ", ".join(new)


def test_the_docstring_check_sees_a_missing_docstring() -> None:
    """Guard against a vacuous pass: the scan reports a public class and method with no docstring."""
    assert all(name.startswith(f"{NODE}.") and ":" in name for name in undocumented_public())
    tree = ast.parse("class Thing:\n    def run(self): pass\n    def _hidden(self): pass\n")
    names = [n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)
             and not n.name.startswith("_") and ast.get_docstring(n) is None]
    assert names == ["Thing", "run"]


if __name__ == "__main__":
    import sys

    if "--graph" in sys.argv:
        print(graph_text())
        raise SystemExit(0)
    if "--docstring-debt" in sys.argv:
        print("\n".join(undocumented_public()))
        raise SystemExit(0)
    cycles = node_part_cycles()
    print("module-level cycles between node parts:", len(cycles))
    for group in cycles:
        print("  ", " <-> ".join(group))
        for edge in cycle_edges(group):
            print("     ", edge)
    for title, rows in (
        ("private cross-package imports", private_cross_package()),
        ("testnet -> node internal imports", node_internals_used_by_testnet()),
        ("testnet names missing from the extension point's __all__", undeclared_extension_names()),
        ("daemon -> api imports", daemon_api_imports()),
        ("imports of the daemon outside cli and the extension point", daemon_importers()),
        ("direction violations", direction_violations()),
    ):
        print(f"{title}: {len(rows)}")
        for row in rows:
            print("  ", row)
    print(f"public functions/classes in node/ without a docstring: {len(undocumented_public())}")
    for top, deps in top_level_dependencies().items():
        print(f"{top} imports: {', '.join(sorted(deps)) or 'nothing of ours'}")
