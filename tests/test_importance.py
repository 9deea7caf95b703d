"""The estimator on planted models whose truth is known, against mir_eval/scipy per draw,
invariance to chunking and device count, no retracing, CI coverage, noise response."""

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import mir_eval
import numpy as np
import pytest
import scipy.stats

from amt_jax import importance
from amt_jax import permutations
from amt_jax import stats

B = 3  # bins per semitone
P = 8  # pitches
F = B * P + 3  # with headroom
T = 6
N_CLIPS = 4
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def features():
    return np.random.default_rng(0).normal(size=(N_CLIPS, F, T)).astype(np.float32)


def semitone_matrix():
    """[F, P] 0/1: bin j belongs to semitone p iff (j + 1) // 3 == p (microtonal, offset 0)."""
    m = np.zeros((F, P), np.float32)
    for j in range(F):
        if (j + 1) // B < P:
            m[j, (j + 1) // B] = 1
    return m


def linear_apply(w, x):
    return jnp.einsum("fp,bft->bpt", w, x)


def tanh_apply(w, x):
    return jnp.tanh(jnp.einsum("fp,bft->bpt", w, x))


def sigmoid_apply(w, x):
    return jax.nn.sigmoid(jnp.einsum("fp,bft->bpt", w, x))


def centre_apply(scale, x):
    """Reads only the centre bin 3p of each semitone."""
    return jax.nn.sigmoid(scale * x[:, 0 : B * P : B, :])


W = np.random.default_rng(1).normal(size=(F, P)).astype(np.float32) / np.sqrt(F)
MICRO = permutations.microtonal(n_bins=F, bins_per_semitone=B)
HARM = permutations.harmonic(n_bins=F, bins_per_octave=12, n_harmonics=4, f0_range=(0, 12))
HARM_CONTROL = permutations.harmonic_control(n_bins=F, bins_per_octave=12, n_harmonics=4, f0_range=(0, 12))


def run(apply_fn, params, x, family, n=64, chunk_size=8, **kw):
    """Chunks of 8 unless told: equal configurations share one compilation across tests."""
    return importance.permutation_importance(
        apply_fn, params, x, family=family, n_permutations=n, key=jax.random.key(0), chunk_size=chunk_size, **kw
    )


def test_semitone_summing_model_has_zero_microtonal_importance(features):
    res = run(sigmoid_apply, semitone_matrix(), features, MICRO)
    assert np.max(np.abs(res.importances)) < 1e-6  # float rounding of reordered sums only
    assert res.ci_high < 1e-6


def test_centre_reading_model_has_microtonal_importance_above_zero(features):
    for scope in ("all", "one"):
        res = run(centre_apply, 2.0, features, permutations.microtonal(n_bins=F, bins_per_semitone=B, scope=scope))
        assert res.ci_low > 0.0, scope
        assert res.clip_ci_low > 0.0  # every clip is affected too


def test_model_blind_to_band_has_zero_importance_inside_it(features):
    """Exactly 0 where the arithmetic is identical by construction: the model slices the bins it
    reads and maps each one elementwise, so the permuted forward (batch chunk·n_clips) computes the
    same floats as the reference forward (batch n_clips) whatever the CPU's blocking."""
    kept = np.r_[0:10, 16:F]

    def blind(scale, x):
        return jnp.tanh(scale * x[:, kept, :])

    inside = run(blind, 1.5, features, permutations.random_spectral(n_bins=F, band=(10, 16)))
    np.testing.assert_array_equal(inside.importances, 0.0)
    assert inside.ci_high == 0.0
    outside = run(blind, 1.5, features, permutations.random_spectral(n_bins=F, band=(0, 6)))
    assert outside.ci_low > 0.0


def test_matmul_model_blind_to_band_is_zero_up_to_rounding(features):
    """A model that multiplies the band's bins by 0 inside a matmul: the permuted and the reference
    forward run at different batch sizes, so XLA's blocking and float rounding differ between them
    (3e-8 was seen on one CPU): zero within 1e-6, i.e. float32 rounding of O(1) sums."""
    w = W.copy()
    w[10:16] = 0
    inside = run(tanh_apply, w, features, permutations.random_spectral(n_bins=F, band=(10, 16)))
    np.testing.assert_allclose(inside.importances, 0.0, atol=1e-6)
    outside = run(tanh_apply, w, features, permutations.random_spectral(n_bins=F, band=(0, 6)))
    assert outside.ci_low > 1e-3


def test_importances_match_mir_eval_and_scipy_per_draw(features):
    """Draw i = family.sample(fold_in(key, i)); F1 from mir_eval, BCE from scipy; signs."""
    rng = np.random.default_rng(2)
    targets = (rng.random((N_CLIPS, P, T)) < 0.4).astype(np.float32)
    f1 = run(centre_apply, 3.0, features, MICRO, n=5, metric="frame_f1", targets=targets, threshold=0.5)
    bce = run(centre_apply, 3.0, features, MICRO, n=5, metric="bce", targets=targets)
    times = np.arange(T) / 100.0

    def lists(roll):
        return times, [mir_eval.util.midi_to_hz(21 + np.flatnonzero(roll[:, t] >= 0.5)) for t in range(T)]

    def f1_of(y, ref):
        s = mir_eval.multipitch.evaluate(*lists(ref), *lists(y))
        p, r = s["Precision"], s["Recall"]
        return 2 * p * r / (p + r) if p + r else 0.0

    y0 = np.asarray(centre_apply(3.0, features), np.float64)
    for i in range(5):
        idx, _ = MICRO.sample(jax.random.fold_in(jax.random.key(0), i))
        y = np.asarray(centre_apply(3.0, features[:, np.asarray(idx), :]), np.float64)
        want_f1 = np.mean([f1_of(y0[c], targets[c]) - f1_of(y[c], targets[c]) for c in range(N_CLIPS)])
        nll = lambda yy: -scipy.stats.bernoulli.logpmf(targets, np.clip(yy, 1e-7, 1 - 1e-7)).mean(axis=(1, 2))  # noqa: E731
        want_bce = np.mean(nll(y) - nll(y0))
        np.testing.assert_allclose(f1.importances[i], want_f1, atol=1e-6)
        np.testing.assert_allclose(bce.importances[i], want_bce, rtol=1e-4, atol=1e-6)


def test_same_draws_for_any_chunk_size(features):
    results = [run(tanh_apply, W, features, HARM, n=70, chunk_size=c) for c in (1, 7, 64)]
    for r in results[1:]:
        np.testing.assert_array_equal(r.group_ids, results[0].group_ids)
        np.testing.assert_allclose(r.importances, results[0].importances, rtol=1e-5, atol=1e-7)
    assert results[0].config["n_permutations"] == 70


_MULTI_DEVICE = """
import json, sys
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh
sys.path.insert(0, {tests!r})
from test_importance import HARM, W, tanh_apply
from amt_jax import importance
assert len(jax.devices()) == 4, jax.devices()
x = np.load({path!r})
mesh = Mesh(np.array(jax.devices()), ("draws",))
r = importance.permutation_importance(tanh_apply, W, x, family=HARM, n_permutations=70, key=jax.random.key(0),
                                      chunk_size=8, mesh=mesh)
a = importance.permutation_importance(tanh_apply, W, x, family=HARM, n_permutations=16, key=jax.random.key(0),
                                      chunk_size=8, mesh=mesh, target_halfwidth={target!r})
print(json.dumps({{"importances": r.importances.tolist(), "groups": r.group_ids.tolist(), "n_devices": r.config["n_devices"],
                   "adaptive": a.importances.tolist(), "adaptive_groups": a.group_ids.tolist()}}))
"""


def test_same_draws_on_four_devices(features, tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, features)
    env = {**os.environ, "XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    fixed = run(tanh_apply, W, features, HARM, n=16)
    target = float((fixed.ci_high - fixed.ci_low) / 2 / 2)  # adaptive stopping: needs ≈ 4x the draws
    code = _MULTI_DEVICE.format(tests=str(REPO / "tests"), path=str(path), target=target)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    multi = json.loads(out.stdout.strip().splitlines()[-1])
    single = run(tanh_apply, W, features, HARM, n=70, chunk_size=8)
    assert multi["n_devices"] == 4
    np.testing.assert_array_equal(multi["groups"], single.group_ids)
    np.testing.assert_allclose(multi["importances"], single.importances, rtol=1e-5, atol=1e-7)
    adaptive = run(tanh_apply, W, features, HARM, n=16, target_halfwidth=target)
    assert adaptive.config["n_permutations"] > 16
    np.testing.assert_array_equal(multi["adaptive_groups"], adaptive.group_ids)  # same stopping point, same draws
    np.testing.assert_allclose(multi["adaptive"], adaptive.importances, rtol=1e-5, atol=1e-7)


def test_inputs_are_put_on_the_device_once(features, monkeypatch):
    """Without a mesh, params, features and targets reach every chunk call as the same device
    arrays (not host numpy arrays copied again on each call)."""
    seen = []
    from amt_jax.estimators import importance as estimator  # the module whose chunk the spy replaces

    chunk = estimator._chunk

    def spy(params, x, y_ref, base, targets, *args, **kwargs):
        seen.append((params, x, targets))
        return chunk(params, x, y_ref, base, targets, *args, **kwargs)

    monkeypatch.setattr(estimator, "_chunk", spy)
    targets = (np.random.default_rng(6).random((N_CLIPS, P, T)) < 0.5).astype(np.float32)
    res = run(sigmoid_apply, W, features, HARM, n=24, metric="bce", targets=targets)
    assert len(seen) == 3
    for params, x, t in seen:
        assert all(isinstance(a, jax.Array) for a in (params, x, t))
        assert x is seen[0][1] and t is seen[0][2] and params is seen[0][0]
    monkeypatch.undo()
    np.testing.assert_allclose(run(sigmoid_apply, W, features, HARM, n=24, metric="bce", targets=targets).importances,
                               res.importances, rtol=1e-6)


def test_compiles_once_for_all_chunks_and_calls(features):
    traces = []

    def counting_apply(w, x):
        traces.append(x.shape)
        return tanh_apply(w, x)

    run(counting_apply, W, features, HARM, n=10)  # 2 chunks of 8, the last one padded
    assert len(traces) == 2  # the reference pass and the chunk
    run(counting_apply, W, features, HARM, n=29)
    assert len(traces) == 2


@dataclasses.dataclass(frozen=True)
class Static:
    """A family that is not a pytree: the engine keeps all of it static (a constant of the program)."""

    family: object

    @property
    def n_bins(self):
        return self.family.n_bins

    @property
    def groups(self):
        return self.family.groups

    def sample(self, key, draw=None):
        return self.family.sample(key, draw)


def test_families_that_differ_only_in_data_share_one_compiled_chunk(features):
    """A family's data are traced (:mod:`amt_jax.perturb.pytree`): runs that differ only in them
    (other f0 weights, another shift, a band of the same width elsewhere, another h below the same
    ``max_harmonics``) reuse one compiled
    chunk, and give the draws and numbers of the same family kept static (as the engine kept every
    family before: one program per family)."""
    from amt_jax.estimators import runner

    rng = np.random.default_rng(8)

    def harmonic(h, **kw):  # f0 weights with zeros in other places: other fundamentals, the same table shapes
        weights = rng.random(F) * (rng.random(F) < 0.5)
        weights[3] = 1.0
        return permutations.harmonic(n_bins=F, bins_per_octave=12, n_harmonics=h, f0_range=(0, 12),
                                     f0_weights=weights, **kw)

    pairs = [lambda: (harmonic(4), harmonic(4)),
             lambda: (permutations.bin_shift(n_bins=F, bins=1), permutations.bin_shift(n_bins=F, bins=-2)),
             lambda: (permutations.random_spectral(n_bins=F, band=(0, 12)),
                      permutations.random_spectral(n_bins=F, band=(12, 24))),
             lambda: (harmonic(2, max_harmonics=4), harmonic(4, max_harmonics=4))]
    for pair in pairs:
        first, second = pair()
        assert first != second
        results = [run(tanh_apply, W, features, first, n=16)]
        compiled = runner.chunk._cache_size()
        results.append(run(tanh_apply, W, features, second, n=16))
        assert runner.chunk._cache_size() == compiled, (first, second)  # no new program for the second family
        for family, res in zip((first, second), results):
            static = run(tanh_apply, W, features, Static(family), n=16)
            np.testing.assert_array_equal(res.group_ids, static.group_ids)
            np.testing.assert_allclose(res.draw_clip_importances, static.draw_clip_importances, rtol=0, atol=1e-6)
            np.testing.assert_allclose(res.input_change, static.input_change, rtol=0, atol=1e-6)
    unpadded = run(tanh_apply, W, features, dataclasses.replace(first, max_harmonics=None), n=16)
    np.testing.assert_array_equal(unpadded.group_ids, results[0].group_ids)  # padding changes no draw
    np.testing.assert_allclose(unpadded.draw_clip_importances, results[0].draw_clip_importances, rtol=0, atol=1e-6)


def test_normal_ci_coverage_of_known_expectation():
    """Linear model, mean-difference metric, uniform shuffle of a band: the expected
    importance is known in closed form. Normal CIs of 2,000 replications of 100 draws each."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, F, T)).astype(np.float32)
    w = rng.normal(size=(F, 2)).astype(np.float32)
    lo, hi = 4, 14
    # E[x[π(f)]] = band mean for f in the band, so E[imp] = mean_{c,p,t} Σ_f w[f,p] (x̄_band − x[f])
    dev = x[:, lo:hi, :].mean(axis=1, keepdims=True) - x[:, lo:hi, :]  # [c, band, t]
    expected = np.einsum("fp,cft->cpt", w[lo:hi].astype(np.float64), dev).mean()

    def mean_shift(y, y_ref, targets):
        return jnp.mean(y - y_ref, axis=(1, 2))

    reps, n = 2000, 100
    res = importance.permutation_importance(
        linear_apply, w, x, family=permutations.random_spectral(n_bins=F, band=(lo, hi)), n_permutations=reps * n,
        key=jax.random.key(1), metric=mean_shift, chunk_size=4000, greater_is_better=False,
    )
    low, high = stats.normal_ci(res.importances.reshape(reps, n).T)  # replication r = draws r·n .. r·n + n − 1
    coverage = np.mean((low <= expected) & (expected <= high))
    assert 0.93 <= coverage <= 0.97, coverage
    np.testing.assert_allclose(res.importances_mean, expected, atol=4 * res.standard_error)


def test_per_pitch_and_dict_output(features):
    scalar = run(tanh_apply, W, features, HARM, n=20)
    pitches = run(tanh_apply, W, features, HARM, n=20, per_pitch=True)
    assert pitches.importances.shape == (20, P)
    np.testing.assert_allclose(pitches.importances.mean(axis=1), scalar.importances, rtol=1e-5)
    assert pitches.ci_low.shape == (P,)

    def dict_apply(w, x):
        y = tanh_apply(w, x)
        return {"note": y, "onset": 2 * y}

    note = run(dict_apply, W, features, HARM, n=20, output="note")
    np.testing.assert_allclose(note.importances, scalar.importances, rtol=1e-6)
    with pytest.raises(ValueError, match="output"):
        run(dict_apply, W, features, HARM, n=20)


def test_paired_contrast_of_harmonic_against_control():
    """Model reads bin 0 only; the harmonic family always deranges f0 = 0's harmonics (bin 0
    included), its size-matched control hits bin 0 rarely: the contrast is positive."""
    x = np.random.default_rng(4).normal(size=(N_CLIPS, 60, T)).astype(np.float32)
    kw = dict(n_bins=60, bins_per_octave=12, n_harmonics=4, f0_range=(0, 1), derangement=True)
    apply = lambda s, x: jax.nn.sigmoid(s * x[:, :1, :])  # noqa: E731
    res = run(apply, 1.0, x, permutations.harmonic(**kw), n=100)
    ctl = run(apply, 1.0, x, permutations.harmonic_control(**kw), n=100)
    out = importance.paired_contrast(res, ctl)
    assert out["group"].tolist() == [0] and out["n"].tolist() == [100]
    assert out["mean"][0] > 0 and out["p"][0] < 1e-6 and out["q"][0] < 1e-6
    short = run(apply, 1.0, x, permutations.harmonic_control(**kw), n=50)
    with pytest.raises(ValueError, match="control"):
        importance.paired_contrast(res, short)


def test_paired_contrast_rejects_results_that_do_not_pair():
    """Single-group families give equal shapes and group ids for unrelated runs: the contrast must
    still refuse another key, other clips, another family or a control of other arguments."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 60, T)).astype(np.float32)
    kw = dict(n_bins=60, bins_per_octave=12, n_harmonics=4, f0_range=(0, 1), derangement=True)
    apply = lambda s, x: jax.nn.sigmoid(s * x[:, :1, :])  # noqa: E731

    def go(family, features=x, seed=0, **extra):
        return importance.permutation_importance(
            apply, 1.0, features, family=family, n_permutations=8, key=jax.random.key(seed), chunk_size=8, **extra
        )

    res = go(permutations.harmonic(**kw))
    importance.paired_contrast(res, go(permutations.harmonic_control(**kw)))  # pairs
    bad = {
        "key": go(permutations.harmonic_control(**kw), seed=99),
        "n_clips": go(permutations.harmonic_control(**kw), features=x[:1]),
        "feature_shape": go(permutations.harmonic_control(**kw), features=rng.normal(size=(2, 60, T + 2)).astype(np.float32)),
        "metric": go(permutations.harmonic_control(**kw), metric="bce", targets=np.zeros((2, 1, T), np.float32)),
        "family": go(permutations.harmonic_control(**{**kw, "n_harmonics": 3})),
    }
    for field, control in bad.items():
        assert control.group_ids.tolist() == res.group_ids.tolist() and control.importances.shape == res.importances.shape
        with pytest.raises(ValueError, match=f"^control must .*{field}"):
            importance.paired_contrast(res, control)
    with pytest.raises(ValueError, match="^control must be the size-matched control"):
        importance.paired_contrast(res, res)  # a family is not its own control
    spectral = go(permutations.random_spectral(n_bins=60))
    micro = go(permutations.microtonal(n_bins=60, bins_per_semitone=3), seed=99)
    with pytest.raises(ValueError, match="^control must be the size-matched control"):
        importance.paired_contrast(spectral, micro)


def test_adaptive_stopping_reaches_target_and_keeps_draws(features):
    fixed = run(tanh_apply, W, features, HARM, n=16)
    target = (fixed.ci_high - fixed.ci_low) / 2 / 2  # needs ≈ 4x the draws
    res = run(tanh_apply, W, features, HARM, n=16, target_halfwidth=float(target))
    n = res.config["n_permutations"]
    assert n > 16 and (res.ci_high - res.ci_low) / 2 <= target
    np.testing.assert_allclose(res.importances[:16], fixed.importances, rtol=1e-6)
    capped = run(tanh_apply, W, features, HARM, n=16, target_halfwidth=1e-9, max_permutations=44)
    assert capped.config["n_permutations"] == 44  # 16, 24, 32, 40, then capped


def test_progress_reports_every_chunk(features):
    calls = []
    run(tanh_apply, W, features, HARM, n=20, progress=lambda done, planned: calls.append((done, planned)))
    assert calls == [(8, 20), (16, 20), (20, 20)]
    calls.clear()
    res = run(tanh_apply, W, features, HARM, n=16, target_halfwidth=1e-9, max_permutations=24,
              progress=lambda done, planned: calls.append((done, planned)))
    assert calls == [(8, 16), (16, 24), (24, 24)] and res.config["n_permutations"] == 24


def test_result_summary_and_serialisation(features):
    res = run(tanh_apply, W, features, HARM, n=40, ci_method="percentile", n_bootstrap=200)
    np.testing.assert_allclose(res.clip_importances.mean(axis=0), res.importances_mean, rtol=1e-9)
    assert res.ci_low < res.importances_mean < res.ci_high
    assert res.clip_ci_low < res.importances_mean < res.clip_ci_high
    # the Monte Carlo CI is the stats module's percentile bootstrap over draws, keyed by
    # fold_in(fold_in(key, 0xFFFFFFFF), 0) (compared against scipy in test_stats)
    stats_key = jax.random.fold_in(jax.random.key(0), 0xFFFFFFFF)
    want = stats.percentile_bootstrap_ci(res.importances, key=jax.random.fold_in(stats_key, 0), n_resamples=200)
    np.testing.assert_allclose((res.ci_low, res.ci_high), want, rtol=1e-12)
    # the piece-level CI: t over the clusters' means (each clip its own cluster by default), as scipy computes it
    clip = res.clip_importances
    want = scipy.stats.t.interval(0.95, N_CLIPS - 1, loc=clip.mean(), scale=scipy.stats.sem(clip))
    np.testing.assert_allclose((res.clip_ci_low, res.clip_ci_high), want, rtol=1e-9)
    assert res.n_clusters == N_CLIPS and res.draw_clip_importances.shape == (40, N_CLIPS)
    np.testing.assert_allclose(res.draw_clip_importances.mean(axis=1), res.importances, rtol=1e-6)
    # and within Monte Carlo error of scipy's percentile bootstrap of the same draws
    ref = scipy.stats.bootstrap((res.importances,), np.mean, method="percentile", n_resamples=20000, random_state=0)
    se = res.standard_error
    assert abs(res.ci_low - ref.confidence_interval.low) < 0.35 * se
    assert abs(res.ci_high - ref.confidence_interval.high) < 0.35 * se
    groups = res.by_group()
    assert groups["n"].sum() == 40 and set(groups["group"]) <= set(range(12))
    text = json.dumps(res.to_dict())
    assert json.loads(text)["family"]["name"] == "Harmonic"
    assert set(res.arrays()) == {"importances", "group_ids", "clip_importances", "draw_clip_importances",
                                 "input_change", "clusters"}


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(n_permutations=0), "n_permutations"),
        (dict(features=np.zeros((F, T), np.float32)), "features"),
        (dict(features=np.full((1, F, T), np.nan, np.float32)), "features"),
        (dict(features=np.zeros((1, F + 1, T), np.float32)), "features"),
        (dict(metric="frame_f1"), "targets"),
        (dict(metric="accuracy"), "metric"),
        (dict(chunk_size=0), "chunk_size"),
        (dict(ci_method="bca"), "ci_method"),
        (dict(target_halfwidth=-1.0), "target_halfwidth"),
        (dict(key=0), "key"),
        (dict(targets=np.zeros((1, P + 1, T), np.float32), metric="bce"), "targets"),
    ],
)
def test_validation_names_the_argument(features, kwargs, arg):
    call = {"features": features[:1], "n_permutations": 4, "key": jax.random.key(0), **kwargs}
    x = call.pop("features")
    with pytest.raises(ValueError, match=arg):
        importance.permutation_importance(tanh_apply, W, x, family=HARM, **call)


