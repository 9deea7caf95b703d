"""How each kind of sweep cell is computed (the ``compute`` of the probe table's entries).

Every function takes ``(cell, inputs, context)`` and returns ``(summary, arrays)``: the summary goes
into the cell's JSON (config, estimates, the model's frequency layout), the arrays into its NPZ.
Random draws use the cell's key (:func:`cell_key`): draw i is ``fold_in(cell_key, i)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from amt_jax.sweep.context import Computed, Context, Inputs

if TYPE_CHECKING:
    from amt_jax.sweep.cells import Cell


def counted(n, word: str) -> str:
    """``1 draw``, ``32 draws``, ``? pieces`` (n unknown)."""
    return f"{'?' if n is None else n} {word}{'' if n == 1 else 's'}"


def no_interval(n_draws, n_pieces) -> str:
    """Why a cell has no interval: one draw (nothing varies across draws) and/or fewer than 2 pieces."""
    reasons = ([] if n_draws is None or n_draws >= 2 else ["1 draw"]) + \
              ([] if n_pieces is None or n_pieces >= 2 else ["fewer than 2 pieces"])
    return f"{' and '.join(reasons) or 'too few draws or pieces'}: no interval"


def interval_text(estimate: float, low, high, kind: str, n_draws, n_pieces) -> str:
    """``m [low, high] KIND over n draws × k pieces``, or ``m (1 draw: no interval; ...)`` when the
    bounds are missing or not finite: never ``[nan, nan]``."""
    over = f"{counted(n_draws, 'draw')} × {counted(n_pieces, 'piece')}"
    bounds = [np.nan if v is None else float(v) for v in (low, high)]
    if not np.all(np.isfinite(bounds)):
        return f"{estimate:.4g} ({no_interval(n_draws, n_pieces)}; {over})"
    return f"{estimate:.4g} [{bounds[0]:.4g}, {bounds[1]:.4g}] {kind} over {over}"


def describe_importance(result: dict) -> str:
    """``importance m [crossed CI] over n draws × k pieces`` (NaN saved as null reads as nan; a run
    with one piece: the Monte Carlo CI; neither: why there is no interval)."""
    def f(k):
        return float(np.asarray(result.get(k), float))

    n, k = result["n_permutations"], result.get("n_clusters")
    if np.isfinite(f("crossed_ci_low")):
        line = "importance " + interval_text(f("piece_mean"), f("crossed_ci_low"), f("crossed_ci_high"), "crossed", n, k)
    else:
        line = "importance " + interval_text(f("importances_mean"), f("ci_low"), f("ci_high"), "(Monte Carlo)", n, k)
    identity = result.get("n_identity_draws") or 0
    if not identity:
        return line
    line += f"; {identity} of {n} draws moved nothing (identity permutations)"
    if result.get("moved_mean") is None:
        return line
    return line + ": over the other " + interval_text(f("moved_mean"), f("moved_crossed_ci_low"),
                                                      f("moved_crossed_ci_high"), "crossed", n - identity, k)


def cell_key(cell: Cell):
    """The cell's root key: ``fold_in(PRNGKey(seed), key_tag)``."""
    import jax

    return jax.random.fold_in(jax.random.PRNGKey(cell.seed), cell.key_tag())


def layout_record(inputs: Inputs) -> dict[str, int]:
    """The frequency layout a cell's result is read with (plots, per-semitone tables)."""
    return inputs.layout.to_dict()


def importance_cell(make_family: Callable[[Cell, Inputs, Context], Any]) -> Callable[[Cell, Inputs, Context], Computed]:
    """``compute`` of a permutation-importance kind: ``make_family(cell, inputs, context)`` through
    :func:`amt_jax.estimators.importance.permutation_importance` on the note output, clustered by
    piece, with the probe's ``metric`` option (default ``output_l1``; ``frame_f1``: the drop of frame
    F1 against the labels at the model's frame threshold, a signed cost); the NPZ also gets each
    clip's piece index and program."""

    def compute(cell: Cell, inputs: Inputs, ctx: Context) -> Computed:
        from amt_jax import estimators

        family = make_family(cell, inputs, ctx)
        stopping = ctx.stopping(balanced_draws(cell, family, cell.n))
        metric = cell.probe.option("metric", "output_l1")
        scored = {} if metric == "output_l1" else {
            "metric": metric, "targets": inputs.targets, "threshold": float(inputs.model.frame_threshold)}
        result = estimators.permutation_importance(
            inputs.apply_fn, inputs.params, inputs.features, family=family,
            key=cell_key(cell), chunk_size=min(ctx.chunk_size, cell.n), output=inputs.output, mesh=ctx.mesh,
            clusters=inputs.clusters, progress=ctx.progress, **scored, **stopping,
        )
        arrays = result.arrays()
        if inputs.programs is not None:
            arrays["programs"] = np.asarray(inputs.programs)
        return {**result.summary(), **moved_draws(result), **layout_record(inputs)}, arrays

    return compute


