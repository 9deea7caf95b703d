"""Cross-method evidence for a model (issue 13; Basic Pitch by default, any registry spec with
``--model``, e.g. ``pesto``, issue 25): one table of groups scored by every method, their
agreement, I(h) of the harmonic stack, IG's completeness and LRP's conservation, and the
randomisation checks. Writes one JSON (and an NPZ of the tables and maps beside it), atomically.

Usage, from the repository root::

    python -m amt_jax data build chorales --data-dir D --n-pieces 60
    python -m experiments.cross_method --data-dir D --out outputs/cross_method.json [--model basic-pitch] \\
        [--per-piece 2] [--pieces N] [--cascade-clips all] [--stack-draws 16] [--label-steps 0 --label-pieces 4]

The model is read through its capabilities: its features from ``frontend_on`` (the corpus's
audio rate and frame step), its keys' labels cut from the corpus's (``model_keys``), the LRP
methods only with an ``lrp`` adapter (what it explains is recorded: ``inputs.lrp_explains``),
I(h) only with a harmonic ``stack`` (the stack part and the cascade's I(h) record why they were
skipped). The baseline of grad × input, IG and occlusion (``inputs.baseline``, ``--baseline``):
silence, its frontend's features of silent audio; for a model that normalises each frame over
bins (its logits do not move when every bin of a frame moves together, e.g. PESTO's LayerNorm:
silence is then a degenerate, flat input) its features of quiet white noise frame by frame, a map
``[F, T]`` (``--noise-db`` dBFS RMS; a frame of it spreads over ≈ 5 dB across bins, so the path from
it does not pass through the normalisation's ε) — ``auto``, the default, picks by that test and
records it (:mod:`amt_jax.explain.baselines`; noise is refused for a frontend that normalises the
level away, as Basic Pitch's does; the NPZ keeps the baseline as ``baseline``). Label randomisation trains the ``tiny`` Basic Pitch
variant on the corpus's own labels, whatever ``--model`` is.

Clips: ``--per-piece`` Basic Pitch windows of every piece of the split (or of its first ``--pieces N``), evenly spaced over the
piece's interior windows whose RMS is at least half the piece's own median (the sweep's
``audio_windows`` thresholds against the whole split's median, which drops quiet instruments'
pieces wholesale); every interval is over pieces. The randomisation cascade runs on one clip of
every piece (``--cascade-clips all``, the default) or the first N. Survival is judged against
independent random maps scored through the same groups (``crossmethod.compare``), not a fixed ρ.
``--label-steps N`` also trains the ``tiny`` variant N steps on true and on shuffled labels of
the first ``--label-pieces`` training pieces (in ``<out>.label_runs/``), prints each model's
training frame F1 on its own labels (whether the shuffled model fitted what it was given), and
compares the two models' tables (label randomisation).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import sys
import time
import uuid

import jax
import numpy as np

from amt_jax.explain import baselines


def _log(message: str) -> None:
    print(f"[cross_method] {message}", file=sys.stderr, flush=True)


PARTS = ("table", "agreement", "stack", "cascade", "labels", "baseline")  # each draws from its own key namespace


def part_key(root, part: str, *path: int):
    """``fold_in(root, PARTS.index(part))``, then folded with each index of ``path``: no two parts
    (or two depths of the cascade) share a stream."""
    key = jax.random.fold_in(root, PARTS.index(part))
    for i in path:
        key = jax.random.fold_in(key, i)
    return key


def _finite(x):
    """JSON-able: floats (NaN → None), lists, dicts."""
    if isinstance(x, dict):
        return {str(k): _finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_finite(v) for v in x]
    if isinstance(x, np.ndarray):
        return _finite(x.tolist())
    if isinstance(x, (float, np.floating)):
        return float(x) if np.isfinite(x) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    return x


def balanced_windows(data: str, *, data_dir, per_piece: int, pieces: int | None = None):
    """``per_piece`` model windows of every piece of a split, or of its first ``pieces`` pieces (a
    ``sweep.inputs.Clips``)."""
    from amt_jax import data as data_lib
    from amt_jax.data.windowing import Windows as Clips, window_targets
    from amt_jax.transcription import inference

    name, split = data_lib.parse_spec(data)
    source = data_lib.load(name, split, data_dir=data_dir)
    if pieces is not None and not 1 <= pieces <= len(source):
        raise ValueError(f"pieces must be in 1..{len(source)} (the pieces of {data!r}), got {pieces}")
    audio, targets, clusters, programs, where = [], [], [], [], []
    for i in range(len(source) if pieces is None else pieces):
        example = source[i]
        windows = inference.window_audio(example["audio"])
        rms = np.sqrt(np.mean(windows**2, axis=1))
        kept = np.flatnonzero(rms >= 0.5 * np.median(rms))
        chosen = kept[np.round(np.linspace(0, len(kept) - 1, per_piece + 2)).astype(int)[1:-1]]
        for j in chosen:
            audio.append(windows[j])
            targets.append(window_targets(np.asarray(example["frames"]), int(j)))
            clusters.append(i)
            programs.append(int(example.get("program", -1)))
            where.append((str(example.get("id", i)), int(j)))
    return Clips(np.stack(audio), np.stack(targets), np.asarray(clusters), np.asarray(programs), where)


def profiles(table, clusters) -> dict:
    """Method → piece-level profile over the table's labels."""
    from amt_jax.explain import groups as grp

    return {m: grp.piece_profile(v, clusters) for m, v in table.scores.items()}


