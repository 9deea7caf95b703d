"""``python -m amt_jax probe-keys --model SPEC --out DIR``: probe tones on every key of a model
(:mod:`amt_jax.tones.probe`): DIR/probe_keys_<model>.json (+ .npz, .pdf, .png) and a table
of the lowest and highest key detected per timbre and level."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from amt_jax import interrupt

SAFE_POINTS = True  # Ctrl-C / SIGTERM stop it between units of work (amt_jax.interrupt)
HELP = ("Probe tones per key: F1 with false positives per key beside two energy baselines, alone and on a chord, "
        "and the missing fundamental (does it neglect the extreme keys?).")
_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="a model spec with a frontend (basic-pitch, trained:DIR or a bare training DIR)")
    parser.add_argument("--out", type=Path, required=True, help="output directory (created if missing)")
    parser.add_argument("--levels", nargs="+", default=["-40", "-20", "-6"], metavar="DBFS",
                        help="tone levels in dBFS RMS re a full-scale sine (default: -40 -20 -6)")
    parser.add_argument("--envelopes", nargs="+", default=["1/k", "1/k2"], metavar="ENV",
                        help="harmonic envelopes among 1/k, 1/k2, or 'none' (default: 1/k 1/k2)")
    parser.add_argument("--missing", nargs="+", default=["1/k", "1/k2"], metavar="ENV",
                        help="envelopes also played without their fundamental (harmonics 2..8: does the "
                        "model hear the missing fundamental?), or 'none' (default: 1/k 1/k2)")
    parser.add_argument("--programs", nargs="+", default=["corpus"], metavar="N",
                        help="General MIDI programs rendered with the SoundFont, 'corpus' (the chorales "
                        "corpus' 7 programs, default) or 'none'")
    parser.add_argument("--velocities", nargs="+", default=["40", "80", "120"], metavar="V",
                        help="MIDI velocities of the programs' notes (default: 40 80 120)")
    parser.add_argument("--contexts", nargs="+", default=["alone", "chord"], metavar="C",
                        help="alone and/or chord (the tone on a C4-E4-G4 chord in its timbre) (default: alone chord)")
    parser.add_argument("--repeats", default="4", help="repetitions per tone (random phases, noise), >= 2 (default 4)")
    parser.add_argument("--seed", default="0", help="base seed, >= 0 (default 0)")
    parser.add_argument("--noise-dbfs", default="-60", help="white-noise floor in dBFS RMS, or 'none' (default -60)")
    parser.add_argument("--keys", nargs="+", default=None, metavar="MIDI",
                        help="MIDI keys to probe, e.g. 21-32 100-108 (default: all the model's keys)")
    parser.add_argument("--detect", default="0.5", help="frame recall at which a key counts as detected (default 0.5)")
    parser.add_argument("--batch-size", default="16", help="windows per batch (default 16)")


def _tokens(values) -> list[str]:
    return [t for v in values for t in str(v).split(",") if t]


def _number(name: str, text: str, kind=float, low=None, high=None):
    """``kind(text)`` within ``[low, high]`` (None: unbounded), finite; ValueError naming ``name``."""
    what = ("an integer" if kind is int else "a finite number") + (f" >= {low}" if low is not None else "") + (
        f" and <= {high}" if high is not None else "")
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name} must be {what}, got {text!r}") from None
    if not abs(value) < float("inf") or (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {what}, got {text!r}")
    return value


def _keys(values) -> list[int] | None:
    if values is None:
        return None
    keys = []
    for token in _tokens(values):
        lo, _, hi = token.partition("-")
        lo = _number("--keys", lo, int, 0, 127)
        keys.extend(range(lo, _number("--keys", hi, int, lo, 127) + 1) if hi else [lo])
    return keys


def parse(args: argparse.Namespace) -> dict:
    """The probe settings from the command line; ValueError naming the argument."""
    from amt_jax import tones as pt

    levels = [_number("--levels", t) for t in _tokens(args.levels)]
    if not levels or len(set(levels)) != len(levels):
        raise ValueError(f"--levels must be distinct dBFS values, got {' '.join(args.levels)!r}")
    envelopes = [] if _tokens(args.envelopes) == ["none"] else _tokens(args.envelopes)
    for env in envelopes:
        if env not in pt.ENVELOPES:
            raise ValueError(f"--envelopes must be among {sorted(pt.ENVELOPES)} or 'none', got {env!r}")
    missing = [] if _tokens(args.missing) == ["none"] else _tokens(args.missing)
    for env in missing:
        if env not in pt.ENVELOPES:
            raise ValueError(f"--missing must be among {sorted(pt.ENVELOPES)} or 'none', got {env!r}")
    programs = _tokens(args.programs)
    programs = (list(pt.corpus_programs()) if programs == ["corpus"] else [] if programs == ["none"]
                else [_number("--programs", p, int, 0, 127) for p in programs])
    if not envelopes and not programs and not missing:
        raise ValueError("--envelopes, --missing and --programs select no timbre")
    velocities = [_number("--velocities", v, int, 1, 127) for v in _tokens(args.velocities)]
    if not velocities or len(set(velocities)) != len(velocities):
        raise ValueError(f"--velocities must be distinct MIDI velocities, got {' '.join(args.velocities)!r}")
    contexts = _tokens(args.contexts)
    if not contexts or not set(contexts) <= set(pt.CONTEXTS) or len(set(contexts)) != len(contexts):
        raise ValueError(f"--contexts must be among {list(pt.CONTEXTS)}, got {' '.join(args.contexts)!r}")
    noise = None if args.noise_dbfs == "none" else _number("--noise-dbfs", args.noise_dbfs, float, -400, 400)
    timbres = pt.timbre_names(dict.fromkeys(envelopes), dict.fromkeys(programs), dict.fromkeys(missing),
                              velocities=velocities, contexts=contexts)
    if not timbres:
        raise ValueError("--envelopes, --missing, --programs and --contexts select no timbre")
    return {"timbres": timbres, "levels_dbfs": levels,
            "n_repeats": _number("--repeats", args.repeats, int, 2), "seed": _number("--seed", args.seed, int, 0),
            "noise_dbfs": noise, "keys": _keys(args.keys), "batch_size": _number("--batch-size", args.batch_size, int, 1)}


def note_name(midi: int) -> str:
    """``A0(21)`` style name of a MIDI note (``-`` for −1, none)."""
    return "-" if midi < 0 else f"{_NAMES[midi % 12]}{midi // 12 - 1}({midi})"


def table(result, threshold: float) -> list[str]:
    """Rows: per timbre and level, the lowest and highest key detected and how many keys."""
    rng = result.detected_range(threshold=threshold)
    rows = [f"{'timbre':<12} {'level dBFS':>10} {'lowest':>9} {'highest':>9} {'detected':>9}"]
    for s, timbre in enumerate(result.timbres):
        for l, level in enumerate(result.levels_dbfs):
            rows.append(f"{timbre:<12} {level:>10g} {note_name(int(rng['lowest'][s, l])):>9} "
                        f"{note_name(int(rng['highest'][s, l])):>9} {rng['n_detected'][s, l]:>5}/{rng['n_probed'][s]}")
    return rows


def missing_lines(result) -> list[str]:
    """Per missing-fundamental timbre and level: how often the absent fundamental's key fires,
    against its octave (harmonic 2's key) and the most-fired harmonic key (means over keys)."""
    rows = []
    for timbre, row in result.missing_fundamental().items():
        for l, level in enumerate(result.levels_dbfs):
            m = {k: float(v[l]) for k, v in row["keys_mean"].items()}
            rows.append(f"missing fundamental ({timbre[len('missing:'):]}, harmonics 2..8, {level:g} dBFS): the absent "
                        f"fundamental's key fires in {m['f0_recall']:.0%} of frames; its octave (harmonic 2's key) in "
                        f"{m['octave_rate']:.0%}, the most-fired harmonic's key in {m['largest_harmonic_rate']:.0%} "
                        f"(means over {int(np.isfinite(row['f0_recall'][l]).sum())} keys)")
    return rows


def weakest_lines(result, n: int = 5) -> list[str]:
    """Per context and level: the ``n`` keys with the lowest F1 (false positives counted), each with
    the energy and argmax baselines' F1 and its octave errors, then how many keys have a mean F1 below
    0.5 and how many an interval wholly below it, and on how many the model's interval lies above
    or below the better baseline's per window."""
    rows = []
    for context in result.contexts():
        f = result.key_f1(context)
        flagged, below = result.flagged(context), result.below(context)
        for l, level in enumerate(result.levels_dbfs):
            keys = ", ".join(f"{note_name(w['midi'])} {w['f1']:.2f} (energy {w['f1_energy']:.2f}, argmax {w['f1_argmax']:.2f}"
                             + "".join(f", octave {d} {w[f'octave_{d}_rate']:.0%}" for d in ("up", "down")
                                       if np.isfinite(w[f"octave_{d}_rate"]) and w[f"octave_{d}_rate"] > 0) + ")"
                             for w in result.weakest(context, n=n)[l])
            beats = int(np.sum(f["advantage"]["ci_low"][l] > 0))
            worse = int(np.sum(f["advantage"]["ci_high"][l] < 0))
            rows.append(f"F1 per key ({context}, {level:g} dBFS; intervals over {f['interval_over']}): weakest {keys}; "
                        f"mean F1 below 0.5 on {int(below[l].sum())} of {int(np.sum(f['n'][l] > 0))} keys scored "
                        f"(interval wholly below on {int(flagged[l].sum())}); above the better baseline on {beats}, "
                        f"below it on {worse}")
    return rows


def _weakest_summary(result) -> list[str]:
    """Per context: the weakest key's F1 at each level."""
    out = []
    for context in result.contexts():
        parts = [f"{level:g} dBFS {note_name(w[0]['midi'])} {w[0]['f1']:.2f}"
                 for level, w in zip(result.levels_dbfs, result.weakest(context, n=1)) if w]
        out.append(f"weakest key {context} " + ", ".join(parts))
    return out


def summary(result, threshold: float) -> str:
    """Per level, the lowest and highest key any timbre detects: ``-40 dBFS A0(21)..C8(108), ...``."""
    rng = result.detected_range(threshold=threshold)
    parts = []
    for l, level in enumerate(result.levels_dbfs):
        low, high = rng["lowest"][:, l], rng["highest"][:, l]
        span = f"{note_name(int(low[low >= 0].min()))}..{note_name(int(high.max()))}" if (low >= 0).any() else "none"
        parts.append(f"{level:g} dBFS {span}")
    return ", ".join(parts)


def run(args: argparse.Namespace) -> int:
    from amt_jax.models import registry

    settings = parse(args)
    threshold = _number("--detect", args.detect, float, 0.0, 1.0)
    if threshold == 0:
        raise ValueError(f"--detect must be in (0, 1], got {args.detect!r}")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out must be a directory, got the file {str(args.out)!r}")
    spec = registry.cli_spec(args.model)
    registry.check(spec)
    model = registry.load(spec)
    if not model.reads_audio or model.layout is None:
        raise ValueError(f"--model {args.model!r} reads no audio; probe-keys needs a model with a frontend")
    own = set(model.layout.midi(range(model.layout.n_pitches)).tolist())
    if settings["keys"] is not None and not set(settings["keys"]) <= own:
        raise ValueError(f"--keys must be among the model's keys ({min(own)}-{max(own)}), got {' '.join(args.keys)!r}")
    return _probe(model, spec, settings, threshold, args.out)


def _probe(model, spec: str, settings: dict, threshold: float, out: Path) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from amt_jax import tones as pt
    from amt_jax.models import registry
    from amt_jax.report import figures, plots_keys

    n_keys = model.layout.n_pitches if settings["keys"] is None else len(set(settings["keys"]))
    total = len(settings["timbres"]) * len(settings["levels_dbfs"]) * n_keys * settings["n_repeats"]
    print(f"probe-keys: {spec}: {total} windows", file=sys.stderr, flush=True)
    start, shown = time.perf_counter(), [0]

    def progress(done: int) -> None:
        if done * 10 // total > shown[0]:  # about every 10 %
            shown[0] = done * 10 // total
            print(f"probe-keys: {done}/{total} windows, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        interrupt.check()  # between batches: nothing is written before the end

    result = pt.probe_tones(model, progress=progress, **settings)
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    name = f"probe_keys_{registry.slug(spec)}"
    pt.write_json(result, out / f"{name}.json", detect_threshold=threshold)
    pt.write_npz(result, out / f"{name}.npz")
    lay = model.layout
    fig = plots_keys.probe_keys_figure(
        result.midi, result.timbres, result.levels_dbfs, result.summary("recall"), result.summary("output"),
        title=f"{spec}: probe tones per key (95 % t CI over {settings['n_repeats']} repetitions)",
        model_keys=(lay.lowest_midi, lay.lowest_midi + lay.n_pitches - 1), threshold=threshold)
    figures.save_figure(fig, out, name)
    plt.close(fig)
    lay_keys = (lay.lowest_midi, lay.lowest_midi + lay.n_pitches - 1)
    for context in result.contexts():
        fig = plots_keys.key_f1_figure(result.midi, result.levels_dbfs, result.key_f1(context), model_keys=lay_keys,
                                       title=f"{spec}: F1 per key, {context} (95 % t CI over timbres × repetitions)")
        figures.save_figure(fig, out, f"{name}_f1_{context}")
        plt.close(fig)
    print("\n".join(table(result, threshold) + weakest_lines(result) + missing_lines(result)))
    print(f"summary: {spec}: {'; '.join(_weakest_summary(result))}; (recall alone, false positives ignored: "
          f"{summary(result, threshold)}); {total} windows in {seconds:.0f} s; wrote {out / name}.{{json,npz,pdf,png}}")
    return 0
