"""Resynthesis acceptance of harmonic draws: audio whose Basic Pitch features are πX.

Command (a small rendered corpus first: ``python -m amt_jax data build chorales --data-dir D --n-pieces 10``)::

    python -m experiments.sonify_draws --data-dir D --out OUT [--n-shown 3] [--n-steps 600]

Takes the first non-silent test window of the chorales (as the sweep chooses windows), tries
``--n-tried`` harmonic draws (h = 8 harmonics, fundamentals on the keys, draw i from
``fold_in(PRNGKey(seed), i)``), keeps the ``--n-shown`` changing Basic Pitch's note output most
(as the sweep's example cell does: a random fundamental often misses every note), resynthesises
each by gradient descent (:mod:`amt_jax.frontend.inverse`), writes OUT/draw<i>_{original,
permuted,moved}.wav and prints one JSON line per draw, then a table.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--data", default="chorales:test")
    parser.add_argument("--n-tried", type=int, default=32)
    parser.add_argument("--n-shown", type=int, default=3)
    parser.add_argument("--n-harmonics", type=int, default=8)
    parser.add_argument("--n-steps", type=int, default=600)
    parser.add_argument("--learning-rate", type=float, default=None, help="default: invert_basic_pitch's")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    jax.config.update("jax_default_matmul_precision", "highest")

    from amt_jax import permutations
    from amt_jax.models import registry
    from amt_jax.report import sonify
    from amt_jax.sweep.inputs import audio_windows

    model = registry.load("basic-pitch")
    clips = audio_windows(args.data, data_dir=args.data_dir, n_clips=4)
    audio = clips.audio[0]
    lay = model.layout
    family = permutations.harmonic(n_bins=lay.n_bins, bins_per_octave=lay.bins_per_octave,
                                   n_harmonics=args.n_harmonics, f0_range=lay.key_bins)
    key = jax.random.PRNGKey(args.seed)
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(np.arange(args.n_tried))
    idx, groups = (np.asarray(a) for a in jax.jit(jax.vmap(family.sample))(keys))
    x = np.asarray(jax.jit(model.frontend)(audio[None]))[0]
    note = jax.jit(lambda v: model.apply(model.params, v)["note"])
    change = np.mean(np.abs(np.asarray(note(x[idx])) - np.asarray(note(x[None]))), axis=(1, 2))
    rows = []
    for i in np.argsort(-change)[: args.n_shown]:
        start = time.perf_counter()
        extra = {} if args.learning_rate is None else {"learning_rate": args.learning_rate}
        son = sonify.sonify_audio(model, audio, idx=idx[i], n_steps=args.n_steps, **extra)
        paths = sonify.write_triple(args.out, f"draw{i}", son.triple)
        row = {"draw": int(i), "f0_bin": int(groups[i]), "window": list(clips.where[0]), **son.acceptance,
               "seconds": round(time.perf_counter() - start, 1), "wav": str(paths["permuted"])}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| draw | f0 bin | mean abs Y(resynth) - Y(piX) | mean abs Y(X) - Y(piX) | ratio | feature MSE X -> resynth |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['draw']} | {r['f0_bin']} | {r['l1_resynth']:.4g} | {r['l1_original']:.4g} | {r['ratio']:.2f} | "
              f"{r['feature_mse_original']:.3g} -> {r['feature_mse_resynth']:.3g} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
