"""Harmonic reliance and the factorial design, proven on planted models whose truth is known
(positive, null and artefact cases), on synthetic comb features with labels."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from amt_jax import FrequencyLayout
from amt_jax import importance
from amt_jax import permutations
from amt_jax.perturb.keys import key_weights_from_targets
from amt_jax.models import planted

B, H = 3, 4
LAYOUT = planted.layout(B)
DATA = planted.synthetic(n_clips=8, bins_per_semitone=B, seed=3, clips_per_piece=2)
CLUSTERS = np.arange(8) // 2
WEIGHTS = key_weights_from_targets(DATA.targets)
_COMB = np.asarray([[LAYOUT.pitch_bin(p) + o for o in LAYOUT.harmonic_offsets(H)] for p in range(LAYOUT.n_pitches)])
ON_AXIS = _COMB < LAYOUT.n_bins  # the top keys' upper harmonics fall off the axis
COMB = np.minimum(_COMB, LAYOUT.n_bins - 1)


def harmonics_mean(x):
    """Mean of each key's harmonics 2..h on the axis, ``[..., P, T]`` (gathered bins, elementwise: no matmul)."""
    vals = jnp.where(ON_AXIS[:, 1:, None], x[..., COMB[:, 1:], :], 0.0)
    return jnp.sum(vals, axis=-2) / np.maximum(ON_AXIS[:, 1:].sum(axis=1), 1)[:, None]


def harmonic_reader(scale, x):
    """Key p fires on the mean of its harmonics 2..h."""
    return jax.nn.sigmoid(scale * (harmonics_mean(x) - 0.25))


def fundamental_reader(scale, x):
    """Key p reads only its fundamental's bin."""
    return jax.nn.sigmoid(scale * (x[..., COMB[:, 0], :] - 0.5))


def random_model(w, x):
    """No harmonic structure: a random linear map, then a sigmoid."""
    return jax.nn.sigmoid(jnp.einsum("pf,...ft->...pt", w, x) - 1.0)


def swap(include_fundamental=False, key_weights=WEIGHTS, **kw):
    return permutations.harmonic_swap(layout=LAYOUT, n_harmonics=H, key_weights=key_weights,
                                      include_fundamental=include_fundamental, **kw)


def reliance(apply, params, family, n=96, seed=0):
    res = importance.permutation_importance(apply, params, DATA.features, family=family, n_permutations=n,
                                            key=jax.random.key(seed), metric="key_drop", per_pitch=True,
                                            targets=DATA.targets, clusters=CLUSTERS, chunk_size=min(n, 64))
    return res, importance.harmonic_reliance(res, family)


# --------------------------------------------------------------------------- the family


def test_harmonic_swap_moves_harmonics_to_mistuned_partners():
    fam = permutations.harmonic_swap(layout=LAYOUT, n_harmonics=H)
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(1), i))(np.arange(400))
    idx, q = jax.jit(jax.vmap(fam.sample))(keys, np.arange(400))
    idx, q = np.asarray(idx), np.asarray(q)
    for d in range(400):
        assert sorted(idx[d]) == list(range(LAYOUT.n_bins))  # a permutation
        assert np.all(idx[d][idx[d]] == np.arange(LAYOUT.n_bins))  # made of swaps
        comb = set(COMB[q[d]].tolist()) if COMB[q[d]].max() < LAYOUT.n_bins - 1 else set(
            LAYOUT.harmonic_bins(q[d], H))
        moved = np.flatnonzero(idx[d] != np.arange(LAYOUT.n_bins))
        members = [b for b in LAYOUT.harmonic_bins(q[d], H)[1:]]
        assert set(members) <= set(moved) or len(moved) < 2 * len(members)  # members near the top may lack a partner
        for b in set(moved) & set(members):
            partner = idx[d][b]
            assert B <= abs(partner - b) <= 2 * B  # one to two semitones
            assert partner not in comb  # never on a harmonic 1..h of q
        assert LAYOUT.pitch_bin(q[d]) not in moved  # the fundamental stays


