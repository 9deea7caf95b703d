"""Probe-tone results on disk: a strict-JSON record (config, environment, per metric means,
intervals and samples, confusions, detected range, F1 per key and context, the missing
fundamental) and an NPZ of the arrays, each written atomically (``result``: an
:class:`amt_jax.tones.probe.ProbeTones`)."""

from __future__ import annotations

import json

import numpy as np

from amt_jax.io import atomic_write
from amt_jax.tones.synth import METRICS, MISSING_HARMONICS


def _lists(a):
    """Nested lists of ``a`` with NaN as None (strict JSON)."""
    a = np.asarray(a)
    return np.where(np.isfinite(a), a, None).tolist() if a.dtype.kind == "f" else a.tolist()


def to_json(result, *, confidence: float = 0.95, detect_threshold: float = 0.5) -> dict:
    """A JSON-able record: config, environment, per metric ``mean, ci_low, ci_high [S][L][K]`` and
    ``samples [S][L][K][R]``, the confusions, and the detected key range per timbre and level."""
    metrics = {}
    for metric in METRICS:
        summ = result.summary(metric, confidence=confidence)
        metrics[metric] = {k: _lists(summ[k]) for k in ("mean", "ci_low", "ci_high")}
        metrics[metric]["samples"] = _lists(result.samples[metric])
    detected = {k: _lists(v) for k, v in result.detected_range(threshold=detect_threshold).items()}
    missing = {t: {k: ({n: _lists(a) for n, a in v.items()} if isinstance(v, dict) else _lists(v)) for k, v in row.items()}
               for t, row in result.missing_fundamental(confidence=confidence).items()}
    return {
        "config": result.config, "confidence": confidence, "axes": "[timbre, level, key, repetition]",
        "timbres": list(result.timbres), "levels_dbfs": _lists(result.levels_dbfs), "midi": _lists(result.midi),
        "valid": _lists(result.valid), "metrics": metrics,
        "confusions": {k: _lists(v) for k, v in result.confusions().items()},
        "detected": {"recall_threshold": detect_threshold, **detected},
        "key_f1": {c: _key_f1_record(result, c, confidence) for c in result.contexts()},
        "missing_fundamental": {"harmonics": list(range(2, MISSING_HARMONICS + 1)),
                                "axes": "f0_*: [level, key]; harmonic_rates: [level, key, harmonic 2..8]", **missing},
        "environment": result.environment,
    }


def _key_f1_record(result, context: str, confidence: float) -> dict:
    f = result.key_f1(context, confidence=confidence)
    return {"axes": "[level, key]", "n": _lists(f["n"]), "interval_over": f["interval_over"],
            "flagged": _lists(result.flagged(context, confidence=confidence)), "below": _lists(result.below(context)),
            "weakest": [[{k: (v if not isinstance(v, float) or np.isfinite(v) else None) for k, v in w.items()}
                         for w in level] for level in result.weakest(context, confidence=confidence)],
            **{m: {k: _lists(v) for k, v in f[m].items()} for m in ("f1", "f1_energy", "f1_argmax", "advantage")}}


def write_json(result, path, *, confidence: float = 0.95, detect_threshold: float = 0.5) -> None:
    """Write :func:`to_json` to ``path`` atomically (strict JSON: NaN as null)."""
    record = to_json(result, confidence=confidence, detect_threshold=detect_threshold)
    atomic_write(path, json.dumps(record, allow_nan=False))


def write_npz(result, path) -> None:
    """Write the arrays (``midi, levels_dbfs, valid, rates [S, L, K, P], samples_<metric>``) to ``path`` atomically."""
    import io

    buf = io.BytesIO()
    arrays = {f"samples_{m}": result.samples[m] for m in METRICS}
    np.savez_compressed(buf, midi=result.midi, levels_dbfs=result.levels_dbfs, valid=result.valid,
                        rates=result.rates, timbres=np.array(result.timbres), **arrays)
    atomic_write(path, buf.getvalue())