def untouchable_apply(w, x):
    raise AssertionError("apply_fn ran before the arguments were validated")


@pytest.mark.parametrize(
    "kwargs,arg",
    [
        (dict(features=np.zeros((0, F, T), np.float32)), "features"),
        (dict(target_halfwidth=1.0, max_permutations=0), "max_permutations"),
        (dict(max_permutations=10), "max_permutations"),  # a cap without adaptive stopping
        (dict(target_halfwidth=1.0, max_permutations=3), "max_permutations"),  # < n_permutations = 4
        (dict(threshold=float("nan")), "threshold"),
        (dict(threshold=0.0), "threshold"),
        (dict(threshold=1.5), "threshold"),
        (dict(family=None), "family"),
        (dict(family=permutations.random_spectral), "family"),
        (dict(metric="frame_f1", targets=np.zeros((1, P, T), np.float32), greater_is_better=True), "greater_is_better"),
        (dict(greater_is_better=False), "greater_is_better"),  # output_l1 is a loss already
        (dict(per_pitch="yes"), "per_pitch"),
        (dict(confidence=1.5), "confidence"),
        (dict(confidence=0.0), "confidence"),
        (dict(targets=np.zeros((2, P, T), np.float32), metric="bce"), "targets"),  # 2 rolls for 1 clip
    ],
)
def test_validation_before_any_compute(features, kwargs, arg):
    call = {"features": features[:1], "n_permutations": 4, "key": jax.random.key(0), "family": HARM, **kwargs}
    x = call.pop("features")
    with pytest.raises(ValueError, match=arg):
        importance.permutation_importance(untouchable_apply, W, x, **call)


