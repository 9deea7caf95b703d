"""Layer CKA between networks (Basic Pitch variants, and across families), and per-layer CKA(h(X), h(πX)) per family.

Command (a small rendered corpus first: ``python -m amt_jax data build chorales --data-dir D --n-pieces 10``)::

    python -m experiments.cka_variants --data-dir D --out OUT [--pair A B ...] [--permuted NET ...]
        [--frontend-step-ms MS] [--baselines auto|on|off]

A network is a registry spec (``basic-pitch``, ``pesto``, ``trained:DIR``, ``random:<spec>``, ``py:...``) or
an untrained variant of :data:`VARIANTS` (the ``tiny`` training config with overrides, freshly
initialised; ``nostack``: harmonics (1,), the harmonic stack off). Without ``--pair`` the baseline pairs of randomly
initialised networks are compared (B = 1 vs 1, 1 vs 3, 3 vs 5, stack on vs off; the two sides with
different seeds)
and Basic Pitch against a random B = 3; without ``--permuted``, Basic Pitch and a random B = 3 get
the per-family curves. Data: ``--n-clips`` windows of the chorales' train split (several pieces,
for piece-level intervals). Writes OUT/cka.json and OUT/figures/cka_{variants,permutation*}.{pdf,png}
(atomically) and prints one line per result.

Frames. Every network reads the same audio windows through its own frontend
(``Model.frontend_on``, at the corpus's 22,050 Hz). By default each is framed every 256 samples
(the corpus's hop), which a network whose frontend is defined at any step (the ``frontend_at``
capability) can do, so the rows are frames at common times. ``--frontend-step-ms MS`` frames those
networks every MS ms instead (PESTO's own step is 10 ms), and the rows are then matched in time by
nearest frame: drawn among the coarser network's frames, each paired with the other network's
nearest frame (:mod:`amt_jax.explain.cka_frames`; the JSON's ``max_offset_ms`` says how far apart
they can be). Each layer's activation is ``[frames, units]``: frequency × channels flattened per frame.

Baselines (``--baselines auto``: for a pair whose networks name different layers, i.e. of two
architectures; ``on``: every pair). With A vs B: (i) the random-weights controls ``random:A`` vs
B and A vs ``random:B`` (the same architectures, untrained: what the architecture and the shared
input alone give); (ii) the input features against the layers: A's input features (its frontend's
bins of each frame) against A's layers and B's, B's against B's and A's, and A's input against B's
input. A layer pair's CKA means something beyond the shared audio only where it exceeds what its
layers' inputs already share (the input × input value and the input × layer rows).

Reading CKA across families (Basic Pitch vs PESTO). Where it means something: the early layers.
Both read a log-frequency spectrum at 3 bins per semitone (Basic Pitch's CQT and harmonic stack;
PESTO's VQT in dB, its cropped ``input`` and ``layernorm``, and its per-frame convolutions
``conv1``, ``prefilt_*``), so CKA between them says how alike their frame-to-frame geometry is,
to be read against the input-features baselines. Where it does not: the outputs. PESTO's output
is one softmax over 384 pitch bins (monophonic: its ``logits`` and ``pitch``), Basic Pitch's are
independent sigmoids over 88 keys (polyphonic: ``note_out``, ``onset_out``; ``contour_out`` over
264 bins); and PESTO's last map is a Toeplitz layer (its weights depend on output − input
position only: shift-equivariant, a transposition moves its output rather than reshaping it), so
a low output × output CKA says the heads answer different questions, not that they disagree. On
polyphonic audio (the chorales) PESTO runs outside what it was trained for (one voice): its
numbers there describe what a monophonic estimator's layers do with chords.

Measured (``chorales`` built with 6 pieces, 16 train windows from 3 pieces, 64 frames each,
common frame times; brackets: piece bootstrap, crude with 3 pieces): the two inputs 0.93 [0.90,
0.98]; Basic Pitch's harmonic stack × PESTO's ``input`` 0.92, i.e. the shared input. Basic
Pitch's ``note_out`` × PESTO's ``layernorm`` .. ``conv_3`` 0.82–0.84 (``layernorm`` 0.84 [0.82,
0.90]), against 0.23 for PESTO's raw input: but ``random:pesto`` gives the same 0.84 (its fresh
LayerNorm standardises each frame, removing loudness), so that similarity is PESTO's
architecture, not its training; with ``random:basic-pitch`` it is 0.05 (Basic Pitch's side is
learned). Outputs: ``note_out`` × ``logits`` 0.75 [0.67, 0.86], × ``pitch`` 0.59 [0.49, 0.68],
both below ``random:pesto``'s 0.80. PESTO at its own 10 ms step with nearest frames (offsets up
to 4.9 ms) moves every entry by at most 0.01.
"""

from __future__ import annotations

import argparse
import json
import re
import time

import jax
import numpy as np

from amt_jax.constants import HOP_LENGTH, SAMPLE_RATE

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
            "n_clusters": r.n_clusters, "max_offset_ms": r.max_offset_ms}


