"""The package's import graph: no module imports itself back, not even lazily.

Package `__init__`s that only re-export (lazily or not) are left out: a cycle through them
is the package naming its own members, not two modules depending on each other.
"""

import ast
import os

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                       "glomo_tf")


def _modules():
    modules = {}
    for directory, _, files in os.walk(PACKAGE):
        for file in files:
            if file.endswith(".py") and file != "__init__.py":
                path = os.path.join(directory, file)
                relative = os.path.relpath(path[:-3], os.path.dirname(PACKAGE))
                modules[relative.replace(os.sep, ".")] = path
    return modules


def _import_graph(modules):
    graph = {}
    for name, path in modules.items():
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
        imported = set()
        for node in ast.walk(tree):  # function-level (lazy) imports count too
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        graph[name] = sorted(m for m in imported if m in modules and m != name)
    return graph


def _a_cycle(graph):
    state, path = {}, []

    def visit(node):
        state[node] = "open"
        path.append(node)
        for target in graph[node]:
            if state.get(target) == "open":
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[node] = "done"
        path.pop()
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycles_between_modules():
    graph = _import_graph(_modules())
    assert "glomo_tf.tuning.search_space" in graph["glomo_tf.tuning.transfer_hypermodel"]
    cycle = _a_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert _a_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert _a_cycle({"a": ["b"], "b": [], "c": ["a", "b"]}) is None