def test_callable_metric_output_must_match_per_pitch(features):
    """per_pitch=True asks a callable for [n_clips, P], per_pitch=False for [n_clips]; checked when traced."""

    def l1_per_clip(y, y_ref, targets):
        return jnp.mean(jnp.abs(y - y_ref), axis=(1, 2))

    def l1_per_pitch(y, y_ref, targets):
        return jnp.mean(jnp.abs(y - y_ref), axis=2)

    with pytest.raises(ValueError, match=r"must return \[n_clips, P\] = \(4, 8\) with per_pitch=True.*got shape \(4,\)"):
        run(tanh_apply, W, features, HARM, n=8, metric=l1_per_clip, per_pitch=True)
    with pytest.raises(ValueError, match=r"must return \[n_clips\] = \(4,\) with per_pitch=False.*got shape \(4, 8\)"):
        run(tanh_apply, W, features, HARM, n=8, metric=l1_per_pitch)
    res = run(tanh_apply, W, features, HARM, n=8, metric=l1_per_pitch, per_pitch=True)
    builtin = run(tanh_apply, W, features, HARM, n=8, per_pitch=True)
    assert res.config["per_pitch"] and res.importances.shape == (8, P)
    np.testing.assert_allclose(res.importances, builtin.importances, rtol=1e-6)





