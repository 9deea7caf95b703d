"""amt_jax: which spectral features do automatic music transcription models rely on?

The package follows the data flow (one subpackage per stage)::

    audio ─ frontend/ (audio, cqt, cqt2010, features, layout) ─▶ X[..., F, T]
      ─ perturb/ (permutations, key_families, sampling: perturb(key, x) -> x', group) ─▶ X'
      ─ models/ (one module per family; registry: load(spec) -> Model) ─▶ Y[..., P, T]
      ─ estimators/ (metrics, scoring, importance, reliance, noise) ─▶ draw × clip results
      ─ stats/ (Monte Carlo, piece-level and crossed intervals) ─▶ estimates with intervals
      ─ sweep/ (config, cells, probes, inputs, store, runner) ─▶ cells on disk
      ─ report/ (summary, figures, plots) ─▶ summary.md, figures

Beside the estimators: ``explain/`` (gradients, IG, occlusion, LRP, stack channels, groups,
cross-method, CKA) and ``tones/`` (probe tones and their synthesis).

Around it: ``data/`` (tfds builders), ``transcription/`` (whole-file inference, note decoding,
mir_eval evaluation, the CQT-energy baseline), ``training/`` (optax + orbax), ``commands/`` (the
CLI) and ``bench/``.

The stage modules are importable from the top level, lazily (``from amt_jax import cqt,
importance, permutations, pretrained, stats``), so the CLI starts fast and scripts stay short.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

# Short names of the stage modules: ``from amt_jax import cqt`` is ``amt_jax.frontend.cqt``.
_MODULES = {
    "audio": "amt_jax.frontend.audio",
    "cqt": "amt_jax.frontend.cqt",
    "cqt2010": "amt_jax.frontend.cqt2010",
    "features": "amt_jax.frontend.features",
    "layout": "amt_jax.frontend.layout",
    "pretrained": "amt_jax.models.pretrained",
    "onnx_weights": "amt_jax.models.onnx_weights",
    "planted": "amt_jax.models.planted",
    "registry": "amt_jax.models.registry",
    "inference": "amt_jax.transcription.inference",
    "notes": "amt_jax.transcription.notes",
    "evaluate": "amt_jax.transcription.evaluate",
    "baseline": "amt_jax.transcription.baseline",
    "train": "amt_jax.training",
    "permutations": "amt_jax.perturb",
    "importance": "amt_jax.estimators",
    "stats": "amt_jax.stats",
    "metrics": "amt_jax.estimators.metrics",
    "tones": "amt_jax.tones",
    "plots": "amt_jax.report.plots",
}
_ATTRIBUTES = {"FrequencyLayout": ("amt_jax.frontend.layout", "FrequencyLayout")}

__all__ = sorted([*_MODULES, *_ATTRIBUTES])


def __getattr__(name: str):
    if name in _MODULES:
        module = importlib.import_module(_MODULES[name])
        globals()[name] = module
        return module
    if name in _ATTRIBUTES:
        module_name, attribute = _ATTRIBUTES[name]
        value = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'amt_jax' has no attribute {name!r}")


def __dir__():
    return sorted({*globals(), *__all__})


from amt_jax import toolchain as _toolchain  # noqa: E402  (warns on a JAX known to compute wrong numbers)

_toolchain.check()
