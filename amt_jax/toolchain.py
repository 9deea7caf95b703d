"""The JAX this process runs on, checked against releases known to compute wrong numbers.

A silent miscompilation is worse than a crash for a tool whose output is a number: amt_jax warns
(once, at import) when the installed ``jax``/``jaxlib`` release is one of :data:`KNOWN_BAD`
(matched on the release's first three numbers, so ``0.10.2rc1``, ``0.10.2.dev…`` and local
builds ``0.10.2+cuda12`` count as 0.10.2). The check reads the installed distributions' metadata
only (no ``import jax``: the CLI starts fast), so it cannot see the backend: the known bug is on
CPU, and ``AMT_JAX_ALLOW_KNOWN_BAD_JAX=1`` silences it where a user has checked theirs (a GPU or
TPU run, a patched build).
``tests/test_toolchain.py`` holds the reproducers that fail on such a release.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import warnings

KNOWN_BAD = {
    "0.10.2": ("on CPU it miscompiles vmapped reductions above a size (jax-ml/jax#39103): e.g. the gradients "
               "of every objective but the first of a vmapped VJP through a LayerNorm are off by 10-25 %; "
               "install jax[cpu]==0.10.1 jaxlib==0.10.1 (requirements.txt)"),
}


OPT_OUT = "AMT_JAX_ALLOW_KNOWN_BAD_JAX"


class ToolchainWarning(UserWarning):
    """The installed JAX is known to compute wrong numbers here."""


def installed(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def release(version: str | None) -> str | None:
    """``"0.10.2rc1"``, ``"0.10.2.dev20261201"``, ``"0.10.2+cuda12"`` → ``"0.10.2"``: the first three
    numbers of a version string (missing ones as 0), or None when it does not start with a number."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", version or "")
    return None if match is None else ".".join(str(int(g or 0)) for g in match.groups())


def problems() -> list[str]:
    """One line per installed ``jax``/``jaxlib`` whose :func:`release` is in :data:`KNOWN_BAD`."""
    found = []
    for name in ("jax", "jaxlib"):
        version = installed(name)
        known = KNOWN_BAD.get(release(version))
        if known is not None:
            found.append(f"{name} {version}: {known} (set {OPT_OUT}=1 to silence this where you have checked "
                         f"your backend)")
    return found


def check() -> list[str]:
    """Warn (:class:`ToolchainWarning`) for each of :func:`problems`, unless ``$AMT_JAX_ALLOW_KNOWN_BAD_JAX``
    is 1; return them (also then)."""
    found = problems()
    if os.environ.get(OPT_OUT, "").strip().lower() in ("1", "true", "yes", "on"):
        return found
    for line in found:
        warnings.warn(line, ToolchainWarning, stacklevel=2)
    return found
