"""The package's import graph stays a tree of layers: no module imports itself back through
others, no two domains import each other, and ``kit`` (plumbing) imports no domain. Only
imports that run count: those under ``if TYPE_CHECKING:`` name types for the checker."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import tokenomist

ROOT = Path(tokenomist.__file__).parent
DOMAINS = {
    "alerts",
    "analyst",
    "auth",
    "discovery",
    "health",
    "realtime",
    "stack",
    "usage",
    "verify",
    "web",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_imports(path: Path, name: str, modules: set[str]) -> Iterator[str]:
    """What ``name`` imports when it runs. ``from pkg import x`` is an edge to ``pkg.x`` when
    that is a module (Python initialises ``pkg`` first whatever imports it, so a submodule
    taking a sibling from its own package is no cycle) and to ``pkg`` otherwise."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    stack: list[ast.AST] = [ast.parse(path.read_text())]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                yield submodule if submodule in modules else base
        stack.extend(ast.iter_child_nodes(node))


def _graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports at run time."""
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    return {
        name: {m for m in _runtime_imports(path, name, set(modules)) if m in modules and m != name}
        for name, path in modules.items()
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


def _domain(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_imports_itself_back() -> None:
    assert _cycles(_graph()) == []


def test_no_two_domains_import_each_other() -> None:
    edges = {
        (_domain(a), _domain(b))
        for a, deps in _graph().items()
        for b in deps
        if _domain(a) in DOMAINS and _domain(b) in DOMAINS and _domain(a) != _domain(b)
    }
    assert sorted((a, b) for a, b in edges if (b, a) in edges) == []


def test_kit_imports_no_domain_at_run_time() -> None:
    upward = sorted(
        f"{a} -> {b}"
        for a, deps in _graph().items()
        if _domain(a) == "kit"
        for b in deps
        if _domain(b) in DOMAINS
    )
    assert upward == []


def test_the_checker_sees_a_planted_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