def test_duplicating_windows_of_a_piece_never_narrows_the_piece_interval(features):
    """Clips 0, 1 from piece 0 and 2, 3 from piece 1: the piece-level interval is over the 2 pieces;
    repeating every window 3 times changes nothing (up to float rounding: other batch shapes), while
    counting windows as independent (the former window-level view) narrows it."""
    clusters = np.array([0, 0, 1, 1])
    res = run(tanh_apply, W, features, HARM, n=16, clusters=clusters)
    assert res.n_clusters == 2
    dup_x, dup_c = np.repeat(features, 3, axis=0), np.repeat(clusters, 3)
    dup = run(tanh_apply, W, dup_x, HARM, n=16, clusters=dup_c)
    np.testing.assert_allclose((dup.clip_ci_low, dup.clip_ci_high), (res.clip_ci_low, res.clip_ci_high), rtol=1e-5)
    naive = run(tanh_apply, W, dup_x, HARM, n=16)
    assert naive.clip_ci_high - naive.clip_ci_low < 0.7 * (res.clip_ci_high - res.clip_ci_low)
    contrast = importance.paired_contrast(run(tanh_apply, W, features, HARM, n=16, clusters=clusters),
                                          run(tanh_apply, W, features, HARM_CONTROL, n=16, clusters=clusters))
    assert contrast["piece"]["n_clusters"] == 2 and np.isfinite(contrast["piece"]["p"])


