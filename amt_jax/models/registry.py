"""The model registry: a spec string names a model; :func:`load` turns it into a :class:`Model`.

Specs (one grammar for the sweep, ``evaluate``, ``transcribe``, ``probe-keys``, cross-method and
the Python API)::

    basic-pitch              pretrained Basic Pitch (ICASSP 2022), weights from the basic-pitch wheel
    trained:DIR              a training workdir (amt_jax.training); the CLI also takes a bare DIR
    planted-b<B>             the planted model on synthetic features, B bins per semitone (e.g. planted-b3)
    oracle                   the labels themselves (evaluation only: scores 1)
    random:<spec>            <spec>'s architecture with freshly initialised weights
    py:FILE.py:FUNCTION      a user's own model: FUNCTION() returns a Model (see below)
    py:module.path:FUNCTION  the same, from an importable module

A model family is one module of ``amt_jax.models`` listed in :data:`FAMILY_MODULES`; it declares
``FAMILIES = ((kind, pattern, usage, loader), ...)`` with ``loader(match, seed, load) -> Model``
(``load``: this module's :func:`load`, for families built on another spec). Families are imported
on first use. A user's own model needs no registration: any function returning a
:class:`~amt_jax.models.model.Model` works through ``py:``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Callable

from amt_jax.models.model import Model

FAMILY_MODULES = ("pretrained", "trained", "planted", "oracle", "randomize")
PY_PATTERN = re.compile(r"py:(?P<target>.+):(?P<function>[A-Za-z_][A-Za-z0-9_]*)")
PY_USAGE = "py:FILE.py:FUNCTION or py:module.path:FUNCTION (a function returning an amt_jax Model)"


@dataclasses.dataclass(frozen=True)
class Family:
    """A registered kind of spec: ``pattern`` (the whole spec), ``usage`` (how errors list it) and
    ``loader(match, seed, load) -> Model``."""

    kind: str
    pattern: re.Pattern
    usage: str
    loader: Callable


@functools.lru_cache(maxsize=1)
def families() -> tuple[Family, ...]:
    """Every registered family, in :data:`FAMILY_MODULES` order."""
    out = []
    for name in FAMILY_MODULES:
        module = importlib.import_module(f"amt_jax.models.{name}")
        for kind, pattern, usage, loader in module.FAMILIES:
            out.append(Family(kind, re.compile(pattern), usage, loader))
    return tuple(out)


def usages() -> list[str]:
    """The spec forms, e.g. ``["basic-pitch", "trained:<dir>", ..., "py:FILE.py:FUNCTION ..."]``."""
    return [f.usage for f in families()] + [PY_USAGE]


def _match(spec: str) -> tuple[re.Match, Family | None]:
    if isinstance(spec, str):
        py = PY_PATTERN.fullmatch(spec)
        if py:
            return py, None
        for family in families():
            match = family.pattern.fullmatch(spec)
            if match:
                return match, family
    raise ValueError(f"unknown model {spec!r}; valid: {', '.join(usages())}")


def check(spec: str) -> str:
    """``spec`` if it names a registered form (nothing is loaded); ValueError otherwise."""
    _match(spec)
    return spec


def kind(spec: str) -> str:
    """The kind of ``spec``: a family's kind (``basic-pitch``, ``trained``, ...) or ``py``."""
    family = _match(spec)[1]
    return "py" if family is None else family.kind


def cli_spec(spec: str) -> str:
    """A command-line ``--model``: a bare existing directory means ``trained:DIR``."""
    if isinstance(spec, str) and ":" not in spec and os.path.isdir(spec):
        return f"trained:{spec}"
    return spec


def load(spec: str, *, seed: int = 0) -> Model:
    """The model named by ``spec`` (``seed`` draws the random part of planted and random models)."""
    match, family = _match(spec)
    if family is None:
        return _load_py(match)
    return family.loader(match, seed, load)


def _py_function(spec: str, target: str, function: str) -> Callable:
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"model {spec!r}: file {target} does not exist")
        name = "amt_jax_user_model_" + re.sub(r"\W", "_", str(path.resolve()))
        module = sys.modules.get(name)
        if module is None:
            module_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[name] = module  # dataclasses and pickling look their module up by name
            module_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise ValueError(f"model {spec!r}: cannot import module {target!r} ({err})") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ValueError(f"model {spec!r}: {target} has no function {function!r}")
    return fn


def _load_py(match: re.Match) -> Model:
    """``py:TARGET:FUNCTION``: ``FUNCTION()`` of a file or module, which must return a :class:`Model`."""
    spec = match.string
    model = _py_function(spec, match.group("target"), match.group("function"))()
    if not isinstance(model, Model):
        raise ValueError(f"model {spec!r}: {match.group('function')}() must return an amt_jax.models.Model, "
                         f"got {type(model).__name__}")
    if model.apply is None or model.layout is None:
        raise ValueError(f"model {spec!r}: a user model needs apply and layout, got apply={model.apply!r}, layout={model.layout!r}")
    identity = {"kind": "py", "spec": spec, **model.identity}
    return dataclasses.replace(model, spec=spec, identity=identity)


def label(spec: str) -> str:
    """Short display name of a spec for figures (``trained:/a/b3_full_s0`` → ``trained:b3_full_s0``,
    ``py:tests/x.py:load`` → ``py:x:load``)."""
    if spec.startswith("trained:"):
        return "trained:" + spec.split(":", 1)[1].rstrip("/").rsplit("/", 1)[-1]
    py = PY_PATTERN.fullmatch(spec)
    if py:
        return f"py:{Path(py.group('target')).stem if py.group('target').endswith('.py') else py.group('target')}:{py.group('function')}"
    return spec


def slug(spec: str) -> str:
    """File-safe short name of a spec (``trained:/a/b3`` → ``trained-b3``): its :func:`label`, file-safe."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", label(spec))
