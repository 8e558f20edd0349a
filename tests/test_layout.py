"""The package reads like its data flow: no module imports, even only for type checking, a module that imports it
back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pytest_finetunebench"


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``TYPE_CHECKING`` imports included; ``from . import x`` is x)."""
    modules = {
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in PACKAGE.rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package
                for _ in range(max(node.level - 1, 0)):
                    base = base.rpartition(".")[0]
                target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
                submodules = {f"{target}.{a.name}" for a in node.names} & modules.keys()
                deps |= submodules or ({target} & modules.keys())
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names} & modules.keys()
        graph[name] = deps - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
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

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_in_the_package():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package -> the packages its modules import (``pkg.grading.judge`` counts as ``pkg.grading``;
    a top-level module such as ``pkg.plugin`` is its own node)."""

    def package(module: str) -> str:
        return ".".join(module.split(".")[:2])

    out: dict[str, set[str]] = {}
    for module, deps in graph.items():
        out.setdefault(package(module), set()).update(package(d) for d in deps)
    return {p: deps - {p} for p, deps in out.items()}


def test_dependencies_between_packages_point_one_way():
    """cases -> providers -> grading -> run -> reporting: no package imports one that imports it back."""
    assert cycles(package_graph(import_graph())) == []


def test_a_cycle_between_packages_is_found_though_no_module_imports_itself_back():
    graph = {
        "p.run.tune": {"p.providers.base"},
        "p.grading.judge": {"p.run.tune"},
        "p.run.answer": {"p.grading.grade"},
        "p.grading.grade": set(),
        "p.providers.base": set(),
    }
    assert cycles(graph) == []  # module by module there is none
    assert cycles(package_graph(graph)) == [["p.grading", "p.run"]]


# a guard against a module nobody can read at one sitting, not a length to cut at: modules are cut where
# their concept ends (each one's first docstring line says what it is about; the test below)
MAX_LINES = 600


def test_no_source_file_is_longer_than_one_sitting():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_every_package_says_what_it_owns():
    silent = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("__init__.py")
        if ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) is None
    ]
    assert silent == []


def test_the_wheel_lists_every_package():
    """pyproject.toml names the packages (the suites come from the top-level cases/): none forgotten."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    setuptools = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"
    ]
    found = {".".join(p.parent.relative_to(PACKAGE.parent).parts) for p in PACKAGE.rglob("__init__.py")}
    assert set(setuptools["packages"]) == found | {"pytest_finetunebench.suites"}
    assert setuptools["package-dir"]["pytest_finetunebench.suites"] == "cases"
    assert (PACKAGE.parents[1] / "cases" / "__init__.py").is_file()


def test_every_module_says_in_its_first_line_what_it_is_about():
    silent = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if not (ast.get_docstring(ast.parse(p.read_text(encoding="utf-8"))) or "").strip()
    ]
    assert silent == []


def test_reporting_reads_records_without_a_provider_or_recipe_module():
    """A record's labels (stages, targets, recipes) come from items.py, the shared vocabulary."""
    graph = import_graph()
    reached = {
        module: sorted(
            d for d in deps if d.startswith(("pytest_finetunebench.providers", "pytest_finetunebench.run.recipes"))
        )
        for module, deps in graph.items()
        if module.startswith("pytest_finetunebench.reporting")
    }
    assert {module: deps for module, deps in reached.items() if deps} == {}


def family_prefixes(stems: list[str]) -> list[str]:
    """Module names that carry a family's prefix (``local_train`` beside ``local``, or ``openai_api`` beside
    ``openai_jobs``): a family that should be a package."""
    stems = [stem for stem in stems if not stem.startswith("_")]  # __init__, __main__, __pycache__
    prefixes = [stem.partition("_")[0] for stem in stems if "_" in stem]
    return sorted(
        stem
        for stem in stems
        if "_" in stem and ((prefix := stem.partition("_")[0]) in stems or prefixes.count(prefix) > 1)
    )


def test_no_module_is_named_with_its_familys_prefix():
    named = {
        str(folder.relative_to(PACKAGE)): found
        for folder in [PACKAGE, *(p.parent for p in PACKAGE.rglob("__init__.py"))]
        if (
            found := family_prefixes(
                [p.stem for p in folder.glob("*.py")] + [p.name for p in folder.iterdir() if p.is_dir()]
            )
        )
    }
    assert named == {}


def test_a_family_hidden_behind_a_prefix_is_found():
    assert family_prefixes(
        [
            "__init__",
            "__main__",
            "local",
            "local_train",
            "openai_api",
            "openai_jobs",
            "record_shipped",
            "api_updates",
            "apis",
        ]
    ) == ["local_train", "openai_api", "openai_jobs"]


def test_the_layout_page_shows_every_package_and_module():
    """docs/layout.md's tree follows the code: every package and module is named in it."""
    text = (PACKAGE.parents[1] / "docs" / "layout.md").read_text(encoding="utf-8")
    tree = text.split("```text\n", 1)[1].split("```", 1)[0]
    names = {p.stem for p in PACKAGE.rglob("*.py") if not p.stem.startswith("_")} | {
        p.parent.name for p in PACKAGE.rglob("__init__.py")
    }
    assert sorted(name for name in names if not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", tree)) == []