def diagnostics(table) -> dict:
    """IG's completeness gap and LRP's conservation over every objective of every clip."""
    per_clip = table.diagnostics["per_clip"]
    out = {}
    if per_clip and "ig_relative_gap" in per_clip[0]:
        gap = np.concatenate([d["ig_relative_gap"] for d in per_clip])
        out["ig_relative_gap"] = {"max": gap.max(), "median": np.median(gap), "p95": np.quantile(gap, 0.95),
                                  "fraction_below_1pct": np.mean(gap < 0.01), "n_objectives": gap.size}
    for name in ("lrp", "lrp_plus"):
        if not per_clip or f"{name}_conservation_error" not in per_clip[0]:
            continue
        err = np.concatenate([d[f"{name}_conservation_error"] for d in per_clip])
        res = np.concatenate([d[f"{name}_residual"] for d in per_clip])
        top = np.concatenate([d[f"{name}_top"] for d in per_clip])
        absorbed = {k: np.concatenate([d[f"{name}_absorbed"][k] for d in per_clip]) / np.maximum(np.abs(top), 1e-12)
                    for k in per_clip[0][f"{name}_absorbed"]}
        stack_rel = np.concatenate([d[f"{name}_stack"][-1:] for d in per_clip])  # the all-keys objective, [n_clips, H]
        out[f"{name}_conservation"] = {
            "relative_error_median_abs": np.median(np.abs(err)), "relative_error_p95_abs": np.quantile(np.abs(err), 0.95),
            "residual_max_abs": np.max(np.abs(res)), "n_objectives": err.size,
            "absorbed_over_top_median": {k: np.median(v) for k, v in absorbed.items()},
        }
        out[f"{name}_stack_share_all_keys"] = (stack_rel / np.abs(stack_rel).sum(axis=1, keepdims=True)).mean(axis=0)
    return out


def no_stack(model) -> str:
    """Why I(h) is not measured on ``model``."""
    return f"model {model.spec!r} has no 'stack' capability (no harmonic stack whose channels I(h) permutes)"


