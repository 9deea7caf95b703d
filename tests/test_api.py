"""The public API issue 27 item 5 adds: ``amt_jax.data.windows`` (a loaded split -> model windows with
labels, piece ids and programs) and one name for the piece-level interval (``piece_ci_*``, the former
``clip_ci_*`` kept readable)."""

from __future__ import annotations

import jax
import numpy as np

from amt_jax import data, importance, permutations
from amt_jax.constants import HOP_LENGTH, WINDOW_FRAMES, WINDOW_HOP_SAMPLES, WINDOW_SAMPLES
from amt_jax.transcription import inference


def _split(rng) -> list[dict]:
    out = []
    for i, n in enumerate((120_000, 90_000, 150_000)):
        frames = np.zeros((88, n // HOP_LENGTH + 1), bool)
        frames[30 + i] = True
        out.append({"audio": (0.1 * rng.standard_normal(n)).astype(np.float32), "frames": frames, "program": 40 + i,
                    "id": f"piece{i}"})
    return out


def test_windows_cut_a_split_into_model_windows_with_labels_pieces_and_programs(rng):
    split = _split(rng)
    w = data.windows(split, n_clips=6, clips_per_piece=2)
    assert w.audio.shape == (6, WINDOW_SAMPLES) and w.targets.shape == (6, 88, WINDOW_FRAMES)
    assert w.piece_ids.tolist() == [0, 0, 1, 1, 2, 2] and w.programs.tolist() == [40, 40, 41, 41, 42, 42]
    assert w.clusters is w.piece_ids
    for (name, window), clip, target, piece in zip(w.where, w.audio, w.targets, w.piece_ids):
        assert name == f"piece{piece}"
        np.testing.assert_array_equal(clip, inference.window_audio(split[piece]["audio"])[window])
        start = window * WINDOW_HOP_SAMPLES - inference.PAD_SAMPLES  # frames inside the piece are labelled
        inside = (start + HOP_LENGTH * np.arange(WINDOW_FRAMES) + HOP_LENGTH // 2) // HOP_LENGTH < split[piece]["frames"].shape[1]
        np.testing.assert_array_equal(target[30 + piece] > 0, inside & (start + HOP_LENGTH * np.arange(WINDOW_FRAMES) >= -HOP_LENGTH // 2))
        assert target.sum() == target[30 + piece].sum() > 0  # only the piece's own key
    spread = data.windows(split, n_clips=4)  # evenly over the split's non-silent windows
    assert spread.audio.shape == (4, WINDOW_SAMPLES) and spread.piece_ids.tolist() == sorted(spread.piece_ids.tolist())


def test_piece_level_interval_has_one_name_and_the_old_one_reads(rng):
    x = rng.standard_normal((6, 36, 8)).astype(np.float32)

    def apply(params, features):
        return {"note": features[:, :12, :] * params}

    family = permutations.random_spectral(n_bins=36, band=(0, 36))
    res = importance.permutation_importance(apply, 1.0, x, family=family, n_permutations=8, key=jax.random.key(0),
                                            output="note", clusters=np.array([0, 0, 1, 1, 2, 2]))
    assert np.isfinite(res.piece_ci_low) and res.piece_ci_low < res.piece_mean < res.piece_ci_high
    assert res.clip_ci_low == res.piece_ci_low and res.clip_ci_high == res.piece_ci_high
    summary = res.summary()
    assert summary["piece_ci_low"] == summary["clip_ci_low"] and summary["piece_ci_high"] == summary["clip_ci_high"]
