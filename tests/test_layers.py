"""Layers only look down: no package imports one later in the data's journey, and no cycle.

The order is synth -> data -> models -> checkpoint -> train -> evaluate -> experiment -> infer -> explain ->
report -> serve, with the bottom modules (errors, io, spec, metrics, runtime, config) below them all
and applications (the CLI, studies, the public API in api.py) on top; a stage's CLI module
(``*/commands.py``) may import the API it is a thin layer over. Every import is counted, also the ones inside
functions: a late import against the flow is still a dependency against it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "actionlab"

# Rank of each top-level part; a module may import parts of its own rank or lower.
BOTTOM = {"__init__": 0, "errors": 0, "io": 1, "spec": 1, "runtime": 1, "machine": 1,
          "metrics": 1, "config": 2}
# checkpoint rebuilds models through the registry and sits right above them, below train.
STAGES = {"synth": 4, "data": 5, "models": 6, "checkpoint": 6.5, "train": 7, "evaluate": 8,
          "experiment": 8.5, "infer": 9, "explain": 10, "report": 11, "serve": 12}
TOP = {"studies": 13, "demo": 13, "slip_study": 13, "api": 13, "cli": 14}
RANK = {**BOTTOM, **STAGES, **TOP}


def _part(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "actionlab":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _own_part(path: Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    return rel.parts[0]


def imports(path: Path) -> set[str]:
    """Every ``actionlab.*`` module a file imports (anywhere in the file)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return {m for m in found if m.startswith("actionlab")}


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        own = _own_part(path)
        for module in imports(path):
            part = _part(module)
            if part == "api" and path.name == "commands.py":
                continue  # a CLI module is a client of the public API (STYLE.md example 11)
            if part and part != own and part in RANK:
                edges.setdefault(own, set()).add(part)
    return edges


def test_every_part_is_ranked() -> None:
    parts = {_own_part(p) for p in SRC.rglob("*.py")}
    assert parts <= set(RANK), f"rank these in tests/test_layers.py: {parts - set(RANK)}"


def test_no_import_against_the_data_flow() -> None:
    bad = sorted(f"{a} imports {b}" for a, targets in _edges().items() for b in targets
                 if RANK[b] > RANK[a])
    assert not bad, "imports against the data's journey: " + "; ".join(bad)


def test_no_package_cycle() -> None:
    edges = _edges()
    seen: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> list[str] | None:
        seen[node] = 1
        for nxt in edges.get(node, ()):
            if seen.get(nxt) == 1:
                return [*stack, node, nxt]
            if nxt not in seen and (cycle := visit(nxt, [*stack, node])):
                return cycle
        seen[node] = 2
        return None

    for start in list(edges):
        if start not in seen and (cycle := visit(start, [])):
            raise AssertionError("package cycle: " + " -> ".join(cycle))


def test_the_checker_finds_a_backward_import(tmp_path: Path) -> None:
    """The parser sees late imports inside functions too."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from actionlab.report.plots import save_png\n")
    assert "actionlab.report.plots" in imports(f)