def cascade_run(model, features, targets, clusters, settings, root, args) -> tuple[dict, dict]:
    """Cascading randomisation: tables and I(h) at each depth, compared with depth 0; (record, arrays)."""
    from amt_jax.explain import crossmethod as cm
    from amt_jax.explain import stack
    from amt_jax.models import randomize
    from amt_jax.training import root_key

    depths = randomize.cascade(model, root_key(args.seed + 1))
    out, reference, ref_stack, arrays = [], None, None, {}
    for d, variables in enumerate(depths):
        t0 = time.perf_counter()
        m = dataclasses.replace(model, params=variables)
        table = cm.score_clips(m, features, targets, key=part_key(root, "cascade", 0), settings=settings)
        arrays.update({f"cascade{d}_scores_{k}": v for k, v in table.scores.items()})
        arrays.update({f"cascade{d}_key_map_{k}": v for k, v in table.key_maps.items()})
        row = {"depth": d, "randomised": [n for step in model.cascade[:d] for n in step],
               "harmonic_profile": cm.harmonic_profiles(table, clusters)}
        if model.has("stack"):
            imp = stack.channel_importance(model, features, params=variables, key=part_key(root, "cascade", 1),
                                           n_permutations=args.cascade_stack_draws, clusters=clusters, chunk_size=8)
            i_h = np.array([r.importances_mean for r in imp.values()])
            row["stack_importance"] = stack.summary(imp)
        else:
            i_h, row["stack_importance"] = None, {"skipped": no_stack(model)}
        if d == 0:
            reference, ref_stack = table, i_h
        else:
            row["methods"] = cm.compare(reference, table, clusters, key=part_key(root, "cascade", 2, d),
                                        n_resamples=args.n_resamples)
            from amt_jax.stats import similarity

            if i_h is not None:
                row["stack_rho"] = float(similarity.spearman(ref_stack, i_h))
        out.append(row)
        _log(f"cascade depth {d}: {time.perf_counter() - t0:.0f} s")
    return {"steps": [list(s) for s in model.cascade], "survival": cm.SURVIVAL,
            "methods": list(settings.methods), "n_clips": int(features.shape[0]), "depths": out}, arrays


LABEL_FIT = 0.9  # the shuffled model "fits" at this fraction of the true model's training F1 ...
LABEL_MARGIN = 0.05  # ... and this much above the best input-independent predictor of its labels


def prior_f1(examples) -> float:
    """Frame F1 on ``examples``' own labels of the best input-independent predictor: each key's rate
    of labelled frames over all the examples, constant in time, at the threshold that maximises the
    mean F1 (a model that learned only which keys are common scores this without reading audio)."""
    from amt_jax.training import THRESHOLDS
    from amt_jax.transcription import baseline

    rolls = [np.asarray(ex["frames"], np.float32) for ex in examples]
    rate = np.sum([r.sum(axis=1) for r in rolls], axis=0) / max(sum(r.shape[1] for r in rolls), 1)
    pairs = [(np.repeat(rate[:, None], r.shape[1], axis=1) / max(rate.max(), 1e-12), r > 0) for r in rolls]
    return baseline.best_threshold(pairs, THRESHOLDS)[1]


