"""Packages are layers: no import cycle between the packages (and top-level modules) of srl_agent, counting imports
inside functions too (a lazy import is still a dependency). A new back edge fails here with the files that make it."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "srl_agent"


def _unit(path: Path) -> str:
    """The layer a file belongs to: its top-level package, or the top-level module itself (srl_agent/reward.py)."""
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def _imported_units(tree: ast.AST) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from srl_agent import swe_mini` imports the package named after `import`.
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == "srl_agent" else [node.module]
        else:
            continue
        out |= {n.split(".")[1] for n in names if n.startswith("srl_agent.")}
    return out


def import_graph() -> dict[str, dict[str, list[str]]]:
    """unit -> {imported unit: [files that import it]}."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(ROOT.rglob("*.py")):
        src = _unit(path)
        for dst in _imported_units(ast.parse(path.read_text(encoding="utf-8"))):
            if dst != src and dst != "__version__":
                graph[src][dst].append(str(path.relative_to(ROOT.parent)))
    return graph


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search with colours)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_between_packages():
    graph = import_graph()
    cycle = find_cycle(graph)
    if cycle:
        edges = [f"{a} -> {b} ({', '.join(graph[a][b][:3])})" for a, b in zip(cycle, cycle[1:], strict=False)]
        raise AssertionError("import cycle between srl_agent packages:\n  " + "\n  ".join(edges))


def test_the_checker_sees_a_cycle():
    # The detector itself: a two-package cycle and a longer one are found, a layered graph is not.
    assert find_cycle({"a": {"b": ["x"]}, "b": {"a": ["y"]}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": [], "c": []}, "b": {"c": []}}) is None


def test_function_level_imports_count():
    tree = ast.parse("def f():\n    from srl_agent.train.config import TrainConfig\n    from srl_agent import swe_mini\n")
    assert _imported_units(tree) == {"train", "swe_mini"}


def test_the_task_set_registry_sits_above_env_evaluate_and_swe_mini():
    # The registry resolves a --bench into tasks and sandboxes with env/, swe_mini/ and evaluate/ (its Sandboxes type);
    # they get the resolved tasks from their caller and must never look a bench up themselves. A lazy import counts.
    graph = import_graph()
    below = ("env", "evaluate", "swe_mini", "sandbox", "agent")
    back = {unit: graph[unit]["tasksets"] for unit in below if "tasksets" in graph.get(unit, {})}
    assert not back, f"these import the task-set registry, which sits above them: {back}"
    assert {"env", "evaluate", "swe_mini"} <= set(graph["tasksets"])  # the order is real: it does use them
