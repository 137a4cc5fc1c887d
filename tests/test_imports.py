"""The import graph: rule-based agents reach only the public contract, and nothing imports in a cycle.

The graph is read from the source (every ``import`` anywhere in a module, also inside functions,
except under ``if TYPE_CHECKING:``), so an agent cannot reach the hidden world through a chain
of modules, however long. Importing ``a.b.c`` also runs ``a`` and ``a.b``: the walk follows
those parent packages too. A second check imports each agent in a fresh interpreter and looks
at what was actually loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("supportgym", "agents")
#: The rule-based agents: they see only the observation and the public contract.
RULE_AGENT_MODULES = ["agents.random_agent", "agents.naive", "agents.runbook", "agents.expert", "agents.casebook",
                      "agents.playbook", "agents.view", "agents.rule"]
#: The only supportgym modules a rule-based agent may reach: the package itself (which loads
#: nothing on import) and the public contract.
PUBLIC = ("supportgym", "supportgym.contract")
#: The hidden world, for a clearer failure message.
HIDDEN = ("supportgym.world", "supportgym.stages", "supportgym.suite", "supportgym.core", "supportgym.episode",
          "supportgym.observe", "supportgym.reward", "supportgym.metrics", "supportgym.env", "supportgym.render",
          "supportgym.compiled")


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _is_public(module: str) -> bool:
    return module in PUBLIC or module.startswith("supportgym.contract.")


def module_path(module: str) -> Path | None:
    """The source file of one of this repository's modules, or None (third-party, stdlib)."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def _type_checking_only(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(tree: ast.AST):
    stack = [tree]
    while stack:
        node = stack.pop()
        if _type_checking_only(node):
            stack.extend(node.orelse)  # only the ``else`` branch runs
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


@cache
def direct_imports(module: str, with_parents: bool = True) -> frozenset[str]:
    """This repository's modules that importing ``module`` runs directly."""
    path = module_path(module)
    if path is None:
        return frozenset()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            targets = []
            for a in node.names:
                if module_path(f"{base}.{a.name}") is not None:
                    targets.append(f"{base}.{a.name}")  # ``from package import submodule``
                else:
                    targets.append(base)
        for target in targets:
            if target.split(".")[0] not in PACKAGES:
                continue
            found.add(target)
            if with_parents:
                parts = target.split(".")
                found |= {".".join(parts[:k]) for k in range(1, len(parts))}
    if with_parents:
        parts = module.split(".")
        found |= {".".join(parts[:k]) for k in range(1, len(parts))}
    found.discard(module)
    return frozenset(m for m in found if module_path(m) is not None)


def reachable(module: str) -> dict[str, str]:
    """Every repository module importing ``module`` can run, each with the module that imports it."""
    seen: dict[str, str] = {module: ""}
    frontier = [module]
    while frontier:
        current = frontier.pop()
        for nxt in direct_imports(current):
            if nxt not in seen:
                seen[nxt] = current
                frontier.append(nxt)
    return seen


def _chain(seen: dict[str, str], module: str) -> str:
    chain = [module]
    while seen[chain[-1]]:
        chain.append(seen[chain[-1]])
    return " <- ".join(chain)