def label_run(args, root, audio, targets, clusters, settings) -> dict:
    """The tiny variant trained on true and on shuffled labels of the first ``--label-pieces``
    training pieces (in ``<out>.label_runs/p<N>_seed<S>/``); each model's training frame F1 on its own
    labels against the best input-independent predictor's (did the shuffled model memorise them?);
    their tables compared."""
    from amt_jax import data as data_lib
    from amt_jax import training
    from amt_jax.explain import crossmethod as cm
    config = training.get_config("tiny", steps=args.label_steps)
    source = data_lib.load("chorales", "train", data_dir=args.data_dir)
    train = [source[i] for i in range(min(args.label_pieces, len(source)))]
    base = os.path.join(args.out + ".label_runs", f"p{len(train)}_seed{args.seed}")  # a run per pieces and seed
    models, fit = {}, {}
    for name in ("true", "shuffled"):
        t0 = time.perf_counter()
        workdir = os.path.join(base, name)
        if name == "true":
            trained = training.model_of(config, training.train(config, workdir=workdir, examples=train))
            own = train
        else:
            trained = training.train_label_randomized(config, workdir=workdir, examples=train, seed=args.seed)
            own = list(training.shuffled_labels(train, seed=args.seed))
        scores = training.evaluate(trained, validation=own, test=own)["model"]  # threshold chosen on the same pieces
        fit[name] = {"train_f1": scores["f1"], "threshold": scores["threshold"], "prior_f1": prior_f1(own)}
        models[name] = training.as_model(trained, f"tiny-{name}", labels=name)
        _log(f"label randomisation: trained {name} ({args.label_steps} steps, {len(train)} pieces) in "
             f"{time.perf_counter() - t0:.0f} s; training frame F1 on its own labels {scores['f1']:.3f} (the best "
             f"input-independent predictor of them: {fit[name]['prior_f1']:.3f})")
    shuffled = fit["shuffled"]
    fit["fits"] = bool(shuffled["train_f1"] >= LABEL_FIT * fit["true"]["train_f1"]
                       and shuffled["train_f1"] >= shuffled["prior_f1"] + LABEL_MARGIN)
    fit["criterion"] = (f"shuffled training F1 >= {LABEL_FIT} x the true-label model's and >= {LABEL_MARGIN} above the "
                        "best input-independent predictor of its labels")
    fit["pieces"] = [str(ex.get("id", i)) for i, ex in enumerate(train)]
    _log(f"label randomisation: the shuffled model {'fits' if fit['fits'] else 'does NOT fit'} its labels "
         f"({fit['criterion']})")
    features = np.asarray(jax.jit(models["true"].frontend)(audio))
    tables = {k: cm.score_clips(m, features, targets, key=part_key(root, "labels", 0), settings=settings)
              for k, m in models.items()}
    return {"config": config.to_dict(), "n_pieces": len(train), "fit": fit,
            "methods": cm.compare(tables["true"], tables["shuffled"], clusters, key=part_key(root, "labels", 1),
                                  n_resamples=args.n_resamples),
            "harmonic_profile": {k: cm.harmonic_profiles(t, clusters) for k, t in tables.items()}}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--data", default="chorales:test")
    parser.add_argument("--model", default="basic-pitch", help="registry spec of the model (default basic-pitch)")
    parser.add_argument("--out", required=True, help="JSON path (an NPZ is written beside it)")
    parser.add_argument("--per-piece", type=int, default=2, help="windows per piece of the split")
    parser.add_argument("--pieces", type=int, default=None, help="only the split's first N pieces (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", choices=baselines.KINDS, default="auto",
                        help="reference of grad × input, IG and occlusion (module docstring)")
    parser.add_argument("--noise-db", type=float, default=-60.0, help="RMS of the noise baseline, dBFS")
    parser.add_argument("--ig-nodes", type=int, default=64)
    parser.add_argument("--smoothgrad-samples", type=int, default=16)
    parser.add_argument("--n-draws", type=int, default=2, help="time-permutation draws per group")
    parser.add_argument("--max-keys", type=int, default=12)
    parser.add_argument("--topn", type=int, default=32, help="frames per key in the class-wise LRP maps")
    parser.add_argument("--stack-draws", type=int, default=16)
    parser.add_argument("--cascade-clips", default="all",
                        help="clips in the cascade: 'all' (one per piece, default), N (the first N of those), 0: skip")
    parser.add_argument("--cascade-stack-draws", type=int, default=4)
    parser.add_argument("--label-steps", type=int, default=0, help="train tiny on true/shuffled labels (0: skip)")
    parser.add_argument("--label-pieces", type=int, default=4, help="training pieces of the label randomisation")
    parser.add_argument("--n-resamples", type=int, default=1000)
    parser.add_argument("--parts", default="table,stack,cascade,labels",
                        help="comma-separated subset of table (with agreement, diagnostics, LRP top-n maps), stack, "
                             "cascade, labels (labels also needs --label-steps)")
    args = parser.parse_args(argv)
    if args.pieces is not None and args.pieces < 1:
        parser.error(f"--pieces must be at least 1, got {args.pieces}")
    args.parts = set(args.parts.split(","))
    if args.cascade_clips != "all":
        try:
            args.cascade_clips = int(args.cascade_clips)
        except ValueError:
            parser.error(f"--cascade-clips must be 'all' or an integer >= 0, got {args.cascade_clips!r}")
        if args.cascade_clips < 0:
            parser.error(f"--cascade-clips must be 'all' or an integer >= 0, got {args.cascade_clips!r}")
    if args.label_pieces < 2:
        parser.error(f"--label-pieces must be >= 2 (labels move to other pieces), got {args.label_pieces}")
    if not args.parts <= {"table", "stack", "cascade", "labels"}:
        parser.error(f"--parts must name table, stack, cascade or labels, got {sorted(args.parts)}")
    return args