OUTPUT_KINDS = {  # how a reading names an output kind (amt_jax.models.model.OUTPUT_KINDS)
    "multipitch": "independent sigmoids (polyphonic)",
    "key_mass": "each key's share of one softmax over pitch (monophonic: the keys compete)",
    "pitch_distribution": "one softmax over pitch bins (monophonic)",
}


def reading_of_doc() -> str:
    """The module docstring's paragraph on reading CKA across families, as one line."""
    para = next(p for p in __doc__.split("\n\n") if p.startswith("Reading CKA across families"))
    return " ".join(para.split())


def describe(name: str, model, hop_length: int) -> str:
    """What a network reads and gives, from its layout and its ``Output`` records."""
    lay = model.layout
    outputs = "; ".join(f"{o.name!r}: {OUTPUT_KINDS[o.kind]}" for o in model.outputs)
    return (f"{name}: reads {lay.n_bins} bins at {lay.bins_per_semitone} per semitone, a frame every "
            f"{1000 * hop_length / SAMPLE_RATE:.2f} ms; layers {model.layers[0]} .. {model.layers[-1]}; outputs {outputs}")


def reading(a: str, b: str, model_a, model_b, hops: dict) -> list[str]:
    """Where the pair's numbers mean something, for the JSON: each side described, whether the
    outputs probes read are of one kind, and the module's paragraph."""
    out = [describe(a, model_a, hops[a]), describe(b, model_b, hops[b])]
    if model_a.output_kind != model_b.output_kind:
        out.append(f"The outputs differ in kind ({model_a.output_kind} vs {model_b.output_kind}): CKA between "
                   "output layers says how alike their frame-to-frame geometry is, not that they compute the same thing.")
    if model_a.layout.bins_per_semitone == model_b.layout.bins_per_semitone:
        out.append(f"Both inputs are log-frequency at {model_a.layout.bins_per_semitone} bins per semitone: early "
                   "layers are comparable, against the input × input and input × layer baselines.")
    return out + [reading_of_doc()]


def random_spec(name: str) -> str | None:
    """``random:<name>`` for a registry spec whose model is not already random, else None."""
    from amt_jax.models import registry

    if name in VARIANTS:
        return None
    try:
        return None if registry.random_base(name) is not None else registry.random_control(name)
    except ValueError:
        return None


class Networks:
    """Models and their CKA networks by name, loaded once; ``step_ms`` frames the networks whose
    frontend is defined at any step (``frontend_at``), the others every 256 samples (the corpus's hop)."""

    def __init__(self, step_ms: float | None):
        self.step_ms, self.models = step_ms, {}

    def model(self, name: str):
        if name not in self.models:
            self.models[name] = load_model(name)
        return self.models[name]

    def hop(self, name: str) -> int:
        model = self.model(name)
        if self.step_ms is None or not model.has("frontend_at"):
            return HOP_LENGTH
        return int(self.step_ms * SAMPLE_RATE / 1000 + 0.5)  # half up, as PESTO's CLI: 10 ms → 221, not round()'s 220

    def net(self, name: str):
        from amt_jax.explain import cka

        return cka.network(self.model(name), sample_rate=SAMPLE_RATE, hop_length=self.hop(name))


def compare(nets: Networks, a: str, b: str, clips, *, key, frames_per_clip: int, baselines: bool) -> tuple[dict, dict]:
    """``({name: CKAResult}, record)`` of the pair a vs b, with the baselines when asked: every
    network's Gram matrices once, at the same instants, then each comparison from them."""
    from amt_jax.explain import cka

    named = {a: nets.net(a), b: nets.net(b)}
    if baselines:
        named[f"{a} input"], named[f"{b} input"] = cka.input_network(named[a]), cka.input_network(named[b])
        for name in (a, b):
            spec = random_spec(name)
            if spec is not None and nets.model(name).has("init"):
                named[spec] = nets.net(spec)
    grams, offset = cka.layer_grams(tuple(named.values()), clips.audio, key=key, frames_per_clip=frames_per_clip)
    grams = dict(zip(named, grams))

    def result(x, y):
        return cka.grams_cka(grams[x], grams[y], named[x].layers, named[y].layers, key=key, clusters=clips.clusters,
                             max_offset_ms=offset)

    results = {f"{a} vs {b}": result(a, b)}
    record = {**_record(results[f"{a} vs {b}"]), "frame_steps_ms": {n: 1000 * nets.hop(n) / SAMPLE_RATE for n in (a, b)},
              "rows_at": "common frame times" if offset == 0 else "nearest frames (drawn on the coarser network)"}
    if baselines:
        ra, rb = random_spec(a), random_spec(b)
        comparisons = [(f"{a} input", f"{b} input"), (f"{a} input", a), (f"{b} input", b), (f"{a} input", b),
                       (a, f"{b} input")] + [(ra, b)] * (ra in named) + [(a, rb)] * (rb in named)
        base = {f"{x} vs {y}": result(x, y) for x, y in comparisons}
        results.update({k: v for k, v in base.items() if "random:" in k})
        record["baselines"] = {k: _record(v) for k, v in base.items()}
        record["baselines_missing"] = [f"random:{n}" for n, r in ((a, ra), (b, rb)) if r not in named]
        record["reading"] = reading(a, b, nets.model(a), nets.model(b), {n: nets.hop(n) for n in (a, b)})
    return results, record


