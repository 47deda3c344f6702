"""The floor plan, read from the imports (every `import`, function-local ones too, parsed with `ast`):

    trendfolio_app/   entry points: the `trendfolio` command and the Dagster code location
    jobs/ → assets/   Dagster definitions
    resources/, api/  thin clients / the read-only web layer
    trendfolio/       the domain core: imports none of the folders above

A core module that imports an upper layer, or two folders that import each other, fail here."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Which of our top-level packages each one may import (besides itself).
ALLOWED: dict[str, set[str]] = {
    "trendfolio": set(),
    "resources": {"trendfolio"},
    "api": {"trendfolio"},
    "assets": {"trendfolio", "resources"},
    "jobs": {"trendfolio", "resources", "assets"},
    "trendfolio_app": {"trendfolio", "resources", "assets", "jobs", "api"},
    "airflow_bridge": set(),  # runs in Airflow's image, which has none of our code
}


def imported_modules(source: str, package: str | None = None) -> set[str]:
    """Every module an `import` or `from … import` names, anywhere in the source (relative ones resolved)."""
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and package:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            modules.add(base)
            modules.update(f"{base}.{alias.name}" for alias in node.names)
    return modules


def python_files(top: str) -> list[Path]:
    return sorted((REPO / top).rglob("*.py"))


def package_of(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts if parts[-1] == "__init__" else parts[:-1]).removesuffix(".__init__")


def folder_of_module(module: str) -> str | None:
    """The repository folder a module lives in (trendfolio.sources.yahoo → trendfolio/sources), if it is ours."""
    parts = module.split(".")
    if parts[0] not in ALLOWED:
        return None
    for length in range(len(parts), 0, -1):
        candidate = REPO.joinpath(*parts[:length])
        if candidate.is_dir():
            return "/".join(parts[:length])
        if candidate.with_suffix(".py").is_file():
            return "/".join(parts[:length - 1]) or parts[0]
    return None


def folder_imports() -> dict[str, dict[str, set[str]]]:
    """folder → folder it imports → the files that do it."""
    graph: dict[str, dict[str, set[str]]] = {}
    for top in ALLOWED:
        for path in python_files(top):
            folder = path.parent.relative_to(REPO).as_posix()
            for module in imported_modules(path.read_text(), package_of(path)):
                target = folder_of_module(module)
                if target and target != folder:
                    graph.setdefault(folder, {}).setdefault(target, set()).add(path.relative_to(REPO).as_posix())
    return graph


def cycles(graph: dict[str, dict[str, set[str]]]) -> list[list[str]]:
    """Each folder cycle once, as the path that closes it."""
    found, seen = [], set()

    def visit(node: str, path: list[str]) -> None:
        for target in sorted(graph.get(node, {})):
            if target in path:
                cycle = path[path.index(target):]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    found.append([*cycle, target])
            else:
                visit(target, [*path, target])

    for start in sorted(graph):
        visit(start, [start])
    return found


def test_the_parser_sees_local_and_relative_imports():
    source = "import os\ndef f():\n    from resources.kafka import KafkaResource\n    from . import calendar\n"
    modules = imported_modules(source, "trendfolio")
    assert {"os", "resources.kafka", "resources.kafka.KafkaResource", "trendfolio.calendar"} <= modules
    assert folder_of_module("resources.kafka.KafkaResource") == "resources"
    assert folder_of_module("trendfolio.sources.yahoo") == "trendfolio/sources"
    assert cycles({"a": {"b": {"x"}}, "b": {"a": {"y"}}}) == [["a", "b", "a"]]


def test_every_layer_imports_only_the_layers_below_it():
    wrong = []
    for top, allowed in ALLOWED.items():
        assert (REPO / top).is_dir(), f"{top}/ is gone: update ALLOWED"
        for path in python_files(top):
            for module in imported_modules(path.read_text(), package_of(path)):
                target = module.split(".")[0]
                if target in ALLOWED and target != top and target not in allowed:
                    wrong.append(f"{path.relative_to(REPO)} imports {module}")
    assert not wrong, "imports that point up (or sideways):\n" + "\n".join(sorted(set(wrong)))


def test_no_two_folders_import_each_other():
    graph = folder_imports()
    found = cycles(graph)
    described = [" -> ".join(cycle) + ": " + "; ".join(
        f"{a} -> {b} in {sorted(graph[a][b])}" for a, b in zip(cycle, cycle[1:])) for cycle in found]
    assert not found, "folder import cycles:\n" + "\n".join(described)