def test_stratified_draws_give_every_group_the_same_count(features):
    fam = permutations.harmonic(n_bins=F, bins_per_octave=12, n_harmonics=4, f0_range=(0, 12), stratified=True)
    res = run(tanh_apply, W, features, fam, n=36)
    np.testing.assert_array_equal(res.group_ids, np.arange(36) % 12)
    by = res.by_group()
    assert by["n"].tolist() == [3] * 12
    ctl = run(tanh_apply, W, features, permutations.harmonic_control(n_bins=F, bins_per_octave=12, n_harmonics=4,
                                                                     f0_range=(0, 12), stratified=True), n=36)
    importance.paired_contrast(res, ctl)  # the control targets the same fundamentals draw for draw


def test_adaptive_stopping_by_piece_level_precision(features):
    """mc_fraction: stop once the Monte Carlo SE is a fraction of the piece-level SE; a smaller
    fraction needs more draws, and the rule holds where it stopped."""
    # clips that differ (the piece-level SE then has a floor the draws cannot lower; with identical
    # clips the piece-level SE is Monte Carlo noise itself and the rule never fires)
    loud = features * np.array([0.3, 1.0, 2.0, 4.0], np.float32)[:, None, None]
    loose = run(tanh_apply, W, loud, HARM, n=16, mc_fraction=1.0, max_permutations=400)
    tight = run(tanh_apply, W, loud, HARM, n=16, mc_fraction=0.1, max_permutations=400)
    assert 16 <= loose.config["n_permutations"] < tight.config["n_permutations"]
    if tight.config["n_permutations"] < 400:
        assert tight.standard_error <= 0.1 * tight.piece_standard_error * 1.5  # inflated SE used when stopping


