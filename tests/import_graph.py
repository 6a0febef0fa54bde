"""The project's import graph, read from source with `ast` (nothing is imported or executed).

    graph = ImportGraph.of(REPO_ROOT)
    graph.imports["serve.commerce.cart"]        # {Import("serve.core.cart_math", top=True, line=27), ...}
    graph.closure("pipelines.sft")              # every project module `python -m pipelines.sft` loads

Modules are the .py files under serve/ and pipelines/. An empty package `__init__.py` is not a
module here (it holds nothing a change could break); a package with code in its `__init__.py`
(serve.contract, serve.commerce.payments) is.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

PACKAGES = ("serve", "pipelines", "simulator")


@dataclass(frozen=True)
class Import:
    target: str  # a project module
    top: bool  # at module level (False: inside a function or class body)
    line: int


@dataclass
class ImportGraph:
    root: Path
    files: dict[str, Path] = field(default_factory=dict)  # module → file
    imports: dict[str, set[Import]] = field(default_factory=dict)

    @classmethod
    def of(cls, root: Path) -> ImportGraph:
        graph = cls(root)
        for package in PACKAGES:
            for path in sorted((root / package).rglob("*.py")):
                if path.name == "__init__.py" and not path.read_text(encoding="utf-8").strip():
                    continue
                graph.files[module_name(path.relative_to(root))] = path
        for module, path in graph.files.items():
            graph.imports[module] = set(graph._read(module, path))
        return graph

    def _read(self, module: str, path: Path):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        top_level = {id(node) for node in tree.body}
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in {self._resolve(name) for name in names} - {None, module}:
                yield Import(target, id(node) in top_level, node.lineno)

    def _resolve(self, name: str) -> str | None:
        """The project module `name` refers to: itself, or the module a `from x import name` reads."""
        while name:
            if name in self.files:
                return name
            name = name.rpartition(".")[0]
        return None

    def targets(self, module: str) -> set[str]:
        return {i.target for i in self.imports.get(module, ())}

    def parents(self, module: str) -> set[str]:
        """Packages whose `__init__.py` Python runs before `module` (those with code in it)."""
        parts = module.split(".")
        return {p for p in (".".join(parts[:n]) for n in range(1, len(parts))) if p in self.files}

    def closure(self, module: str) -> set[str]:
        seen, todo = set(), [module]
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(self.targets(m) | self.parents(m))
        return seen

    def cycles(self) -> list[list[str]]:
        """Strongly connected components of size > 1 among module-level imports (Tarjan)."""
        index, low, stack, on_stack, out = {}, {}, [], set(), []

        def visit(v: str) -> None:
            index[v] = low[v] = len(index)
            stack.append(v)
            on_stack.add(v)
            for w in sorted(i.target for i in self.imports[v] if i.top):
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
                if len(component) > 1:
                    out.append(sorted(component))

        for v in sorted(self.files):
            if v not in index:
                visit(v)
        return out


def module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