def moved_draws(result) -> dict[str, Any]:
    """Identity draws flagged: ``n_identity_draws``, the draws that changed no clip's input (a one-key
    microtonal draw whose permutation of the key's bins is the identity), and when some did and at
    least 2 others moved, the estimate over the moved draws alone: ``moved_mean`` and its crossed
    interval ``moved_crossed_ci_low/high`` (draws and pieces random)."""
    from amt_jax import stats

    identity = np.all(np.asarray(result.input_change) == 0, axis=1)
    out: dict[str, Any] = {"n_identity_draws": int(identity.sum())}
    values = np.asarray(result.draw_clip_importances)
    if identity.any() and (~identity).sum() >= 2 and values.ndim == 2:
        est = stats.crossed_estimate(values[~identity], result.clusters, confidence=result.confidence)
        out.update({"moved_mean": est["mean"], "moved_crossed_ci_low": est["crossed_ci_low"],
                    "moved_crossed_ci_high": est["crossed_ci_high"]})
    return out


def balanced_draws(cell: Cell, family, n: int) -> int:
    """``n`` draws, rounded up to a multiple of a stratified family's groups (every group the same
    number of draws), with a printed note when rounded."""
    if not getattr(family, "stratified", False):
        return n
    groups = len(family.groups)
    balanced = -(-n // groups) * groups
    if balanced != n:
        print(f"note: {cell.id}: {n} draws rounded up to {balanced}, a multiple of the {groups} groups a stratified "
              "family targets in turn")
    return balanced


def harmonic_family(cell: Cell, inputs: Inputs, ctx: Context | None = None):
    """The seed harmonic family (or its size-matched control): fundamentals on the keys' semitones,
    drawn among the bins of the keys that sound (by their frames) when the data has labels."""
    from amt_jax import perturb

    lay = inputs.layout
    make = perturb.harmonic_control if cell.probe.option("control", False) else perturb.harmonic
    weights = None if inputs.targets is None else lay.bin_weights(perturb.key_weights_from_targets(inputs.targets))
    h = dict(cell.params)["n_harmonics"]
    return make(n_bins=lay.n_bins, bins_per_octave=lay.bins_per_octave, n_harmonics=h, f0_range=lay.key_bins,
                stratified=bool(ctx and ctx.stratified), f0_weights=weights, max_harmonics=ctx.padded(h) if ctx else None)


def microtonal_family(cell: Cell, inputs: Inputs, ctx: Context | None = None):
    from amt_jax import perturb

    scope = cell.probe.option("scope")
    return perturb.microtonal(layout=inputs.layout, scope=scope, stratified=bool(ctx and ctx.stratified and scope == "one"))


def band_bins(cell: Cell, inputs: Inputs) -> tuple[int, int]:
    """Bins ``(lo, hi)`` of a random-spectral cell's band of semitones on the model's axis (the
    whole axis, headroom included, for ``band="all"``)."""
    band = dict(cell.params)["band"]
    return (0, inputs.layout.n_bins) if band == "all" else inputs.layout.semitone_range(*band)


def band_family(cell: Cell, inputs: Inputs, ctx: Context | None = None):
    from amt_jax import perturb

    return perturb.random_spectral(n_bins=inputs.layout.n_bins, band=band_bins(cell, inputs))


def noise(cell: Cell, inputs: Inputs, ctx: Context) -> Computed:
    """The noise response under the cell's distribution (``flat``: one distribution for every bin,
    the features' pooled mean and spread; ``per_bin``: each bin its own) clipped to the features'
    range, with the kernel over lags ``-lags..lags``."""
    from amt_jax.estimators import noise as noise_lib

    params = dict(cell.params)
    x = inputs.features
    dist = noise_lib.flat_distribution(x) if params["distribution"] == "flat" else noise_lib.per_bin_distribution(x)
    resp = noise_lib.noise_response(
        inputs.apply_fn, inputs.params, shape=x.shape[1:], n_samples=cell.n, key=cell_key(cell), **dist,
        lags=params["lags"], output=inputs.output, chunk_size=min(ctx.chunk_size, cell.n), n_batches=min(20, cell.n),
    )
    out = resp.output_mean
    keys = inputs.layout.n_pitches
    summary = {**resp.config, **layout_record(inputs), "r2": resp.r2, "r2_ci_low": resp.r2_ci_low,
               "r2_ci_high": resp.r2_ci_high, "output_mean_mean": float(out[:keys].mean()),
               "output_mean_max": float(out[:keys].max()), "output_mean_argmax": int(out[:keys].argmax())}
    return summary, resp.arrays()


def _key_targets(inputs: Inputs) -> np.ndarray:
    if inputs.targets is None:
        raise ValueError("this probe needs the labels of the clips' frames (targets), but the data has none")
    return inputs.targets


RELIANCE_VARIANTS = {"width1": {"width": 1}, "attenuate": {"manipulation": "attenuate"}}


def _run_reliance(cell: Cell, inputs: Inputs, ctx: Context, family, key):
    from amt_jax import estimators

    result = estimators.permutation_importance(
        inputs.apply_fn, inputs.params, inputs.features, family=family, n_permutations=balanced_draws(cell, family, cell.n),
        key=key, metric="key_drop", per_pitch=True, targets=inputs.targets, clusters=inputs.clusters,
        output=inputs.output, chunk_size=min(ctx.chunk_size, cell.n), mesh=ctx.mesh, progress=ctx.progress,
    )
    return result, estimators.harmonic_reliance(result, family, key=key)


def _blocks_moved(family, moved: np.ndarray) -> float:
    """Mean number of width-wide member blocks in a family's moved bins (``estimators.moved_bins``;
    a swap's partners not counted)."""
    per_block = family.width * (1 if hasattr(family, "moved") else 2)  # an attenuation has no partners
    return float(moved.sum(axis=-1).mean() / per_block)


def reliance(cell: Cell, inputs: Inputs, ctx: Context) -> Computed:
    """Harmonic reliance: ``harmonic_swap`` of the sounding keys (each clip its own, by frames; the
    cell's ``variant``: the partial's centre bin only, or attenuation), scored with ``key_drop`` per
    key, then :func:`amt_jax.estimators.reliance.harmonic_reliance`; and its standing sham control,
    the same draws at inharmonic offsets (``comb="sham"``): ``real_minus_sham`` is the paired
    difference of the drop at the key between the real comb moving as many blocks as the sham
    (``matched``; the uncapped real run when they are the same draws) and the sham. The summary
    records ``output_kind``, the kind of the output read (its :class:`~amt_jax.models.Output`
    record): the findings sentence of a ``key_mass`` output reads real − sham, not the contrast."""
    from amt_jax import estimators
    from amt_jax import perturb

    targets = _key_targets(inputs)
    params = dict(cell.params)
    kw = dict(layout=inputs.layout, n_harmonics=params["n_harmonics"], stratified=ctx.stratified,
              key_weights=perturb.key_weights_from_targets(targets, per_clip=not ctx.stratified),
              max_harmonics=ctx.padded(params["n_harmonics"]), **RELIANCE_VARIANTS.get(params.get("variant"), {}))
    key = cell_key(cell)
    real_family = perturb.harmonic_swap(**kw)
    result, rel = _run_reliance(cell, inputs, ctx, real_family, key)
    try:
        sham_family = perturb.harmonic_swap(**kw, comb="sham")
    except ValueError as err:  # no room for a sham comb at this h and width: the contrast stands alone
        rel["sham"], rel["real_minus_sham"] = {"note": str(err)}, None
        sham_family = None
    if sham_family is not None:
        matched_family = perturb.harmonic_swap(**kw, matched=True)
        n = int(result.importances.shape[0])
        real_moved = estimators.moved_bins(real_family, n, key)
        same = np.array_equal(estimators.moved_bins(matched_family, n, key), real_moved)
        matched = rel if same else _run_reliance(cell, inputs, ctx, matched_family, key)[1]
        _, sham = _run_reliance(cell, inputs, ctx, sham_family, key)
        rel["real_minus_sham"] = estimators.reliance_difference(matched, sham, inputs.clusters)
        rel["sham"] = {k: sham[k] for k in ("diagonal", "off_diagonal", "contrast")}
        rel["sham"]["blocks_moved"] = _blocks_moved(sham_family, estimators.moved_bins(sham_family, n, key))
        rel["sham"]["real_blocks_moved"] = _blocks_moved(real_family, real_moved)
    parts = ("diagonal", "off_diagonal", "contrast")
    arrays = {**result.arrays(), "reliance_map": rel["map"], "reliance_map_counts": rel["map_counts"],
              **{f"{k}_clip_means": rel[k].pop("clip_means") for k in parts},
              **{f"{k}_draw_clip": rel[k].pop("draw_clip") for k in parts}}
    if rel["real_minus_sham"] is not None:
        arrays.update({f"sham_{k}_draw_clip": rel["sham"][k].pop("draw_clip") for k in parts})
        arrays["real_minus_sham_draw_clip"] = rel["real_minus_sham"].pop("draw_clip")
        arrays["real_minus_sham_clip_means"] = rel["real_minus_sham"].pop("clip_means")
        for k in parts:
            rel["sham"][k].pop("clip_means")
    if inputs.programs is not None:
        arrays["programs"] = np.asarray(inputs.programs)
    summary = {**{k: v for k, v in result.summary().items() if not isinstance(v, list) or k in ("key", "feature_shape")},
               "reliance": {k: rel[k] for k in ("diagonal", "off_diagonal", "contrast", "n_dropped", "by_register",
                                                "sham", "real_minus_sham")},
               "output_kind": inputs.model.output_kind, **layout_record(inputs)}
    return summary, arrays


def factorial(cell: Cell, inputs: Inputs, ctx: Context) -> Computed:
    """The factorial design (v(F), v(H), v(F∪H), interaction) for the sounding keys, on the logit
    scale (the model's ``logits`` capability, else the logit of its clipped output), each
    replacement from a frame where the key is silent."""
    from amt_jax import estimators
    from amt_jax import perturb

    targets = _key_targets(inputs)
    sounding = perturb.key_replacement(layout=inputs.layout, n_harmonics=1, part="both", stratified=ctx.stratified,
                                       key_weights=perturb.key_weights_from_targets(targets))
    h = dict(cell.params)["n_harmonics"]
    out = estimators.factorial(
        inputs.apply_fn, inputs.params, inputs.features, layout=inputs.layout, targets=targets, n_harmonics=h,
        max_harmonics=ctx.padded(h), n_permutations=balanced_draws(cell, sounding, cell.n), key=cell_key(cell),
        clusters=inputs.clusters, output=inputs.output, chunk_size=min(ctx.chunk_size, cell.n), mesh=ctx.mesh,
        stratified=ctx.stratified, progress=ctx.progress, scale="logit",
        logits_fn=inputs.model.logits if inputs.model.has("logits") else None,
    )
    arrays = {f"{name}_{k}": v for name, r in out["results"].items() for k, v in r.arrays().items()
              if k in ("importances", "group_ids", "draw_clip_importances", "input_change")}
    arrays["clusters"] = np.asarray(inputs.clusters)
    arrays.update({f"{k}_clip_means": out[k].pop("clip_means") for k in ("F", "H", "FH", "interaction")})
    arrays.update({f"{k}_draw_clip": out[k].pop("draw_clip") for k in ("F", "H", "FH", "interaction")})
    if inputs.programs is not None:
        arrays["programs"] = np.asarray(inputs.programs)
    summary = {"factorial": {k: out[k] for k in ("F", "H", "FH", "interaction", "by_register", "ratios", "scale")},
               "n_permutations": int(out["results"]["F"].importances.shape[0]),
               "family": out["results"]["F"].config["family"], **layout_record(inputs)}
    return summary, arrays


def pooling_family(cell: Cell, inputs: Inputs, ctx: Context | None = None):
    """Semitone pooling: every key's semitone (``pooling_all``) or one key's per draw (``pooling_one``)."""
    from amt_jax import perturb

    scope = cell.probe.option("scope")
    return perturb.semitone_pooling(layout=inputs.layout, scope=scope, stratified=bool(ctx and ctx.stratified))


def shift_family(cell: Cell, inputs: Inputs, ctx: Context | None = None):
    """The whole axis moved by the probe's ``bins`` (−1: a bin down, a third of a semitone flat at B = 3)."""
    from amt_jax import perturb

    return perturb.bin_shift(n_bins=inputs.layout.n_bins, bins=cell.probe.option("bins"))


def example(cell: Cell, inputs: Inputs, ctx: Context) -> Computed:
    """The first clip X, and of ``cell.n`` harmonic draws the πX changing the model's output most
    (a random f0 often misses every note), with outputs before and after."""
    import jax

    from amt_jax.estimators.importance import family_config

    family = harmonic_family(cell, inputs)
    key = cell_key(cell)
    idx, groups = jax.jit(jax.vmap(family.sample))(jax.vmap(lambda i: jax.random.fold_in(key, i))(np.arange(cell.n)))
    idx, groups = np.asarray(idx), np.asarray(groups)
    x = inputs.features[0]
    # one compiled call on the clip and its draws (op by op, a scanned model compiled ~250 small programs)
    y_all = np.asarray(jax.jit(inputs.model.probabilities)(inputs.params, np.concatenate([x[None], x[idx]])))
    y, y_perm = y_all[0], y_all[1:]  # [P, T], [draws, P, T]
    change = np.mean(np.abs(y_perm - y), axis=(1, 2))
    best = int(np.argmax(change))
    arrays = {"x": x, "x_perm": x[idx[best]], "y": y, "y_perm": y_perm[best], "idx": idx[best], "output_l1": change}
    summary = {"family": family_config(family), "draw": best, "n_draws": cell.n,
               "group": int(groups[best]), "output_l1": float(change[best]), **layout_record(inputs)}
    return summary, arrays




def probe_keys(cell: Cell, inputs: Inputs, ctx: Context) -> Computed:
    """Probe tones on every key of the model (:func:`amt_jax.tones.probe_tones`; the probe's
    ``timbres`` and ``levels_dbfs``, ``cell.n`` repetitions): detection per key with false positives."""
    from amt_jax import tones

    result = tones.probe_tones(inputs.model, timbres=cell.probe.option("timbres"),
                               levels_dbfs=cell.probe.option("levels_dbfs"), n_repeats=cell.n, seed=cell.seed)
    record = tones.to_json(result)
    summary = {k: record[k] for k in ("timbres", "levels_dbfs", "midi", "detected", "confusions", "key_f1",
                                      "missing_fundamental")}
    summary["baselines"] = record["config"]["baselines"]
    summary["recall"] = record["metrics"]["recall"]
    summary["false_positive"] = record["metrics"]["false_positive"]
    arrays = {"midi": result.midi, "rates": result.rates, "valid": result.valid,
              **{f"samples_{m}": v for m, v in result.samples.items()}}
    return {**summary, **layout_record(inputs)}, arrays


NOISE_BASELINE_DB = -60.0  # RMS of the noise a frame-normalising model's attribution starts from


def _attribution_baseline(kind: str, inputs: Inputs, key) -> tuple:
    """``(baseline, record)`` of grad × input, IG and occlusion: on features of audio,
    :func:`amt_jax.explain.baselines.choose_baseline` through the model's own frontend on a window of
    silence or of quiet noise (``auto``: noise for a model that normalises each frame over bins);
    on synthetic features (no audio to start from), their floor 0."""
    from amt_jax.constants import HOP_LENGTH, SAMPLE_RATE, WINDOW_SAMPLES
    from amt_jax.explain import baselines

    if inputs.provenance.get("data", {}).get("data") == "synthetic" or not inputs.model.reads_audio:
        return 0.0, {"kind": "silence", "value": 0.0, "what": "synthetic features: their floor, 0"}
    frontend = inputs.model.frontend_on(SAMPLE_RATE, HOP_LENGTH, "the corpus's windows and frames")
    return baselines.choose_baseline(kind, inputs.model, frontend, inputs.features, WINDOW_SAMPLES, key=key,
                                     level_db=NOISE_BASELINE_DB)


def cross_method(cell: Cell, inputs: Inputs, ctx: Context) -> Computed:
    """Every explanation method of the probe's ``methods`` on the same groups of bins (harmonics of
    each clip's keys, semitones, octave bands; :func:`amt_jax.explain.crossmethod.score_clips`), their
    pairwise agreement per kind of group with piece intervals, and their harmonic profiles."""
    import jax

    from amt_jax.explain import crossmethod as cm

    key = cell_key(cell)
    baseline, baseline_record = _attribution_baseline(cell.probe.option("baseline"), inputs, jax.random.fold_in(key, 2))
    settings = cm.Settings(methods=tuple(cell.probe.option("methods")), n_harmonics=dict(cell.params)["n_harmonics"],
                           chunk_size=ctx.chunk_size, baseline=baseline)
    table = cm.score_clips(inputs.model, inputs.features, _key_targets(inputs), key=jax.random.fold_in(key, 0),
                           settings=settings)
    summary = {"methods": list(settings.methods), "n_harmonics": settings.n_harmonics, "labels": table.labels,
               "harmonic_profile": cm.harmonic_profiles(table, inputs.clusters),
               "agreement": cm.agreements(table, inputs.clusters, key=jax.random.fold_in(key, 1), n_resamples=cell.n),
               "baseline": baseline_record}
    arrays = {"clusters": np.asarray(inputs.clusters), "baseline": np.asarray(baseline, np.float32),
              **{f"scores_{m}": v for m, v in table.scores.items()},
              **{f"key_map_{m}": v for m, v in table.key_maps.items()}}
    return {**summary, **layout_record(inputs)}, arrays
