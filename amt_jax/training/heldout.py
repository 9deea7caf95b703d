"""Held-out frame scores of a trained variant beside the CQT-energy baseline, each at the
frame threshold its validation pieces choose."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax

from amt_jax.training.config import THRESHOLDS
from amt_jax.training.posteriors import posteriorgram, rolls  # noqa: F401  (posteriorgram: re-exported)
from amt_jax.training.trained import Trained
from amt_jax.transcription import baseline


def evaluate(
    model: Trained, *, validation: Sequence[dict], test: Sequence[dict], thresholds: Sequence[float] = THRESHOLDS
) -> dict:
    """Held-out frame scores of the trained model and of the fundamental-energy baseline.

    For each, the frame threshold maximising mean frame F1 over the ``validation`` pieces is
    chosen, then precision/recall/F1 (``metrics.frame_prf``, equal to mir_eval.multipitch) are
    averaged over the ``test`` pieces. Both read the same frontend (same windows, same B).
    """
    config = model.config
    note = jax.jit(lambda params, audio: model.apply(params, model.frontend(audio))["note"])  # params not baked in
    forwards = {
        "model": functools.partial(note, model.params),
        "baseline": jax.jit(lambda audio: baseline.fundamental_energy(model.frontend(audio), layout=model.layout)),
    }
    out = {}
    for name, forward in forwards.items():
        threshold, validation_f1 = baseline.best_threshold(rolls(validation, forward, config=config), thresholds)
        scores = baseline.mean_frame_scores(rolls(test, forward, config=config), threshold)
        out[name] = {"threshold": threshold, "validation_f1": validation_f1, **scores}
    return out