def test_key_weights_target_keys_that_sound():
    fam = swap()
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(2), i))(np.arange(500))
    _, q = jax.jit(jax.vmap(fam.sample))(keys, np.arange(500))
    q = np.asarray(q)
    assert np.all(WEIGHTS[q] > 0) and set(q) == set(np.flatnonzero(WEIGHTS))
    expected = WEIGHTS[np.flatnonzero(WEIGHTS)] / WEIGHTS.sum()
    counts = np.bincount(q, minlength=len(WEIGHTS))[np.flatnonzero(WEIGHTS)]
    assert scipy.stats.chisquare(counts, 500 * expected).pvalue > 1e-3  # drawn in proportion to the weights
    strat = swap(stratified=True)
    _, q = jax.jit(jax.vmap(strat.sample))(keys[:20], np.arange(20))
    np.testing.assert_array_equal(np.asarray(q), np.resize(np.flatnonzero(WEIGHTS), 20))


# --------------------------------------------------------------------------- planted proofs


def test_harmonic_reader_relies_on_its_own_harmonics():
    _, out = reliance(harmonic_reader, 6.0, swap())
    assert out["contrast"]["ci_low"] > 0 and out["contrast"]["piece_ci_low"] > 0, out["contrast"]
    assert out["off_diagonal"]["mean"] == 0.0  # untouched combs are read exactly as before
    assert out["map"].shape == (48, 48)


def test_per_clip_keys_keep_every_clip_in_every_draw_and_every_estimate_is_centred():
    """Each clip draws its own sounding key: every clip has a diagonal on every draw, no piece
    leaves the cell, and every interval is centred on the one estimate (the mean over pieces)."""
    family = swap(key_weights=key_weights_from_targets(DATA.targets, per_clip=True))
    res, out = reliance(harmonic_reader, 6.0, family, n=32)
    assert res.group_ids.shape == (32, 8)
    assert np.all(DATA.targets[np.arange(8)[None, :], res.group_ids].sum(axis=-1) > 0)  # each clip's key sounds in it
    contrast = out["contrast"]
    assert contrast["n_pieces"] == contrast["n_pieces_total"] == 4 and contrast["n"] == 32
    assert contrast["crossed_ci_low"] > 0 and contrast["p"] < 0.05  # the harmonic reader relies on its harmonics
    assert out["off_diagonal"]["mean"] == 0.0
    for name in ("diagonal", "off_diagonal", "contrast"):
        est = out[name]
        for lo, hi in (("ci_low", "ci_high"), ("piece_ci_low", "piece_ci_high"), ("crossed_ci_low", "crossed_ci_high")):
            assert (est[lo] + est[hi]) / 2 == pytest.approx(est["mean"], rel=1e-9, abs=1e-12), (name, lo)
    assert out["map_counts"].sum() == 32 * 8  # one diagonal per draw and clip


def test_by_register_finds_reliance_only_where_it_was_planted():
    """Planted: keys in the middle third of the sounding keys read their harmonics, the others only
    their fundamental (the top keys' harmonics 2..h lie off this axis). The middle register's
    contrast is positive, the low and high ones exactly 0."""
    sounding = np.flatnonzero(WEIGHTS)
    middle = np.array_split(sounding, 3)[1]
    reads_harmonics = np.isin(np.arange(LAYOUT.n_pitches), middle)[:, None]

    def split_reader(scale, x):
        return jnp.where(reads_harmonics, harmonic_reader(scale, x), fundamental_reader(scale, x))

    family = swap(key_weights=key_weights_from_targets(DATA.targets, per_clip=True))
    _, out = reliance(split_reader, 6.0, family, n=48)
    regs = {r["register"]: r for r in out["by_register"]}
    assert list(regs) == ["low", "middle", "high"]
    assert regs["middle"]["crossed_ci_low"] > 0 and (regs["middle"]["midi_low"], regs["middle"]["midi_high"]) == tuple(
        LAYOUT.midi(middle[[0, -1]]))
    assert regs["low"]["mean"] == 0.0 and regs["high"]["mean"] == 0.0
    assert sum(r["n_keys"] for r in regs.values()) == len(sounding)


def local_reader(scale, x):
    """Key p reads the semitone below to the semitone above its fundamental (±1 semitone, ±B bins)."""
    lo = np.clip(COMB[:, :1] + np.arange(-B, B + 1)[None, :], 0, LAYOUT.n_bins - 1)
    return jax.nn.sigmoid(scale * (jnp.mean(x[..., lo, :], axis=-2) - 0.25))


