"""Layer CKA between Basic Pitch variants, and per-layer CKA(h(X), h(πX)) per family.

Command (a small rendered corpus first: ``python -m amt_jax data build chorales --data-dir D --n-pieces 10``)::

    python -m experiments.cka_variants --data-dir D --out OUT [--pair A B ...] [--permuted NET ...]

A network is a registry spec (``basic-pitch``, ``trained:DIR``, ``random:<spec>``, ``py:...``) or
an untrained variant of :data:`VARIANTS` (the ``tiny`` training config with overrides, freshly
initialised; ``nostack``: harmonics (1,), the harmonic stack off). Without ``--pair`` the baseline pairs of randomly
initialised networks are compared (B = 1 vs 1, 1 vs 3, 3 vs 5, stack on vs off; the two sides with
different seeds)
and Basic Pitch against a random B = 3; without ``--permuted``, Basic Pitch and a random B = 3 get
the per-family curves. Data: ``--n-clips`` windows of the chorales' train split (several pieces,
for piece-level intervals). Writes OUT/cka.json and OUT/figures/cka_{variants,permutation*}.{pdf,png}
(atomically) and prints one line per result.
"""

from __future__ import annotations

import argparse
import json
import re
import time

import jax
import numpy as np

# Different seeds on the two sides: with one seed, initialisers draw the same leading numbers for kernels of
# different shapes (measured: random B = 1 vs B = 3, both seed 0, note_out CKA 0.996; seeds 0 vs 1 at one B: 0.0).
# Untrained networks: the ``tiny`` training config (experiments/configs/train/tiny.py) with these
# overrides (amt_jax.configs), freshly initialised (training.init_state). The two sides of a pair
# differ in seed: with one seed, initialisers draw the same leading numbers for kernels of different
# shapes (measured: random B = 1 vs B = 3, both seed 0, note_out CKA 0.996; seeds 0 vs 1 at one B: 0.0).
VARIANTS = {
    "tiny-b1": ("model.bins_per_semitone=1",),
    "tiny-b1-seed1": ("model.bins_per_semitone=1", "seed=1"),
    "tiny-b3": ("model.bins_per_semitone=3",),
    "tiny-b3-seed1": ("model.bins_per_semitone=3", "seed=1"),
    "tiny-b5-seed1": ("model.bins_per_semitone=5", "seed=1"),
    "tiny-b3-seed1-nostack": ("model.bins_per_semitone=3", "seed=1", "model.harmonics=[1]"),
}
DEFAULT_PAIRS = (("tiny-b1", "tiny-b1-seed1"), ("tiny-b1", "tiny-b3-seed1"), ("tiny-b3", "tiny-b5-seed1"),
                 ("tiny-b3", "tiny-b3-seed1-nostack"), ("basic-pitch", "tiny-b3"))
DEFAULT_PERMUTED = ("basic-pitch", "tiny-b3")


def load_model(name: str):
    """The model of a variant name (:data:`VARIANTS`, untrained) or of a registry spec."""
    from amt_jax import configs, training
    from amt_jax.models import registry

    if name in VARIANTS:
        config = configs.load("train", "tiny", VARIANTS[name])
        return training.as_model(training.model_of(config, training.init_state(config)), f"untrained:{name}")
    return registry.load(registry.cli_spec(name))


def families(layout):
    """The probed families on a network's axis: harmonic (h = 8), one octave band, microtonal (all)."""
    from amt_jax import permutations

    return {
        "harmonic h=8": permutations.harmonic(n_bins=layout.n_bins, bins_per_octave=layout.bins_per_octave,
                                              n_harmonics=8, f0_range=layout.key_bins),
        "random spectral, semitones 36-48": permutations.random_spectral(
            n_bins=layout.n_bins, band=layout.semitone_range(36, 48)),
        "microtonal (all semitones)": permutations.microtonal(layout=layout, scope="all"),
    }


def _record(r) -> dict:
    return {"cka": np.asarray(r.cka).tolist(), "ci_low": np.asarray(r.ci_low).tolist(),
            "ci_high": np.asarray(r.ci_high).tolist(), "rows": list(r.rows), "cols": list(r.cols),
            "n_clusters": r.n_clusters}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--data", default="chorales:train")
    parser.add_argument("--n-clips", type=int, default=16)
    parser.add_argument("--frames-per-clip", type=int, default=64)
    parser.add_argument("--n-draws", type=int, default=8)
    parser.add_argument("--pair", nargs=2, action="append", metavar=("A", "B"))
    parser.add_argument("--permuted", nargs="+")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    jax.config.update("jax_default_matmul_precision", "highest")

    from etils import epath

    from amt_jax import io as amt_io
    from amt_jax.explain import cka
    from amt_jax.report import plots_cka
    from amt_jax.report.figures import save_figure
    from amt_jax.sweep.inputs import audio_windows

    clips = audio_windows(args.data, data_dir=args.data_dir, n_clips=args.n_clips)
    key = jax.random.PRNGKey(args.seed)
    nets, out = {}, {"data": args.data, "windows": [list(w) for w in clips.where], "pieces": clips.clusters.tolist(),
                     "frames_per_clip": args.frames_per_clip, "pairs": {}, "permuted": {}}

    def model(name):
        if name not in nets:
            nets[name] = load_model(name)
        return nets[name]

    def net(name):
        return cka.network(model(name))

    pair_results = {}
    for a, b in args.pair or DEFAULT_PAIRS:
        start = time.perf_counter()
        r = cka.layer_cka(net(a), net(b), clips.audio, key=key, clusters=clips.clusters, frames_per_clip=args.frames_per_clip)
        pair_results[f"{a} vs {b}"] = r
        out["pairs"][f"{a} vs {b}"] = _record(r)
        print(f"{a} vs {b} ({time.perf_counter() - start:.0f} s): diagonal {np.round(np.diag(r.cka), 3).tolist()} "
              f"[{np.round(np.diag(r.ci_low), 3).tolist()} .. {np.round(np.diag(r.ci_high), 3).tolist()}]", flush=True)
    directory = epath.Path(args.out) / "figures"
    directory.mkdir(parents=True, exist_ok=True)
    save_figure(plots_cka.figure_layer_cka(pair_results), directory, "cka_variants")
    for spec in args.permuted or DEFAULT_PERMUTED:
        x = np.asarray(jax.jit(net(spec).frontend)(clips.audio))
        per_family = {}
        for name, family in families(model(spec).layout).items():
            r = cka.permutation_cka(net(spec), x, family=family, key=key, n_draws=args.n_draws, clusters=clips.clusters,
                                    frames_per_clip=args.frames_per_clip)
            per_family[name] = r
            out["permuted"].setdefault(spec, {})[name] = _record(r)
            print(f"{spec} {name}: CKA(h(X), h(πX)) per layer {dict(zip(r.rows, np.round(r.cka, 3).tolist()))}", flush=True)
        save_figure(plots_cka.figure_permutation_cka(per_family, title=f"{spec}: CKA(h(X), h(πX)) per layer"),
                    directory, f"cka_permutation_{re.sub(r'[^A-Za-z0-9.-]+', '-', spec)}")
    amt_io.atomic_write(epath.Path(args.out) / "cka.json", json.dumps(out, indent=1))
    print(f"wrote {args.out}/cka.json and {directory}/cka_*.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