def all_modules(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        out.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


# --- rule-based agents reach only the public contract ------------------------------------------
@pytest.mark.parametrize("module", RULE_AGENT_MODULES)
def test_rule_agents_reach_only_the_public_contract(module):
    seen = reachable(module)
    leaks = sorted(m for m in seen if m.startswith("supportgym") and not _is_public(m))
    assert not leaks, f"{module} reaches hidden-world modules: " + "; ".join(_chain(seen, m) for m in leaks)


@pytest.mark.parametrize("module", RULE_AGENT_MODULES)
def test_importing_a_rule_agent_loads_no_hidden_module(module):
    code = f"import sys, {module}; print('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    hidden = [m for m in loaded.stdout.split() if _within(m, HIDDEN)]
    assert not hidden, f"importing {module} loaded {hidden}"


def test_agent_view_imports_only_the_contract():
    imported = {m for m in direct_imports("agents.view", with_parents=False) if m.startswith("supportgym")}
    assert imported and all(m.startswith("supportgym.contract.") for m in imported), imported


def test_the_walk_sees_a_hidden_import():
    """The check can fail: the oracle reads the hidden world, and the walk finds it."""
    seen = reachable("agents.oracle")
    assert "supportgym.world.state" in seen and "supportgym.stages.signal" in seen


# --- the simulator stays below the scenario layer -----------------------------------------------
@pytest.mark.parametrize("module", [m for m in all_modules("supportgym")
                                    if m.startswith(("supportgym.world", "supportgym.stages"))
                                    or m in ("supportgym.core", "supportgym.reward", "supportgym.observe",
                                             "supportgym.compiled", "supportgym.rng", "supportgym.draws")])
def test_compiled_physics_does_not_import_the_scenario_layer(module):
    seen = reachable(module)
    bad = sorted(m for m in seen if _within(m, ("supportgym.suite", "supportgym.env", "supportgym.episode")))
    assert not bad, "; ".join(_chain(seen, m) for m in bad)
    source = "\n".join(module_path(m).read_text() for m in seen if module_path(m) is not None)
    assert "pydantic" not in source and "yaml" not in source, f"{module} reaches pydantic or yaml"


# --- no import cycles -----------------------------------------------------------------------
def test_no_import_cycles():
    """Explicit imports only (a package's ``__init__`` running before its modules is not a cycle)."""
    modules = all_modules("supportgym") + all_modules("agents")
    graph = {m: sorted(direct_imports(m, with_parents=False)) for m in modules}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in graph.get(m, []):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in modules:
        if m not in state and (cycle := visit(m)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


# --- packaging ------------------------------------------------------------------------------
def test_every_package_is_listed_for_installation():
    """A wheel holds only the packages pyproject.toml lists: each folder with an __init__.py must be there."""
    tomllib = pytest.importorskip("tomllib")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    packages = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "supportgym").rglob("__init__.py")}
    assert packages <= listed, f"not in pyproject.toml's packages: {sorted(packages - listed)}"


# --- Ray stays optional ---------------------------------------------------------------------
#: The only files that may import Ray (the ``ray`` extra), and only inside functions.
RAY_USERS = ("evaluation/ray_backend.py", "training/trial.py", "sweep.py")


def _ray_imports(tree: ast.AST, on_import_only: bool = False) -> list[ast.AST]:
    """The ``import ray``/``from ray... import`` statements of a module; with ``on_import_only``,
    those that run when it is imported (not inside a function)."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if on_import_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                 else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
        if any(name == "ray" or name.startswith("ray.") for name in names):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def test_only_the_ray_code_paths_import_ray_and_only_inside_functions():
    """The environment, train.py and evaluate.py work without the extra installed."""
    folders = ("supportgym", "agents", "evaluation", "training", "benchmarks", "scenarios")
    for path in sorted(ROOT.glob("*.py")) + sorted(p for d in folders for p in (ROOT / d).rglob("*.py")):
        tree = ast.parse(path.read_text())
        relative = path.relative_to(ROOT).as_posix()
        found = _ray_imports(tree)
        assert not found or relative in RAY_USERS, f"{relative} imports ray (line {found[0].lineno})"
        on_import = _ray_imports(tree, on_import_only=True)
        assert not on_import, f"{relative} imports ray when it is imported (line {on_import[0].lineno})"


def test_the_ray_check_sees_an_import():
    """The check can fail: the Ray backend imports ray inside a function, a module-level import is seen too."""
    assert _ray_imports(ast.parse((ROOT / "evaluation" / "ray_backend.py").read_text()))
    assert not _ray_imports(ast.parse((ROOT / "evaluation" / "ray_backend.py").read_text()), on_import_only=True)
    assert _ray_imports(ast.parse("import os\nfrom ray import tune\n"), on_import_only=True)


def test_importing_the_tools_loads_no_ray():
    """With Ray installed, importing everything but running no Ray code path leaves it unloaded."""
    modules = "supportgym, evaluate, train, sweep, evaluation.play, evaluation.ray_backend, training.trial, agents"
    code = f"import sys, {modules}; print('ray' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"