def energy_reader(scale, x):
    """Every key reads the frame's total energy, wherever it lies."""
    return jax.nn.sigmoid(scale * (jnp.broadcast_to(jnp.mean(x, axis=-2, keepdims=True),
                                                    x.shape[:-2] + (LAYOUT.n_pitches, x.shape[-1])) - 0.1))


@pytest.mark.parametrize("model, separates", [(harmonic_reader, True), (local_reader, False), (energy_reader, False)])
def test_sham_comb_separates_a_harmonic_reader_from_local_and_energy_readers(model, separates):
    """The sham comb (inharmonic offsets, same keys and draw structure) against the real one: a
    harmonic reader drops more when its harmonics move (real − sham > 0); a reader of ±1 semitone
    around the fundamental and a reader of the frame's total energy drop alike (both 0)."""
    weights = key_weights_from_targets(DATA.targets, per_clip=True)
    real, sham = (swap(key_weights=weights, comb=comb) for comb in ("harmonic", "sham"))
    res_real, out_real = reliance(model, 6.0, real, n=32)
    res_sham, out_sham = reliance(model, 6.0, sham, n=32)
    np.testing.assert_array_equal(res_real.group_ids, res_sham.group_ids)  # the same keys, draw for draw
    diff = importance.reliance_difference(out_real, out_sham, CLUSTERS)
    if separates:
        assert diff["crossed_ci_low"] > 0 and out_real["diagonal"]["mean"] > 2 * abs(out_sham["diagonal"]["mean"])
    else:
        # exactly 0 up to the float rounding of a sum taken in another order (the energy reader)
        assert max(abs(out_real["diagonal"]["mean"]), abs(out_sham["diagonal"]["mean"]), abs(diff["mean"])) < 1e-7