# --------------------------------------------------------------------------- frame-wise models


def _frame_wise_tanh(w, x):
    return tanh_apply(w, x)


from amt_jax.models.model import frame_wise, is_frame_wise  # noqa: E402

frame_wise(_frame_wise_tanh)


def test_frame_wise_outputs_run_the_model_on_the_needed_frames_only():
    """The frames not needed keep the reference (a sentinel the model never outputs), the needed ones
    get the model's own output, over several tiles and with none needed."""
    from amt_jax.estimators.runner import frame_wise_outputs

    x = jnp.asarray(np.random.default_rng(2).normal(size=(2, 3, F, T)).astype(np.float32))  # [C, n, F, T]
    y_ref = jnp.full((3, P, T), -7.0)  # tanh never gives −7
    need = np.random.default_rng(3).random((2, 3, T)) < 0.4
    y = np.asarray(frame_wise_outputs(_frame_wise_tanh, W, x, y_ref, jnp.asarray(need), output=None, tile=5))
    full = np.asarray(tanh_apply(W, x.reshape(6, F, T))).reshape(2, 3, P, T)
    needed = np.broadcast_to(need[:, :, None, :], y.shape)
    np.testing.assert_allclose(y[needed], full[needed], rtol=1e-5, atol=1e-6)
    assert np.all(y[~needed] == -7.0) and need.sum() > 5  # more than one tile of 5
    none = frame_wise_outputs(_frame_wise_tanh, W, x, y_ref, jnp.zeros((2, 3, T), bool), output=None, tile=5)
    assert np.all(np.asarray(none) == -7.0)