def table_part(model, clips, features, settings, root, args, log_start) -> tuple[dict, dict]:
    """The table, its agreement and diagnostics, and the class-wise LRP maps: (record, arrays)."""
    from amt_jax.explain import crossmethod as cm

    clusters = clips.clusters
    table = cm.score_clips(model, features, clips.targets, key=part_key(root, "table"), settings=settings,
                           progress=lambda i, n: _log(f"table: clip {i}/{n} ({time.perf_counter() - log_start:.0f} s)"))
    record = {"labels": table.labels, "profiles": profiles(table, clusters),
              "harmonic_profile": cm.harmonic_profiles(table, clusters),
              "agreement": cm.agreements(table, clusters, key=part_key(root, "agreement"), n_resamples=args.n_resamples),
              "diagnostics": diagnostics(table)}
    arrays = {"labels": np.asarray(table.labels), **{f"scores_{m}": v for m, v in table.scores.items()},
              **{f"key_map_{m}": v for m, v in table.key_maps.items()}}
    if not model.has("lrp"):
        record["lrp_topn"] = {"skipped": f"model {model.spec!r} has no 'lrp' capability"}
        return record, arrays
    top = cm.lrp_topn_maps(model, features, clips.targets, n=args.topn, composite=settings.composite)
    labelled = top["counts"] > 0
    record["lrp_topn"] = {"n": args.topn, "composite": settings.composite, "keys": np.flatnonzero(labelled),
                          "counts": top["counts"][labelled], "kurtosis": top["kurtosis"][labelled],
                          "kurtosis_median": np.median(top["kurtosis"][labelled])}
    arrays.update(lrp_topn_maps=top["maps"], lrp_topn_counts=top["counts"])
    return record, arrays


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from amt_jax import io as amt_io
    from amt_jax.constants import HOP_LENGTH, SAMPLE_RATE
    from amt_jax.explain import crossmethod as cm
    from amt_jax.explain import lrp, stack
    from amt_jax.models import registry
    from amt_jax.sweep.inputs import model_keys

    jax.config.update("jax_default_matmul_precision", "highest")
    timings, t0 = {}, time.perf_counter()
    root = jax.random.key(args.seed)
    model = registry.load(args.model)
    model.require_keys("the cross-method table")
    frontend = model.frontend_on(SAMPLE_RATE, HOP_LENGTH, f"data={args.data!r} (the corpus's windows and frames)")
    try:
        corpus = balanced_windows(args.data, data_dir=args.data_dir, per_piece=args.per_piece,
                                  pieces=args.pieces)  # labels of MIDI 21..108
    except ValueError as err:
        raise SystemExit(f"python -m experiments.cross_method: error: {err}")
    clips = dataclasses.replace(corpus, targets=model_keys(corpus.targets, model.layout, args.model))
    features = np.asarray(jax.jit(frontend)(clips.audio))
    targets, clusters = clips.targets, clips.clusters
    _log(f"{len(features)} clips from {len(np.unique(clusters))} pieces")
    try:
        baseline, baseline_record = baselines.choose_baseline(args.baseline, model, frontend, features,
                                                              clips.audio.shape[-1], key=part_key(root, "baseline"),
                                                              level_db=args.noise_db)
    except ValueError as err:
        raise SystemExit(f"python -m experiments.cross_method: error: {err}")
    _log(f"baseline: {baseline_record['kind']}" + (f" ({baseline_record['why']})" if "why" in baseline_record else ""))
    methods = tuple(m for m in cm.METHODS if model.has("lrp") or not m.startswith("lrp"))
    settings = cm.Settings(methods=methods, ig_nodes=args.ig_nodes, smoothgrad_samples=args.smoothgrad_samples,
                           n_draws=args.n_draws, max_keys=args.max_keys, baseline=baseline)
    no_permutation = dataclasses.replace(settings, methods=tuple(m for m in methods if m not in ("permutation", "contrast")))
    record = {
        "command": " ".join(["python -m experiments.cross_method", *(argv if argv is not None else sys.argv[1:])]),
        "config": {**vars(args), "parts": sorted(args.parts), "settings": {**dataclasses.asdict(settings), "baseline": baseline_record["kind"]}},
        "inputs": {"data": args.data, "windows": [list(w) for w in clips.where], "clusters": clusters,
                   "programs": clips.programs, "n_pieces": len(np.unique(clusters)), "model": model.identity,
                   "model_spec": args.model, "layout": model.layout.to_dict(),
                   "baseline": baseline_record,
                   "lrp_explains": getattr(model.lrp, "explains", "the logits") if model.has("lrp") else None,
                   "lrp_rules": {c: lrp.rules_used(model.lrp, c) for c in (settings.composite, "epsilon_plus_box")}
                   if model.has("lrp") else None},
    }
    record["run_id"] = uuid.uuid4().hex  # in the JSON and the NPZ: a reader can tell they belong together
    arrays = {"clusters": clusters, "run_id": np.array(record["run_id"]),
              "baseline": np.asarray(baseline, np.float32)}  # a scalar (silence) or the noise map [F, T]
    if "table" in args.parts:
        part, part_arrays = table_part(model, clips, features, settings, root, args, t0)
        record.update(part)
        arrays.update(part_arrays)
        timings["table"] = time.perf_counter() - t0
    if "stack" in args.parts and not model.has("stack"):
        record["stack_importance"] = {"skipped": no_stack(model)}
        _log(f"stack: skipped ({no_stack(model)})")
    elif "stack" in args.parts:
        t1 = time.perf_counter()
        imp = stack.channel_importance(model, features, key=part_key(root, "stack"), n_permutations=args.stack_draws,
                                       clusters=clusters, chunk_size=8)
        record["stack_importance"] = stack.summary(imp)
        timings["stack"] = time.perf_counter() - t1
    if "cascade" in args.parts and args.cascade_clips:
        t1 = time.perf_counter()
        first = np.unique(clusters, return_index=True)[1]  # one clip per piece
        chosen = np.sort(first if args.cascade_clips == "all" else first[: args.cascade_clips])
        record["cascade"], cascade_arrays = cascade_run(model, features[chosen], targets[chosen], clusters[chosen],
                                                        no_permutation, root, args)
        arrays.update(cascade_arrays, cascade_clips=chosen)
        record["cascade"]["clips"] = chosen
        timings["cascade"] = time.perf_counter() - t1
    if "labels" in args.parts and args.label_steps:
        t1 = time.perf_counter()
        tiny_settings = dataclasses.replace(no_permutation, methods=tuple(m for m in cm.METHODS if m not in (
            "permutation", "contrast")), baseline=cm.Settings.baseline)  # the tiny variants: NormalizedLog, lrp
        record["label_randomization"] = label_run(args, root, clips.audio, corpus.targets, clusters, tiny_settings)
        timings["label_randomization"] = time.perf_counter() - t1
    record["timings_s"] = timings
    record["environment"] = amt_io.environment()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    amt_io.atomic_write(os.path.splitext(args.out)[0] + ".npz", buffer.getvalue())
    amt_io.atomic_write(args.out, json.dumps(_finite(record), indent=1))
    _log(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
