"""The one config system: every config is a ``.py`` file whose ``get_config()`` returns a frozen
dataclass, optionally changed by ``FIELD=VALUE`` overrides.

Kinds and their dataclasses (defined where they are used; this module imports none of them):
``sweep`` (:class:`amt_jax.sweep.SweepConfig`), ``train`` (:class:`amt_jax.training.TrainConfig`)
and ``grid`` (:class:`amt_jax.training.grid.GridConfig`). The registered ones live in
``experiments/configs/<kind>/<name>.py``; the ``experiments`` folder is found without importing it
as a package (so it works from any working directory and with amt_jax installed):
``$AMT_JAX_EXPERIMENTS``, else the ``experiments`` folder beside the ``amt_jax`` package (a source
checkout or ``pip install -e .``), else ``./experiments``. A path to any ``.py`` file defining
``get_config()`` works too. Files starting with ``_`` are helpers, not configs.

Overrides are strings ``field=value`` or ``a.b=value`` (a field of a nested dataclass, e.g.
``model.bins_per_semitone=5`` on a TrainConfig). The value is read with :func:`ast.literal_eval`
(``48``, ``0.25``, ``None``, ``[2, 4]``, ``'chorales:test'``), else taken as the plain string
(``data=chorales:test``); lists become tuples. All overrides are applied together with
:func:`dataclasses.replace`, one call per dataclass, so each dataclass's ``__post_init__`` checks
the result (``steps=10 warmup_steps=5`` works in either order). On the command line they are
``--config.FIELD=VALUE`` or ``--config.FIELD VALUE``, repeatable (:func:`split_overrides`).

This module sits at the bottom of the package's layers: it imports only :mod:`amt_jax.validate`,
the standard library and etils.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import importlib.util
import os
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from etils import epath

from amt_jax import validate

KINDS = ("sweep", "train", "grid")
OVERRIDE_PREFIX = "--config."
_FIELD_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


def experiments_dir() -> Path | None:
    """The ``experiments`` folder holding ``configs/`` (see the module docstring), or None."""
    candidates = [os.environ.get("AMT_JAX_EXPERIMENTS"), Path(__file__).resolve().parents[1] / "experiments",
                  Path.cwd() / "experiments"]
    for c in candidates:
        if c and (Path(c) / "configs").is_dir():
            return Path(c)
    return None


def registered(kind: str) -> tuple[str, ...]:
    """Names of the registered configs of ``kind`` (``experiments/configs/<kind>/*.py``, sorted;
    empty when the folder is not found)."""
    validate.one_of("kind", kind, KINDS)
    root = experiments_dir()
    if root is None:
        return ()
    return tuple(sorted(p.stem for p in (root / "configs" / kind).glob("*.py") if not p.stem.startswith("_")))


def _load_module(path: Path, name: str):
    """The module of a config file, run but not registered in ``sys.modules``."""
    module_name = "amt_jax_config_" + re.sub(r"\W", "_", name)
    spec = importlib.util.spec_from_file_location(module_name, str(path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not registered in sys.modules: nothing imports it by name
    return module


def config_path(kind: str, name_or_path: str) -> Path:
    """The file of a registered config of ``kind``, or ``name_or_path`` itself when it ends in ``.py``."""
    validate.one_of("kind", kind, KINDS)
    if isinstance(name_or_path, os.PathLike):
        name_or_path = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or not name_or_path:
        raise ValueError(f"{kind} config must be a name or a path to a .py file, got {name_or_path!r}")
    if name_or_path.endswith(".py"):
        if not epath.Path(name_or_path).is_file():
            raise FileNotFoundError(f"{kind} config file {name_or_path} does not exist")
        return Path(os.fspath(name_or_path))
    names = registered(kind)
    if name_or_path not in names:
        where = "" if experiments_dir() else " (no experiments/ folder found: set AMT_JAX_EXPERIMENTS)"
        raise ValueError(f"unknown {kind} config {name_or_path!r}; valid: {', '.join(names) or 'none'}{where} "
                         "(or a path to a .py file defining get_config())")
    return experiments_dir() / "configs" / kind / f"{name_or_path}.py"


def load(kind: str, name_or_path: str, overrides: Sequence[str] = (), *, expected: type | None = None) -> Any:
    """The config ``get_config()`` returns in the file of ``name_or_path`` (:func:`config_path`),
    checked to be a dataclass instance (of ``expected``, when given), with ``overrides`` applied
    (:func:`apply_overrides`)."""
    path = config_path(kind, name_or_path)
    module = _load_module(path, f"{kind}_{path.stem}")
    if not callable(getattr(module, "get_config", None)):
        raise ValueError(f"{kind} config file {path} defines no get_config()")
    config = module.get_config()
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ValueError(f"{kind} config {name_or_path!r}: get_config() must return a dataclass instance, "
                         f"got {type(config).__name__}")
    if expected is not None and not isinstance(config, expected):
        raise ValueError(f"{kind} config {name_or_path!r}: get_config() must return an instance of "
                         f"{expected.__module__}.{expected.__name__}, got {type(config).__name__}")
    return apply_overrides(config, overrides)


def parse_value(text: str) -> Any:
    """An override's value: :func:`ast.literal_eval` of ``text``, else ``text`` itself; lists
    (also nested ones) become tuples."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return _tuples(value)


def _tuples(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_tuples(v) for v in value)
    return value


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``"a.b=value"`` → ``(("a", "b"), parsed value)`` (:func:`parse_value`)."""
    if not isinstance(text, str) or "=" not in text:
        raise ValueError(f"config override must be FIELD=VALUE (e.g. n_permutations=48), got {text!r}")
    key, value = text.split("=", 1)
    key = key.strip()
    if not _FIELD_PATH.fullmatch(key):
        raise ValueError(f"config override {text!r}: FIELD must be a field name or a dotted path (a.b), got {key!r}")
    return tuple(key.split(".")), parse_value(value.strip())


def apply_overrides(config: Any, overrides: Sequence[str]) -> Any:
    """``config`` with every ``FIELD=VALUE`` of ``overrides`` applied at once (see the module
    docstring). ValueError for an unknown field (naming the override and the valid fields), a
    nested path through a field that is not a dataclass, two overrides of one field, or a value the
    dataclass refuses (its own message, with the overrides)."""
    if isinstance(overrides, str):
        raise ValueError(f"overrides must be a sequence of FIELD=VALUE strings, got the string {overrides!r}")
    overrides = tuple(overrides)
    if not overrides:
        return config
    changes: dict = {}
    for text in overrides:
        path, value = parse_override(text)
        _check_path(config, path, value, text)
        node = changes
        for name in path[:-1]:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ValueError(f"config override {text!r} conflicts with an override of {name!r} as a whole")
        if path[-1] in node:
            raise ValueError(f"config override {text!r}: {'.'.join(path)} is overridden more than once")
        node[path[-1]] = _Value(value)
    try:
        return _replace(config, changes)
    except (ValueError, TypeError) as exc:  # the dataclass's own check, or a wrong type its check trips over
        raise ValueError(f"{exc} (config overrides: {', '.join(overrides)})") from exc


@dataclasses.dataclass(frozen=True)
class _Value:
    """A leaf of the change tree (a new field value, as opposed to a dict of nested changes)."""

    value: Any


def _fields(obj: Any) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(obj) if f.init)


def _check_path(config: Any, path: tuple[str, ...], value: Any, text: str) -> None:
    """Every name of ``path`` is a field of the dataclass it reaches; a field holding a tuple gets a
    list (a tuple) or None."""
    obj = config
    for depth, name in enumerate(path):
        fields = _fields(obj)
        if name not in fields:
            where = type(config).__name__
            if depth:
                where += f".{'.'.join(path[:depth])} (a {type(obj).__name__})"
            raise ValueError(f"config override {text!r}: {where} has no field {name!r}; valid fields: {', '.join(fields)}")
        current = getattr(obj, name)
        if depth < len(path) - 1 and not dataclasses.is_dataclass(current):
            raise ValueError(f"config override {text!r}: {'.'.join(path[:depth + 1])} is a "
                             f"{type(current).__name__}, not a dataclass with fields")
        obj = current
    if isinstance(obj, tuple) and not (value is None or isinstance(value, tuple)):
        key = ".".join(path)
        example = f"[{value!r}]" if isinstance(value, str) else repr(list(obj[:2]))
        raise ValueError(f"config override {text!r}: {key} takes a list (e.g. {key}={example}), got {value!r}")
    owner = functools.reduce(getattr, path[:-1], config)
    declared = typing.get_type_hints(type(owner)).get(path[-1])
    if declared is not None and not _matches(value, declared):
        raise ValueError(f"config override {text!r}: {'.'.join(path)} must be {_type_name(declared)}, got {value!r}")


def _matches(value: Any, declared: Any) -> bool:
    """Whether ``value`` is of the declared type: bool only for bool (not 1 or "false"), int for
    int (not 1.5 or True), int or float for float, ``X | None`` either; other types are left to
    the dataclass's own checks."""
    if typing.get_origin(declared) in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(declared))
    if declared is type(None):
        return value is None
    if declared is bool:
        return isinstance(value, bool)
    if declared is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if declared is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if declared is str:
        return isinstance(value, str)
    if typing.get_origin(declared) is tuple:
        return isinstance(value, tuple)
    return True


def _type_name(declared: Any) -> str:
    if typing.get_origin(declared) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(arg) for arg in typing.get_args(declared))
    if declared is type(None):
        return "None"
    return "a list" if typing.get_origin(declared) is tuple else getattr(declared, "__name__", str(declared))


def _replace(obj: Any, changes: dict) -> Any:
    """``obj`` with ``changes`` (field → :class:`_Value` or nested changes) in one :func:`dataclasses.replace`."""
    new = {name: change.value if isinstance(change, _Value) else _replace(getattr(obj, name), change)
           for name, change in changes.items()}
    return dataclasses.replace(obj, **new)


def split_overrides(argv: Sequence[str]) -> tuple[list[str], tuple[str, ...]]:
    """Command-line words without their ``--config.FIELD=VALUE`` / ``--config.FIELD VALUE`` overrides,
    and those overrides as ``FIELD=VALUE`` strings in order (ValueError for one without a value)."""
    rest, overrides = [], []
    words = list(argv)
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith(OVERRIDE_PREFIX):
            field = word[len(OVERRIDE_PREFIX):]
            if "=" not in field:
                if i + 1 >= len(words) or words[i + 1].startswith("--"):
                    raise ValueError(f"{word} needs a value: {word}=VALUE or {word} VALUE")
                field = f"{field}={words[i + 1]}"
                i += 1
            overrides.append(field)
        else:
            rest.append(word)
        i += 1
    return rest, tuple(overrides)