def test_a_frame_wise_model_gives_the_draws_of_the_full_forward(features):
    """Planted: the same per-frame model, marked frame-wise (the engine runs it on the frames a draw
    changed and, for key_drop, on the frames where the draw's key sounds) or not (every frame):
    the same draws, up to float rounding, for a metric that reads some frames and one that reads all."""
    from amt_jax.frontend.layout import FrequencyLayout
    from amt_jax.perturb.key_families import harmonic_swap
    from amt_jax.perturb.keys import key_weights_from_targets

    rng = np.random.default_rng(5)
    targets = (rng.random((N_CLIPS, P, T)) < 0.35).astype(np.float32)
    targets[:, 0, :2] = 1  # every clip has a sounding key
    layout = FrequencyLayout(n_bins=F, bins_per_semitone=B, center_offset=1, n_pitches=P)
    swap = harmonic_swap(layout=layout, n_harmonics=2, key_weights=key_weights_from_targets(targets, per_clip=True))
    for family, kw in ((swap, {"metric": "key_drop", "per_pitch": True, "targets": targets}), (HARM, {})):
        a = run(_frame_wise_tanh, W, features, family, n=24, **kw)
        b = run(tanh_apply, W, features, family, n=24, **kw)
        np.testing.assert_array_equal(a.group_ids, b.group_ids)
        np.testing.assert_allclose(a.importances, b.importances, rtol=1e-5, atol=1e-6, equal_nan=True)
        assert np.isfinite(a.importances).any()


def test_the_engine_takes_the_frame_wise_path_only_for_a_marked_model(features, monkeypatch):
    """The equality above would also hold if the engine never took the frame-wise path: count it."""
    from amt_jax.estimators import runner

    calls = []
    original = runner.frame_wise_outputs

    def spy(*args, **kwargs):
        calls.append(args[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(runner, "frame_wise_outputs", spy)

    def marked(w, x):  # fresh functions: the chunk is traced again, not taken from jit's cache
        return tanh_apply(w, x)

    def unmarked(w, x):
        return tanh_apply(w, x)

    frame_wise(marked)
    run(marked, W, features, HARM, n=8)
    run(unmarked, W, features, HARM, n=8)
    assert calls == [marked]
    from amt_jax.estimators.reliance import logit_of

    assert is_frame_wise(logit_of(marked, None)) and not is_frame_wise(logit_of(unmarked, None))
