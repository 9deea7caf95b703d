"""The package's structure: the imports drawn as a graph have no circle and never run up the data
flow's layers; no module or function is too long to read (issue 21's acceptance)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "amt_jax"

# Low to high: a module may import its own layer and those below it, never one above.
LAYERS = (
    ("validate", "constants", "io", "configs", "interrupt", "toolchain"),
    ("frontend",),
    ("data", "stats"),
    ("perturb",),
    ("models",),
    ("estimators",),
    ("transcription",),
    ("tones", "explain"),
    ("sweep",),
    ("training",),
    ("report",),
    ("commands", "bench", "__main__"),
)
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def import_graph() -> dict[str, set[str]]:
    """``module -> modules of amt_jax it imports``: at the top, inside functions and under
    ``if TYPE_CHECKING`` alike (a circle hidden in a function or an annotation is still a circle)."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            else:
                continue
            deps.update(t for t in targets if t in modules and t != name and t != "amt_jax")
        graph[name] = deps
    return graph


def _layer(module: str) -> int | None:
    top = module.split(".")[1] if "." in module else None
    for i, names in enumerate(LAYERS):
        if top in names:
            return i
    return None


def test_every_subpackage_has_a_layer():
    missing = {m.split(".")[1] for m in _modules() if "." in m and _layer(m) is None}
    assert not missing, f"add these to LAYERS: {sorted(missing)}"


def test_no_import_runs_up_the_layers():
    upward = [f"{a} -> {b}" for a, deps in import_graph().items() for b in deps
              if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)]
    assert not upward, "imports up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_circle():
    graph = import_graph()
    state, stack, circles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                circles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not circles, "import circles:\n" + "\n".join(circles)


def test_the_checker_finds_a_circle_and_an_upward_import(tmp_path, monkeypatch):
    """The checks above can fail: a planted package with a circle and an upward import."""
    pkg = tmp_path / "amt_jax"
    (pkg / "models").mkdir(parents=True)
    (pkg / "sweep").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "sweep" / "__init__.py").write_text("")
    (pkg / "models" / "a.py").write_text("def f():\n    from amt_jax.sweep import b\n")
    (pkg / "sweep" / "b.py").write_text("from amt_jax.models import a\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", pkg)
    with pytest.raises(AssertionError, match="amt_jax.models.a -> amt_jax.sweep.b"):
        test_no_import_runs_up_the_layers()
    with pytest.raises(AssertionError, match="import circles"):
        test_no_import_circle()


def test_modules_and_functions_are_short():
    long = []
    for name, path in _modules().items():
        text = path.read_text()
        n = text.count("\n")
        if n > MAX_MODULE_LINES:
            long.append(f"module {name}: {n} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"function {name}.{node.name}: {length} lines")
    assert not long, "\n".join(long)


def test_frequency_geometry_has_one_definition():
    """Harmonic offsets (``log2`` of a harmonic number on the bins) and octave bands are computed only
    in ``frontend/layout.py``; the CQTs' own filter design and the constants that size Basic
    Pitch's axis are the exceptions (they define the axis, they do not read positions on it)."""
    allowed = {"amt_jax.frontend.layout", "amt_jax.frontend.cqt", "amt_jax.frontend.cqt2010", "amt_jax.constants",
               "amt_jax.bench.importance"}  # the benchmark's naive numpy baseline recomputes it on purpose
    found = []
    for name, path in _modules().items():
        if name in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            text = ast.unparse(node) if isinstance(node, ast.Call) else ""
            if isinstance(node, ast.Call) and text.split("(")[0].endswith("log2"):
                found.append(f"{name}: {text}")
            if (isinstance(node, ast.Call) and text.startswith("range(") and len(node.args) == 3
                    and isinstance(node.args[2], ast.Constant) and node.args[2].value == 12):  # octaves stepped by hand
                found.append(f"{name}: {text}")
    assert not found, "\n".join(found)


def test_no_code_parses_parameters_out_of_kind_names():
    """A kind's parameters are fields of its probe-table entry (``Probe.options``), not pieces of its name."""
    found = [f"{name}: {ast.unparse(node)}" for name, path in _modules().items()
             for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("kind.split")]
    assert not found, "\n".join(found)


def test_only_the_models_package_imports_a_family():
    """Code outside ``amt_jax/models/`` reads models through ``Model`` and the registry; two
    exceptions by role: ``training`` (the trainer of the Basic Pitch family) and ``bench`` (which
    times Basic Pitch against onnxruntime)."""
    shared = {"amt_jax.models", "amt_jax.models.model", "amt_jax.models.registry"}
    exempt = ("amt_jax.models", "amt_jax.training", "amt_jax.bench")
    found = [f"{a} -> {b}" for a, deps in import_graph().items() for b in deps
             if b.startswith("amt_jax.models.") and b not in shared and not a.startswith(exempt)]
    assert not found, "\n".join(sorted(found))


def test_no_private_name_crosses_a_module():
    """A name with a leading underscore is its module's own: no ``from amt_jax.x import _y`` and no
    ``module._y`` on an imported amt_jax module."""
    found = []
    for name, path in _modules().items():
        tree = ast.parse(path.read_text())
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("amt_jax"):
                found += [f"{name}: from {node.module} import {a.name}" for a in node.names if a.name.startswith("_")]
                aliases |= {a.asname or a.name for a in node.names}
            elif isinstance(node, ast.Import):
                aliases |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.startswith("amt_jax")}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{name}: {ast.unparse(node)}")
    assert not found, "\n".join(sorted(set(found)))
