"""The README's Python examples run as written (issue 27 item 5): every ``python`` block of the
"Python API" section, in order, as one script from a directory outside the repository with
``PYTHONPATH`` unset, so they need the package installed (``./run.sh setup`` installs it editable)
and cannot drift from the code. A static check that always runs: the snippets bind every name
once and use none they do not bind (no ``y`` that is first audio then outputs, no ``audio`` that is
both an array and a module)."""

from __future__ import annotations

import ast
import builtins
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Python API"


def api_snippets(readme: str | None = None) -> list[str]:
    """The ``python`` fenced blocks of the README's API section, in order."""
    text = (REPO / "README.md").read_text() if readme is None else readme
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    section = text[start:] if end < 0 else text[start:end]
    return re.findall(r"^```python\n(.*?)^```", section, re.S | re.M)


def _bound_and_loaded(code: str) -> tuple[list[str], set[str]]:
    bound, loaded = [], set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name):
            (bound.append if isinstance(node.ctx, ast.Store) else loaded.add)(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound += [(a.asname or a.name).split(".")[0] for a in node.names]
    return bound, loaded


def test_snippets_bind_each_name_once_and_use_only_what_they_bind():
    blocks = api_snippets()
    assert len(blocks) >= 2, "the API section lost its examples"
    bound, loaded = _bound_and_loaded("\n".join(blocks))
    twice = sorted({n for n in bound if bound.count(n) > 1})
    assert not twice, f"names bound more than once (shadowed): {twice}"
    unbound = sorted(loaded - set(bound) - set(dir(builtins)))
    assert not unbound, f"names used but never bound: {unbound}"


def test_the_static_check_finds_shadowing_and_unbound_names():
    readme = f"{SECTION}\n\n```python\nfrom amt_jax import audio\ny = audio\ny = bp.apply(x)\n```\n"
    bound, loaded = _bound_and_loaded("\n".join(api_snippets(readme)))
    assert bound.count("y") == 2 and {"bp", "x"} <= loaded - set(bound)


def _installed_here(env: dict, cwd: Path) -> str | None:
    """Why the snippets cannot run from outside the repository, or None."""
    probe = "import importlib.util; s = importlib.util.find_spec('amt_jax'); print(s.origin if s else '')"
    origin = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env, capture_output=True, text=True).stdout.strip()
    if not origin:
        return f"amt_jax is not installed in {sys.prefix}: run ./run.sh setup (pip install -e . --no-deps)"
    if Path(origin).resolve().parents[1] != REPO:
        return f"amt_jax in {sys.prefix} is installed from another checkout ({Path(origin).parents[1]}): run ./run.sh setup here"
    return None


def test_readme_api_examples_run_from_outside_the_repo(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["JAX_PLATFORMS"] = "cpu"
    why = _installed_here(env, tmp_path)
    if why:
        pytest.skip(why)
    script = tmp_path / "readme_api.py"
    script.write_text("\n\n".join(api_snippets()))
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-4000:]
