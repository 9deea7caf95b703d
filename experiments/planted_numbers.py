"""The numbers behind the planted-model tests, printed: what ``tests/test_reliance.py`` and
``tests/test_stats.py`` assert bounds on (harmonic reliance, the factorial design, 50 random
models, and the coverage of piece-level vs window-level intervals).

Command, from the repository root (about 3 minutes on 2 CPU cores)::

    python -m experiments.planted_numbers
"""

from __future__ import annotations

import jax
import numpy as np
import scipy.stats

from amt_jax import importance
from amt_jax import permutations
from amt_jax import stats
from tests import test_reliance as planted_reliance
from tests.test_stats import _hierarchical


def _interval(d: dict) -> str:
    low, high = d.get("piece_ci_low", d.get("ci_low")), d.get("piece_ci_high", d.get("ci_high"))
    return f"{d['mean']:.4g} [{low:.4g}, {high:.4g}]"


def reliance() -> None:
    t = planted_reliance
    for name, model in (("harmonic reader", t.harmonic_reader), ("fundamental reader", t.fundamental_reader)):
        _, out = t.reliance(model, 6.0, t.swap())
        print(f"{name}: diagonal {_interval(out['diagonal'])}, off-diagonal {_interval(out['off_diagonal'])}, "
              f"contrast {_interval(out['contrast'])}")
    kw = dict(layout=t.LAYOUT, targets=t.DATA.targets, n_harmonics=t.H, n_permutations=96, key=jax.random.key(5),
              clusters=t.CLUSTERS, chunk_size=32)
    for name, mix in (("OR", [1, 0, 0]), ("AND", [0, 1, 0]), ("fundamental reader", [0, 0, 1])):
        f = importance.factorial(t.cue_model, np.array(mix, np.float32), t.DATA.features, **kw)
        print(f"factorial, {name} model: v(F) {f['F']['mean']:.4g}, v(H) {f['H']['mean']:.4g}, "
              f"v(FH) {f['FH']['mean']:.4g}, interaction {_interval(f['interaction'])}")
    layout = t.LAYOUT
    family = dict(n_bins=layout.n_bins, bins_per_octave=layout.bins_per_octave, n_harmonics=t.H, f0_range=layout.key_bins)
    harm, ctl = permutations.harmonic(**family), permutations.harmonic_control(**family)
    contrasts, gaps = [], []
    for seed in range(50):
        w = np.random.default_rng(seed).normal(size=(layout.n_pitches, layout.n_bins)).astype(np.float32) / np.sqrt(12)
        _, out = t.reliance(t.random_model, w, t.swap(), n=64, seed=seed)
        contrasts.append(out["contrast"]["mean"])
        kw = dict(n_permutations=64, key=jax.random.key(seed), chunk_size=64)
        gaps.append(importance.permutation_importance(t.random_model, w, t.DATA.features, family=harm, **kw).importances_mean
                    - importance.permutation_importance(t.random_model, w, t.DATA.features, family=ctl, **kw).importances_mean)
    c, g = np.array(contrasts), np.array(gaps)
    positive = int(np.sum(c > 0))
    print(f"50 random linear models: reliance contrast mean {c.mean():.3g}, {positive}/50 positive "
          f"(sign test p {scipy.stats.binomtest(positive, 50).pvalue:.3g}); seed harmonic − control gap mean "
          f"{g.mean():.3g} (t-test p {scipy.stats.ttest_1samp(g, 0).pvalue:.2g})")


def coverage(reps: int = 2000, mu: float = 1.0) -> None:
    rng = np.random.default_rng(11)
    hit_piece = hit_window = hit_bootstrap = 0
    for r in range(reps):
        values, clusters = _hierarchical(rng, 8, 4, mu=mu)
        piece, window = stats.cluster_ci(values, clusters), stats.cluster_ci(values, None)
        hit_piece += piece["ci_low"] <= mu <= piece["ci_high"]
        hit_window += window["ci_low"] <= mu <= window["ci_high"]
        if r < 200:
            low, high = stats.cluster_bootstrap_ci(values[::8], key=jax.random.key(r), n_resamples=400)
            hit_bootstrap += low <= mu <= high
    print(f"coverage, 8 pieces × 4 windows, {reps} replications: piece-level t {hit_piece / reps:.3f}, "
          f"window-level {hit_window / reps:.3f}, 4-cluster percentile bootstrap (200) {hit_bootstrap / 200:.3f}")


if __name__ == "__main__":
    jax.config.update("jax_default_matmul_precision", "highest")
    reliance()
    coverage()
