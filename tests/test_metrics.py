"""Frame metrics against mir_eval.multipitch and scipy."""

import jax
import mir_eval
import numpy as np
import pytest
import scipy.stats

from amt_jax.estimators import metrics

FPS = 100.0


def roll_to_mir_eval(roll, threshold):
    """Binary roll [P, T] (pitch p = MIDI 21 + p) -> mir_eval's (times, list of Hz arrays)."""
    active = np.asarray(roll) >= threshold
    times = np.arange(active.shape[1]) / FPS
    freqs = [mir_eval.util.midi_to_hz(21 + np.flatnonzero(active[:, t])) for t in range(active.shape[1])]
    return times, freqs


def mir_eval_prf(est, ref, threshold):
    scores = mir_eval.multipitch.evaluate(*roll_to_mir_eval(ref, threshold), *roll_to_mir_eval(est, threshold))
    p, r = scores["Precision"], scores["Recall"]
    return p, r, (2 * p * r / (p + r) if p + r > 0 else 0.0)


def random_case(rng, density_est, density_ref, p=88, t=60):
    ref = (rng.random((p, t)) < density_ref).astype(np.float32)
    # a posteriorgram correlated with the reference
    est = np.clip(0.6 * ref + 0.5 * rng.random((p, t)) * (rng.random((p, t)) < density_est / 0.5), 0, 1)
    return est.astype(np.float32), ref


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("density_est,density_ref", [(0.1, 0.05), (0.3, 0.02), (0.0, 0.05), (0.1, 0.0), (0.0, 0.0)])
@pytest.mark.parametrize("threshold", [0.3, 0.5])
def test_frame_scores_match_mir_eval(density_est, density_ref, threshold):
    rng = np.random.default_rng(int(density_est * 100 + density_ref * 1000 + threshold * 10))
    est, ref = random_case(rng, density_est, density_ref)
    got = metrics.clip_frame_scores(est, ref, threshold=threshold)
    want = mir_eval_prf(est, ref, threshold)
    np.testing.assert_allclose([got["precision"], got["recall"], got["f1"]], want, atol=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_frame_prf_batched_under_jit_matches_per_clip_mir_eval():
    rng = np.random.default_rng(7)
    cases = [random_case(rng, 0.2, 0.05, p=24, t=40) for _ in range(5)]
    est = np.stack([c[0] for c in cases])
    ref = np.stack([c[1] for c in cases])
    p, r, f = jax.jit(lambda a, b: metrics.frame_prf(a, b, threshold=0.4))(est, ref)
    assert p.shape == (5,)
    for i in range(5):
        np.testing.assert_allclose([p[i], r[i], f[i]], mir_eval_prf(est[i], ref[i], 0.4), atol=1e-6)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_frame_f1_per_pitch_matches_mir_eval_on_each_pitch():
    rng = np.random.default_rng(3)
    est, ref = random_case(rng, 0.2, 0.1, p=12, t=50)
    ref[4] = 0  # silent reference pitch with some estimates
    est[5] = 0
    ref[5] = 0  # silent in both -> 1 by convention
    got = np.asarray(metrics.frame_f1_per_pitch(est, ref, threshold=0.5))
    for p in range(12):
        if p == 5:
            assert got[p] == 1.0
            continue
        want = mir_eval_prf(est[p : p + 1], ref[p : p + 1], 0.5)[2]
        np.testing.assert_allclose(got[p], want, atol=1e-6)


def test_binary_cross_entropy_matches_scipy_bernoulli():
    rng = np.random.default_rng(0)
    y = rng.uniform(0.01, 0.99, size=(3, 7, 20)).astype(np.float32)
    t = (rng.random((3, 7, 20)) < 0.3).astype(np.float32)
    want = -scipy.stats.bernoulli.logpmf(t, y).mean(-1)
    np.testing.assert_allclose(metrics.binary_cross_entropy(y, t), want, rtol=1e-5)


def test_frame_scores_validation():
    with pytest.raises(ValueError, match="y_est"):
        metrics.clip_frame_scores(np.zeros((3, 4, 5)), np.zeros((4, 5)))
    with pytest.raises(ValueError, match="y_ref"):
        metrics.clip_frame_scores(np.zeros((4, 5)), np.full((4, 5), np.nan))
    with pytest.raises(ValueError, match="same shape"):
        metrics.clip_frame_scores(np.zeros((4, 5)), np.zeros((4, 6)))