def _print_pair(name: str, r, record: dict, seconds: float) -> None:
    if r.rows == r.cols and "baselines" not in record:
        print(f"{name} ({seconds:.0f} s): diagonal {np.round(np.diag(r.cka), 3).tolist()} "
              f"[{np.round(np.diag(r.ci_low), 3).tolist()} .. {np.round(np.diag(r.ci_high), 3).tolist()}]", flush=True)
        return
    print(f"{name} ({seconds:.0f} s; rows at {record['rows_at']}, max offset {r.max_offset_ms:.2f} ms):", flush=True)
    for title, rec in [(name, record)] + list(record.get("baselines", {}).items()):
        cka = np.asarray(rec["cka"], float)
        print(f"  {title}:")
        width = max(len(c) for c in rec["cols"])
        print("    " + " " * 15 + " ".join(f"{c[:width]:>{width}}" for c in rec["cols"]))
        for row, values in zip(rec["rows"], cka):
            print(f"    {row[:15]:>15} " + " ".join(f"{v:>{width}.3f}" for v in values))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--data", default="chorales:train")
    parser.add_argument("--n-clips", type=int, default=16)
    parser.add_argument("--frames-per-clip", type=int, default=64)
    parser.add_argument("--n-draws", type=int, default=8)
    parser.add_argument("--pair", nargs=2, action="append", metavar=("A", "B"))
    parser.add_argument("--permuted", nargs="*", help="networks for CKA(h(X), h(πX)) (none: --permuted alone)")
    parser.add_argument("--frontend-step-ms", type=float, default=None,
                        help="frame step of networks whose frontend is defined at any step (frontend_at); default: "
                             "the corpus's 256 samples, so every network's frames fall at common times")
    parser.add_argument("--baselines", choices=("auto", "on", "off"), default="auto",
                        help="random-weights and input-features baselines (auto: pairs of two architectures)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    jax.config.update("jax_default_matmul_precision", "highest")

    from etils import epath

    from amt_jax import io as amt_io
    from amt_jax.report import plots_cka
    from amt_jax.report.figures import save_figure
    from amt_jax.sweep.inputs import audio_windows

    clips = audio_windows(args.data, data_dir=args.data_dir, n_clips=args.n_clips)
    key = jax.random.PRNGKey(args.seed)
    nets = Networks(args.frontend_step_ms)
    out = {"data": args.data, "windows": [list(w) for w in clips.where], "pieces": clips.clusters.tolist(),
           "frames_per_clip": args.frames_per_clip, "frontend_step_ms": args.frontend_step_ms, "pairs": {}, "permuted": {}}
    pair_results = {}
    for a, b in args.pair or DEFAULT_PAIRS:
        start = time.perf_counter()
        cross = args.baselines == "on" or (args.baselines == "auto" and nets.model(a).layers != nets.model(b).layers)
        results, record = compare(nets, a, b, clips, key=key, frames_per_clip=args.frames_per_clip, baselines=cross)
        pair_results.update(results)
        out["pairs"][f"{a} vs {b}"] = record
        _print_pair(f"{a} vs {b}", results[f"{a} vs {b}"], record, time.perf_counter() - start)
    directory = epath.Path(args.out) / "figures"
    directory.mkdir(parents=True, exist_ok=True)
    save_figure(plots_cka.figure_layer_cka(pair_results), directory, "cka_variants")
    permuted(args, nets, clips, key, out, directory)
    amt_io.atomic_write(epath.Path(args.out) / "cka.json", json.dumps(out, indent=1))
    print(f"wrote {args.out}/cka.json and {directory}/cka_*.png")
    return 0


def permuted(args, nets: Networks, clips, key, out: dict, directory) -> None:
    """Per network of ``--permuted``: per family, CKA(h(X), h(πX)) per layer, into ``out`` and a figure."""
    from amt_jax.explain import cka
    from amt_jax.report import plots_cka
    from amt_jax.report.figures import save_figure

    for spec in DEFAULT_PERMUTED if args.permuted is None else args.permuted:
        net = nets.net(spec)
        x = np.asarray(jax.jit(net.frontend)(clips.audio))
        per_family = {}
        for name, family in families(nets.model(spec).layout).items():
            r = cka.permutation_cka(net, x, family=family, key=key, n_draws=args.n_draws, clusters=clips.clusters,
                                    frames_per_clip=args.frames_per_clip)
            per_family[name] = r
            out["permuted"].setdefault(spec, {})[name] = _record(r)
            print(f"{spec} {name}: CKA(h(X), h(πX)) per layer {dict(zip(r.rows, np.round(r.cka, 3).tolist()))}", flush=True)
        save_figure(plots_cka.figure_permutation_cka(per_family, title=f"{spec}: CKA(h(X), h(πX)) per layer"),
                    directory, f"cka_permutation_{re.sub(r'[^A-Za-z0-9.-]+', '-', spec)}")


if __name__ == "__main__":
    raise SystemExit(main())
