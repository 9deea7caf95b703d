"""The model registry: a spec string names a model; :func:`load` turns it into a :class:`Model`.

Specs (one grammar for the sweep, ``evaluate``, ``transcribe``, ``probe-keys``, cross-method and
the Python API)::

    basic-pitch              pretrained Basic Pitch (ICASSP 2022), weights from the basic-pitch wheel
    pesto                    pretrained PESTO (ISMIR 2023, monophonic pitch), weights from the pesto-pitch wheel
    trained:DIR              a training workdir (amt_jax.training); the CLI also takes a bare DIR
    planted-b<B>             the planted model on synthetic features, B bins per semitone (e.g. planted-b3)
    oracle                   the labels themselves (evaluation only: scores 1)
    random:<spec>            <spec>'s architecture with freshly initialised weights
    py:FILE.py:FUNCTION      a user's own model: FUNCTION() returns a Model (see below)
    py:module.path:FUNCTION  the same, from an importable module

A model family is one module of ``amt_jax.models`` with ``load(match, seed, load_spec) -> Model``
(``load_spec``: this module's :func:`load`, for families built on another spec), entered in
:data:`FAMILIES` (its kind, the spec pattern, how errors list it, the module, and whether its models
have features to perturb). The table is plain data: checking a spec imports no family (the CLI
checks options before anything slow); :func:`load` imports the family's module. A user's own model
needs no entry: any function returning a :class:`~amt_jax.models.model.Model` works through ``py:``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Callable

from amt_jax.models.model import Model

PY_PATTERN = re.compile(r"py:(?P<target>.+):(?P<function>[A-Za-z_][A-Za-z0-9_]*)")
PY_USAGE = "py:FILE.py:FUNCTION or py:module.path:FUNCTION (a function returning an amt_jax Model)"


@dataclasses.dataclass(frozen=True)
class Family:
    """A kind of spec: ``pattern`` (the whole spec), ``usage`` (how errors list it), ``module`` (of
    ``amt_jax.models``, whose ``load(match, seed, load_spec)`` builds the model), ``perturbable``
    (its models have features a probe can perturb; the oracle's do not) and ``title`` (how
    sentences name it; None: its :func:`label`)."""

    kind: str
    pattern: re.Pattern
    usage: str
    module: str
    perturbable: bool = True
    title: str | None = None


FAMILIES: tuple[Family, ...] = (
    Family("basic-pitch", re.compile(r"basic-pitch"), "basic-pitch", "pretrained", title="Basic Pitch"),
    Family("pesto", re.compile(r"pesto"), "pesto", "pesto", title="PESTO"),
    Family("trained", re.compile(r"trained:(.+)"), "trained:<dir>", "trained"),
    Family("planted", re.compile(r"planted-b([1-9][0-9]*)"), "planted-b<B> (e.g. planted-b3)", "planted"),
    Family("oracle", re.compile(r"oracle"), "oracle", "oracle", perturbable=False),
    Family("random", re.compile(r"random:(.+)"), "random:<spec> (the same architecture, weights re-initialised)",
           "randomize"),
)


def usages() -> list[str]:
    """The spec forms, e.g. ``["basic-pitch", "trained:<dir>", ..., "py:FILE.py:FUNCTION ..."]``."""
    return [f.usage for f in FAMILIES] + [PY_USAGE]


def _match(spec: str) -> tuple[re.Match, Family | None]:
    if isinstance(spec, str):
        py = PY_PATTERN.fullmatch(spec)
        if py:
            return py, None
        for family in FAMILIES:
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
    return importlib.import_module(f"amt_jax.models.{family.module}").load(match, seed, load)


def perturbable(spec: str) -> bool:
    """Whether ``spec``'s models have features a probe can perturb (nothing is loaded; ``py:``
    models must give ``apply`` and ``layout``, so they do)."""
    family = _match(spec)[1]
    return True if family is None else family.perturbable


def random_control(spec: str) -> str:
    """The spec of ``spec``'s architecture with random weights: ``random:<spec>``."""
    return f"random:{check(spec)}"


def random_base(spec: str) -> str | None:
    """The spec a random-weights spec re-initialises (``random:X`` → ``X``), None for any other spec."""
    match, family = _match(spec)
    return match.group(1) if family is not None and family.kind == "random" else None


def title(spec: str) -> str:
    """How a sentence names the model: ``Basic Pitch``, ``Basic Pitch with random weights (same
    architecture)``, else its :func:`label`."""
    base = random_base(spec)
    if base is not None:
        return f"{title(base)} with random weights (same architecture)"
    family = _match(spec)[1]
    return family.title if family is not None and family.title else label(spec)


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
            try:
                module_spec.loader.exec_module(module)
            except Exception as err:  # a user's file: any error is theirs, said in one line
                sys.modules.pop(name, None)
                raise ValueError(f"model {spec!r}: running {target} raised {type(err).__name__}: {err}") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise ValueError(f"model {spec!r}: cannot import module {target!r} ({err})") from None
        except Exception as err:  # a user's module: any error is theirs, said in one line
            raise ValueError(f"model {spec!r}: importing {target} raised {type(err).__name__}: {err}") from None
    fn = getattr(module, function, None)
    if not callable(fn):
        raise ValueError(f"model {spec!r}: {target} has no function {function!r}")
    return fn


def _load_py(match: re.Match) -> Model:
    """``py:TARGET:FUNCTION``: ``FUNCTION()`` of a file or module, which must return a :class:`Model`."""
    spec = match.string
    fn = _py_function(spec, match.group("target"), match.group("function"))
    try:
        model = fn()
    except Exception as err:  # a user's function: any error is theirs, said in one line
        raise ValueError(f"model {spec!r}: {match.group('function')}() raised {type(err).__name__}: {err}") from None
    if not isinstance(model, Model):
        raise ValueError(f"model {spec!r}: {match.group('function')}() must return an amt_jax.models.Model, "
                         f"got {type(model).__name__}")
    if model.apply is None or model.layout is None:
        raise ValueError(f"model {spec!r}: a user model needs apply and layout, got apply={model.apply!r}, layout={model.layout!r}")
    identity = {**model.identity, "kind": "py", "spec": spec}
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
