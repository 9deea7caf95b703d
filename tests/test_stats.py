"""Statistics against scipy.stats references."""

import jax
import numpy as np
import pytest
import scipy.stats

from amt_jax.engine import stats


def test_standard_error_and_normal_ci_match_scipy():
    x = np.random.default_rng(0).gamma(2.0, size=(300, 4))
    np.testing.assert_allclose(stats.mc_standard_error(x), scipy.stats.sem(x, axis=0), rtol=1e-12)
    low, high = stats.normal_ci(x, confidence=0.9)
    want = scipy.stats.norm.interval(0.9, loc=x.mean(0), scale=scipy.stats.sem(x, axis=0))
    np.testing.assert_allclose(low, want[0], rtol=1e-12)
    np.testing.assert_allclose(high, want[1], rtol=1e-12)


def test_benjamini_hochberg_matches_scipy():
    p = np.random.default_rng(1).uniform(size=50) ** 3
    np.testing.assert_allclose(stats.benjamini_hochberg(p), scipy.stats.false_discovery_control(p), rtol=1e-12)
    with_nan = np.concatenate([p[:10], [np.nan]])
    q = stats.benjamini_hochberg(with_nan)
    assert np.isnan(q[-1])
    np.testing.assert_allclose(q[:-1], scipy.stats.false_discovery_control(p[:10]), rtol=1e-12)


def test_paired_contrast_matches_ttest_rel_per_group():
    rng = np.random.default_rng(2)
    groups = rng.integers(0, 4, size=400)
    b = rng.normal(size=400)
    a = b + rng.normal(0.1 * groups, 1.0)
    out = stats.paired_t(a, b, groups=groups, confidence=0.95)
    np.testing.assert_array_equal(out["group"], np.arange(4))
    p_want = []
    for i, g in enumerate(range(4)):
        m = groups == g
        ref = scipy.stats.ttest_rel(a[m], b[m])
        ci = ref.confidence_interval(0.95)
        assert out["n"][i] == m.sum()
        np.testing.assert_allclose(out["mean"][i], np.mean(a[m] - b[m]), rtol=1e-12)
        np.testing.assert_allclose([out["t"][i], out["p"][i]], [ref.statistic, ref.pvalue], rtol=1e-9)
        np.testing.assert_allclose([out["ci_low"][i], out["ci_high"][i]], [ci.low, ci.high], rtol=1e-9)
        p_want.append(ref.pvalue)
    np.testing.assert_allclose(out["q"], scipy.stats.false_discovery_control(p_want), rtol=1e-9)


def test_group_summary_counts_and_means():
    rng = np.random.default_rng(3)
    groups = rng.integers(5, 8, size=100)
    x = rng.normal(size=100)
    out = stats.group_summary(x, groups)
    for i, g in enumerate(out["group"]):
        np.testing.assert_allclose(out["mean"][i], x[groups == g].mean())
        np.testing.assert_allclose(out["standard_error"][i], scipy.stats.sem(x[groups == g]))


def test_percentile_bootstrap_agrees_with_scipy_bootstrap():
    x = np.random.default_rng(4).exponential(size=200)
    low, high = stats.percentile_bootstrap_ci(x, key=jax.random.key(0), n_resamples=4000)
    # a reference with little Monte Carlo noise of its own (ours: ≈ 0.04 SE at 4,000 resamples)
    ref = scipy.stats.bootstrap((x,), np.mean, method="percentile", n_resamples=50000, random_state=0).confidence_interval
    se = scipy.stats.sem(x)
    assert abs(low - ref.low) < 0.15 * se and abs(high - ref.high) < 0.15 * se
    # resample b uses fold_in(key, b): batching does not change the result
    again = stats.percentile_bootstrap_ci(x, key=jax.random.key(0), n_resamples=4000, batch_size=7)
    np.testing.assert_allclose(again, (low, high), rtol=1e-6)


def test_cluster_bootstrap_needs_two_clusters():
    low, high = stats.cluster_bootstrap_ci(np.array([1.0]), key=jax.random.key(0))
    assert np.isnan(low) and np.isnan(high)
    low, high = stats.cluster_bootstrap_ci(np.arange(10.0), key=jax.random.key(0))
    assert low < 4.5 < high


def test_cluster_bootstrap_matches_numpy_resampling_of_clip_means():
    """Resample whole clips (their mean importances, [n_clips, P]) with replacement, take the
    percentile interval of the resample means: exactly, with the resamples' own indices, and
    within Monte Carlo error of an independent numpy bootstrap."""
    rng = np.random.default_rng(5)
    clip_means = rng.gamma(2.0, size=(12, 3)) * np.array([1.0, 2.0, 0.5])
    key, n_res = jax.random.key(7), 4000
    low, high = stats.cluster_bootstrap_ci(clip_means, key=key, n_resamples=n_res, confidence=0.9)
    assert low.shape == high.shape == (3,)
    # the same resamples: resample b draws clips from fold_in(key, b)
    rows = np.stack([np.asarray(jax.random.randint(jax.random.fold_in(key, b), (12,), 0, 12)) for b in range(n_res)])
    means = clip_means.astype(np.float32)[rows].mean(axis=1)  # [n_res, 3]
    np.testing.assert_allclose(low, np.quantile(means, 0.05, axis=0), rtol=1e-5)
    np.testing.assert_allclose(high, np.quantile(means, 0.95, axis=0), rtol=1e-5)
    # an independent bootstrap with numpy's generator and many resamples
    ref_rows = np.random.default_rng(0).integers(0, 12, size=(50000, 12))
    ref = clip_means[ref_rows].mean(axis=1)
    se = clip_means.std(axis=0, ddof=1) / np.sqrt(12)
    assert np.all(np.abs(low - np.quantile(ref, 0.05, axis=0)) < 0.1 * se)
    assert np.all(np.abs(high - np.quantile(ref, 0.95, axis=0)) < 0.1 * se)


def test_validation():
    with pytest.raises(ValueError, match="samples"):
        stats.normal_ci(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="confidence"):
        stats.normal_ci(np.ones(3), confidence=95)
    with pytest.raises(ValueError, match="groups"):
        stats.group_summary(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="p_values"):
        stats.benjamini_hochberg([0.1, 1.5])
    with pytest.raises(ValueError, match="a and b"):
        stats.paired_t(np.ones(3), np.ones(4))
