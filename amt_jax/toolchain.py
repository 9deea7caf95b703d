"""The JAX this process runs on, checked against releases known to compute wrong numbers.

A silent miscompilation is worse than a crash for a tool whose output is a number: amt_jax warns
(once, at import) when the installed ``jax``/``jaxlib`` is one of :data:`KNOWN_BAD`. The check
reads the installed distributions' metadata only (no ``import jax``: the CLI starts fast).
``tests/test_toolchain.py`` holds the reproducers that fail on such a release.
"""

from __future__ import annotations

import importlib.metadata
import warnings

KNOWN_BAD = {
    "0.10.2": ("on CPU it miscompiles vmapped reductions above a size (jax-ml/jax#39103): e.g. the gradients "
               "of every objective but the first of a vmapped VJP through a LayerNorm are off by 10-25 %; "
               "install jax[cpu]==0.10.1 jaxlib==0.10.1 (requirements.txt)"),
}


class ToolchainWarning(UserWarning):
    """The installed JAX is known to compute wrong numbers here."""


def installed(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def problems() -> list[str]:
    """One line per installed ``jax``/``jaxlib`` release in :data:`KNOWN_BAD`."""
    found = []
    for name in ("jax", "jaxlib"):
        version = installed(name)
        if version in KNOWN_BAD:
            found.append(f"{name} {version}: {KNOWN_BAD[version]}")
    return found


def check() -> list[str]:
    """Warn (:class:`ToolchainWarning`) for each of :func:`problems`; return them."""
    found = problems()
    for line in found:
        warnings.warn(line, ToolchainWarning, stacklevel=2)
    return found