def test_sham_blocks_lie_between_harmonics_and_move_like_the_real_ones():
    family = permutations.harmonic_swap(layout=LAYOUT, n_harmonics=H, comb="sham")
    assert family.width == B  # the partial's whole semitone by default
    keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(1), i))(np.arange(50))
    idx, q = (np.asarray(a) for a in jax.jit(jax.vmap(family.sample))(keys, np.arange(50)))
    n_moved = 0
    for d in range(50):
        moved = set(np.flatnonzero(idx[d] != np.arange(LAYOUT.n_bins)))
        real = {b + w for b in LAYOUT.harmonic_bins(q[d], H) for w in range(-(B // 2), B - B // 2)}
        assert not moved & real  # no bin of a real harmonic 1..h moves
        sham = {LAYOUT.pitch_bin(q[d]) + o + w for o in LAYOUT.sham_offsets(H) for w in range(-(B // 2), B - B // 2)}
        assert moved <= sham | set(idx[d][sorted(moved & sham)])  # sham blocks and their partners only
        n_moved += bool(moved)  # the top keys' sham blocks lie off the axis
    assert n_moved >= 25
    with pytest.raises(ValueError, match="comb must be one of"):
        permutations.harmonic_swap(layout=LAYOUT, n_harmonics=H, comb="fake")
    with pytest.raises(ValueError, match=r"blocks at \+156 and \+158 bins overlap with width=3"):  # harmonics 20, 21
        permutations.harmonic_swap(layout=LAYOUT, n_harmonics=21)
    for kw in ({"comb": "sham"}, {"matched": True}):  # no room for a sham at h = 12: no matched count either
        with pytest.raises(ValueError, match="sham block .* overlaps the harmonic"):
            permutations.harmonic_swap(layout=LAYOUT, n_harmonics=12, **kw)


def test_sham_and_matched_real_combs_move_as_many_blocks_at_h8():
    """On Basic Pitch's geometry at h = 8 and width B the sham's partners often have no room between
    the harmonics: it moves as many blocks as the real comb would for the same key and bits, and
    ``matched`` caps the real comb to the sham's count; the uncapped real comb moves all it can."""
    lay = FrequencyLayout(n_bins=309, bins_per_semitone=3, center_offset=0, n_pitches=88)
    weights = np.zeros(88)
    weights[17:61] = 1  # MIDI 38–81

    def blocks_moved(**kw):
        fam = permutations.harmonic_swap(layout=lay, n_harmonics=8, key_weights=weights, stratified=True, **kw)
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.key(0), i))(np.arange(44))
        idx = np.asarray(jax.jit(jax.vmap(fam.sample))(keys, np.arange(44))[0])
        return (idx != np.arange(lay.n_bins)).sum(axis=1) // (2 * 3)

    sham, matched, real = blocks_moved(comb="sham"), blocks_moved(matched=True), blocks_moved()
    np.testing.assert_array_equal(sham, matched)
    assert np.all(real >= sham) and real.mean() > sham.mean() and sham.min() >= 3


def test_real_sham_and_matched_combs_of_every_h_share_one_compiled_program():
    """The combs' offsets and key weights are data (:mod:`amt_jax.perturb.pytree`): the real comb,
    its sham and its matched version (per-clip keys), and with ``max_harmonics`` every h up to it,
    compile one chunk and one ``moved_draws`` program; padding changes no draw."""
    from amt_jax.estimators import reliance as reliance_module, runner

    weights = key_weights_from_targets(DATA.targets, per_clip=True)

    def compiles(families):
        reliance_module._moved_draws.clear_cache()  # an earlier test may have compiled these families' program
        before = runner.chunk._cache_size(), reliance_module._moved_draws._cache_size()
        out = [reliance(harmonic_reader, 6.0, family, n=16) for family in families]
        after = runner.chunk._cache_size(), reliance_module._moved_draws._cache_size()
        return out, (after[0] - before[0], after[1] - before[1])

    combs = ({}, {"comb": "sham"}, {"matched": True})
    _, count = compiles([swap(key_weights=weights, **kw) for kw in combs])
    assert count == (1, 1)
    padded, count = compiles([permutations.harmonic_swap(layout=LAYOUT, n_harmonics=h, key_weights=weights,
                                                         max_harmonics=H + 1, **kw) for h in (2, H) for kw in combs])
    assert count == (1, 1)
    for (h, kw), (res, out) in zip([(h, kw) for h in (2, H) for kw in combs], padded):
        alone, out_alone = reliance(harmonic_reader, 6.0, permutations.harmonic_swap(
            layout=LAYOUT, n_harmonics=h, key_weights=weights, **kw), n=16)
        np.testing.assert_array_equal(res.group_ids, alone.group_ids)
        np.testing.assert_allclose(res.draw_clip_importances, alone.draw_clip_importances, rtol=0, atol=1e-6)
        np.testing.assert_allclose(out["contrast"]["draw_clip"], out_alone["contrast"]["draw_clip"], rtol=0, atol=1e-6)


def test_attenuation_sets_the_blocks_to_the_clip_floor_and_draws_the_swaps_keys():
    weights = key_weights_from_targets(DATA.targets, per_clip=True)
    att = swap(key_weights=weights, manipulation="attenuate")
    assert isinstance(att, permutations.HarmonicAttenuation)
    x = jnp.asarray(DATA.features)
    xp, q = jax.jit(att.perturb)(jax.random.key(4), x, 0)
    _, q_swap = jax.jit(swap(key_weights=weights).sample)(jax.random.key(4), 0)
    np.testing.assert_array_equal(np.asarray(q), np.asarray(q_swap))
    xp, x = np.asarray(xp), np.asarray(x)
    for c in range(x.shape[0]):
        changed = np.flatnonzero(np.any(xp[c] != x[c], axis=-1))
        blocks = {LAYOUT.pitch_bin(int(q[c])) + o + w for o in LAYOUT.harmonic_offsets(H)[1:]
                  for w in range(-(B // 2), B - B // 2)} & set(range(LAYOUT.n_bins))  # a block may hang off the axis
        assert set(changed) <= blocks and np.all(xp[c, sorted(blocks)] == x[c].min())
    _, out = reliance(harmonic_reader, 6.0, att, n=16)
    assert out["contrast"]["crossed_ci_low"] > 0  # the harmonic reader loses its harmonics either way


def test_fundamental_reader_has_exactly_zero_reliance():
    _, out = reliance(fundamental_reader, 6.0, swap())
    assert out["diagonal"]["mean"] == 0.0 and out["off_diagonal"]["mean"] == 0.0
    assert out["diagonal"]["ci_high"] == 0.0 and out["contrast"]["mean"] == 0.0
    _, moved = reliance(fundamental_reader, 6.0, swap(include_fundamental=True), n=32)
    assert moved["diagonal"]["ci_low"] > 0  # moving the fundamental does matter to it


def cue_model(mix, x):
    """OR (mix = [1, 0, 0]), AND ([0, 1, 0]) or the fundamental reader ([0, 0, 1]) as one function, so
    the three share one compilation; the unused cues are multiplied by exactly 0 (elementwise: the
    fundamental reader's output does not move when only harmonics do)."""
    f, h = x[..., COMB[:, 0], :], harmonics_mean(x)
    return jax.nn.sigmoid(6.0 * (mix[0] * jnp.maximum(f, h) + mix[1] * jnp.minimum(f, h) + mix[2] * (f - 0.25) - 0.25))


def test_factorial_or_and_models_and_the_fundamental_reader():
    kw = dict(layout=LAYOUT, targets=DATA.targets, n_harmonics=H, n_permutations=96, key=jax.random.key(5),
              clusters=CLUSTERS, chunk_size=32)
    either = importance.factorial(cue_model, np.array([1.0, 0, 0], np.float32), DATA.features, **kw)
    assert either["interaction"]["ci_low"] > 0, either["interaction"]  # recovers the note from either cue
    both = importance.factorial(cue_model, np.array([0, 1.0, 0], np.float32), DATA.features, **kw)
    assert abs(both["F"]["mean"] - both["FH"]["mean"]) < 0.25 * both["FH"]["mean"]  # one cue gone is all gone
    assert both["interaction"]["ci_high"] < 0
    fund = importance.factorial(cue_model, np.array([0, 0, 1.0], np.float32), DATA.features, **kw)
    assert fund["H"]["mean"] == 0.0 and fund["H"]["ci_high"] == 0.0  # v(H) = 0 exactly
    assert fund["F"]["ci_low"] > 0
    # keys per clip by default: every clip contributes on every draw, so every piece stays
    assert fund["results"]["F"].group_ids.shape == (96, 8)
    assert all(either[k]["n_pieces"] == either[k]["n_pieces_total"] == 4 for k in ("F", "H", "FH", "interaction"))


def additive_logit(params, x):
    """``sigmoid(a·f + a·h − c)``: additive in its two cues on the logit scale (``params = (a, c)``)."""
    f, h = x[..., COMB[:, 0], :], harmonics_mean(x)
    return jax.nn.sigmoid(params[0] * (f + h) - params[1])


def test_the_logit_scale_factorial_finds_an_additive_model_additive_wherever_its_bias_puts_it():
    """Planted: a model additive in its logit has interaction ≈ 0 on the logit scale for two
    different biases; on the probability scale the same model reads as super- or sub-additive,
    depending on where the bias puts it on the sigmoid."""
    kw = dict(layout=LAYOUT, targets=DATA.targets, n_harmonics=H, n_permutations=48, key=jax.random.key(5),
              clusters=CLUSTERS, chunk_size=48)
    signs = []
    for bias in (1.0, 7.0):
        params = np.array([6.0, bias], np.float32)
        logit = importance.factorial(additive_logit, params, DATA.features, **kw)
        assert logit["scale"] == "logit" and abs(logit["interaction"]["mean"]) < 1e-4 * logit["FH"]["mean"]
        assert logit["interaction"]["crossed_ci_low"] <= 0 <= logit["interaction"]["crossed_ci_high"]
        prob = importance.factorial(additive_logit, params, DATA.features, scale="probability", **kw)
        assert not prob["interaction"]["crossed_ci_low"] <= 0 <= prob["interaction"]["crossed_ci_high"], prob["interaction"]
        signs.append(np.sign(prob["interaction"]["mean"]))
        ratios = logit["ratios"]
        assert ratios["F"] + ratios["H"] == pytest.approx(1.0, abs=1e-4)  # additive: the parts sum to the whole
    assert signs[0] != signs[1]  # the probability scale's verdict flips with the bias


def test_replacements_come_from_frames_where_the_key_is_silent():
    """Features that carry their frame index: every replaced bin of a clip shows a frame where that
    clip's key is silent (a clip where the key never falls silent falls back to the derangement)."""
    n_clips, n_frames = DATA.targets.shape[0], DATA.targets.shape[-1]
    x = np.broadcast_to(np.arange(n_frames, dtype=np.float32), (n_clips, LAYOUT.n_bins, n_frames)).copy()
    fam = permutations.key_replacement(layout=LAYOUT, n_harmonics=H, part="both", silent_from=DATA.targets,
                                       key_weights=key_weights_from_targets(DATA.targets, per_clip=True))
    checked = 0
    perturb = jax.jit(fam.perturb)  # once: a jit made anew in the loop would compile anew
    for draw in range(8):
        xp, q = perturb(jax.random.fold_in(jax.random.key(3), draw), jnp.asarray(x), draw)
        xp, q = np.asarray(xp), np.asarray(q)
        for c in range(n_clips):
            if DATA.targets[c, q[c]].all():
                continue
            checked += 1
            rows = np.flatnonzero(np.any(xp[c] != x[c], axis=-1))
            sources = xp[c][rows].astype(int)
            assert np.all(DATA.targets[c, q[c], sources] == 0), (draw, c)
            assert np.all(fam.mask(q[c])[rows])  # only q's blocks
    assert checked >= 16
    old = permutations.key_replacement(layout=LAYOUT, n_harmonics=H, part="both",
                                       key_weights=key_weights_from_targets(DATA.targets, per_clip=True))
    xp, q = (np.asarray(a) for a in jax.jit(old.perturb)(jax.random.key(3), jnp.asarray(x), 0))
    assert any(np.any(DATA.targets[c, q[c], xp[c][np.any(xp[c] != x[c], axis=-1)].astype(int)] > 0)
               for c in range(n_clips))  # a plain derangement does take frames where q sounds


def test_random_models_center_the_contrast_on_zero_while_the_seed_family_gap_stays_negative():
    """The artefact reproduced and removed: for 50 random linear models (no harmonic structure) the
    seed family's harmonic − size-matched-control gap is negative (a comb's bins co-vary, so
    shuffling them moves less input), while the reliance contrast is centred on 0."""
    contrasts, gaps = [], []
    harm = permutations.harmonic(n_bins=LAYOUT.n_bins, bins_per_octave=LAYOUT.bins_per_octave, n_harmonics=H,
                                 f0_range=LAYOUT.key_bins)
    ctl = permutations.harmonic_control(n_bins=LAYOUT.n_bins, bins_per_octave=LAYOUT.bins_per_octave, n_harmonics=H,
                                        f0_range=LAYOUT.key_bins)
    for seed in range(50):
        w = np.random.default_rng(seed).normal(size=(LAYOUT.n_pitches, LAYOUT.n_bins)).astype(np.float32) / np.sqrt(12)
        _, out = reliance(random_model, w, swap(), n=64, seed=seed)
        contrasts.append(out["contrast"]["mean"])
        kw = dict(n_permutations=64, key=jax.random.key(seed), chunk_size=64)
        a = importance.permutation_importance(random_model, w, DATA.features, family=harm, **kw)
        b = importance.permutation_importance(random_model, w, DATA.features, family=ctl, **kw)
        gaps.append(a.importances_mean - b.importances_mean)
    contrasts, gaps = np.array(contrasts), np.array(gaps)
    assert scipy.stats.binomtest(int(np.sum(contrasts > 0)), len(contrasts)).pvalue > 0.01, contrasts
    assert np.mean(gaps) < 0 and scipy.stats.ttest_1samp(gaps, 0.0).pvalue < 0.01, gaps  # ≈ 2e-5 here


def test_reliance_refuses_other_runs():
    res, _ = reliance(harmonic_reader, 6.0, swap(), n=8)
    with pytest.raises(ValueError, match="reproduce"):  # another family's arguments: other draws
        importance.harmonic_reliance(res, swap(stratified=True))
    other = importance.permutation_importance(harmonic_reader, 6.0, DATA.features, family=swap(), n_permutations=8,
                                              key=jax.random.key(0), chunk_size=8)
    with pytest.raises(ValueError, match="key_drop"):
        importance.harmonic_reliance(other, swap())
    with pytest.raises(ValueError, match="harmonic_swap"):
        importance.harmonic_reliance(res, permutations.random_spectral(n_bins=LAYOUT.n_bins))
    with pytest.raises(ValueError, match="target keys"):
        importance.permutation_importance(harmonic_reader, 6.0, DATA.features, n_permutations=8, key=jax.random.key(0),
                                          family=permutations.random_spectral(n_bins=LAYOUT.n_bins), metric="key_drop",
                                          targets=DATA.targets)
