"""Model families side by side (e.g. Basic Pitch beside PESTO): (a) the probed key's own drop, the reliance contrast per harmonic count h and the real − sham-comb difference, each divided by the model's own whole-axis shuffle importance (its own scale; 95 % crossed intervals, a point without bars where there is none); (b) the logit-scale factorial's v(F)/v(F∪H) and v(H)/v(F∪H) at the largest h (how much of the note each cue's replacement removes alone); (c) with ``--probe-keys``, each model's per-key F1 alone (tones with false positives counted) beside its better energy baseline, at each level; (d) with ``--cross-method``, each model's harmonic profile: every attribution method's score of harmonic k = 1..8 of a sounding key (mean over pieces), divided by that method's largest |score| for that model (methods and models have different units; the shapes compare).

    python -m experiments.figures.models --workdir W [--probe-keys DIR ...] [--cross-method JSON ...]

Reads the sweep's saved cells (the ``probe_keys_<model>.json`` of each ``probe-keys --out DIR``, and
the JSON each ``python -m experiments.cross_method --model M --out JSON`` wrote); nothing
is recomputed. Random-weights controls are left out: the controls section of the report compares them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from experiments.figures import Drawn, command, save

CAPTION = __doc__.split("\n\n")[0]


def _scaled(est: dict, scale: float) -> tuple[float, float, float]:
    """``(mean, low, high)`` of a crossed estimate divided by ``scale`` (NaN bounds where there is no interval)."""
    nan = float("nan")
    lo, hi = est.get("crossed_ci_low"), est.get("crossed_ci_high")
    return est["mean"] / scale, (nan if lo is None else lo / scale), (nan if hi is None else hi / scale)


def reliance_rows(results) -> dict[str, dict[str, list]]:
    """Per trained model: ``{"h": [...], "own": [(m, lo, hi)], "contrast": [...], "sham": [...]}`` on its own
    scale: the probed key's own drop (``diagonal``; for a model whose output is one distribution the
    conservative reading, its controls gaining the mass the key loses), the contrast with the
    co-sounding keys, real − sham comb."""
    out = {}
    for model in dict.fromkeys(c["model"] for c in results.cells):
        if model.startswith("random:"):
            continue
        whole = [r["result"].get("piece_mean", r["result"]["importances_mean"])
                 for c, r, _ in results.of(model, "random_spectral") if c["params"].get("band") == "all"]
        cells = [(c, r) for c, r, _ in results.of(model, "harmonic_swap") if not c["params"].get("variant")]
        if len(whole) > 1:
            raise ValueError(f"{model}: {len(whole)} whole-axis random-spectral cells; the own scale needs one")
        if not whole or not cells:
            continue
        rows = {"h": [], "own": [], "contrast": [], "sham": []}
        for cell, record in sorted(cells, key=lambda cr: cr[0]["params"]["n_harmonics"]):
            rel = record["result"]["reliance"]
            rows["h"].append(cell["params"]["n_harmonics"])
            own = rel.get("diagonal")
            rows["own"].append(_scaled(own, whole[0]) if own else (float("nan"),) * 3)
            rows["contrast"].append(_scaled(rel["contrast"], whole[0]))
            sham = rel.get("real_minus_sham")
            rows["sham"].append(_scaled(sham, whole[0]) if sham else (float("nan"),) * 3)
        out[model] = rows
    return out


def factorial_ratios(results) -> dict[str, dict[str, float]]:
    """Per trained model: the largest h's factorial ratios ``{"F": v(F)/v(F∪H), "H": v(H)/v(F∪H)}``."""
    out = {}
    for model in dict.fromkeys(c["model"] for c in results.cells):
        cells = [(c, r) for c, r, _ in results.of(model, "factorial")]
        if model.startswith("random:") or not cells:
            continue
        cell, record = max(cells, key=lambda cr: cr[0]["params"]["n_harmonics"])
        ratios = record["result"]["factorial"].get("ratios") or {}
        if ratios:
            out[model] = {"h": cell["params"]["n_harmonics"], **ratios}
    return out


def harmonic_profiles(records: list[dict]) -> dict[str, dict]:
    """Per model of the cross-method ``records``: ``{"methods": {method: profile [K] ÷ its max |·|},
    "baseline": kind, "n_pieces": n}``. Two records of one model are refused (which one to draw?)."""
    import numpy as np

    out = {}
    for record in records:
        if "harmonic_profile" not in record:
            raise ValueError(f"cross-method record of {record.get('inputs', {}).get('model_spec')!r} has no "
                             f"harmonic_profile (run it with the table part: --parts table)")
        model = record["inputs"]["model_spec"]
        if model in out:
            raise ValueError(f"two cross-method records of model {model!r}; pass one per model")
        methods = {}
        for method, values in record["harmonic_profile"].items():
            v = np.asarray([np.nan if x is None else x for x in values], float)
            peak = np.nanmax(np.abs(v)) if np.any(np.isfinite(v)) else np.nan
            methods[method] = v / peak if peak > 0 else v * np.nan
        out[model] = {"methods": methods, "baseline": record["inputs"].get("baseline", {}).get("kind", "unrecorded"),
                      "n_pieces": record["inputs"].get("n_pieces")}
    return out


def figures(results, probe_keys: list[dict], cross_method: list[dict] = ()) -> list:
    """``[(file name, matplotlib figure)]``."""
    import matplotlib.pyplot as plt
    import numpy as np

    from amt_jax.models import registry

    out = []
    rows, ratios = reliance_rows(results), factorial_ratios(results)
    if rows or ratios:
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        every_h = sorted({h for r in rows.values() for h in r["h"]})  # one tick per h any model has
        names = {"own": "the key's own drop", "contrast": "reliance contrast", "sham": "real − sham comb"}
        for i, (model, r) in enumerate(rows.items()):
            for j, (key, marker) in enumerate((("own", "^"), ("contrast", "o"), ("sham", "s"))):
                m, lo, hi = (np.asarray(v, float) for v in zip(*r[key]))
                x = np.array([every_h.index(h) for h in r["h"]]) + 0.09 * (3 * i + j) - 0.25
                label = f"{registry.title(model)}: {names[key]}"
                has = np.isfinite(lo) & np.isfinite(hi)
                axes[0].errorbar(x[has], m[has], yerr=[m[has] - lo[has], hi[has] - m[has]], fmt=marker, capsize=3,
                                 label=label, color=f"C{i}", mfc="white" if key == "sham" else None)
                axes[0].plot(x[~has], m[~has], marker, color=f"C{i}", mfc="none")
        if rows:
            axes[0].set_xticks(range(len(every_h)), [f"h = {v}" for v in every_h])
        axes[0].axhline(0, color="0.5", lw=0.8)
        axes[0].set_xlabel("harmonics moved (h)")
        axes[0].set_ylabel("drop ÷ own whole-axis shuffle (ratio)")
        axes[0].set_title("Harmonic reliance on each model's own scale\n(95 % crossed intervals; open: no interval)")
        axes[0].legend(fontsize=7)
        names = list(ratios)
        for k, cue in enumerate(("F", "H")):
            axes[1].bar(np.arange(len(names)) + 0.4 * k - 0.2, [ratios[n][cue] for n in names], width=0.38,
                        label={"F": "v(F) / v(F∪H): fundamental alone", "H": "v(H) / v(F∪H): harmonics alone"}[cue])
        axes[1].set_xticks(range(len(names)), [f"{registry.title(n)} (h = {ratios[n]['h']})" for n in names])
        axes[1].axhline(0.5, color="0.5", lw=0.8, ls=":")
        axes[1].set_ylabel("share of both cues' drop (ratio, logit scale)")
        axes[1].set_title("Missing-fundamental factorial (point estimates)")
        axes[1].legend(fontsize=7)
        fig.tight_layout()
        out.append(("models_reliance_factorial", fig))
    if probe_keys:
        fig, ax = plt.subplots(figsize=(11, 4))
        for i, record in enumerate(probe_keys):
            alone = record["key_f1"]["alone"]
            midi = np.asarray(record["midi"])
            f1 = np.asarray(alone["f1"]["mean"], float)
            base = np.fmax(np.asarray(alone["f1_energy"]["mean"], float), np.asarray(alone["f1_argmax"]["mean"], float))
            for j, level in enumerate(record["levels_dbfs"]):
                ax.plot(midi, f1[j], "-", color=f"C{i}", alpha=0.4 + 0.6 * j / max(len(record["levels_dbfs"]) - 1, 1),
                        label=f"{registry.title(record['config']['model'])} {level:g} dBFS")
                ax.plot(midi, base[j], ":", color=f"C{i}", alpha=0.5)
        ax.set_xlabel("probed key (MIDI number)")
        ax.set_ylabel("per-key F1 (false positives counted)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title("Probe tones alone (mean over timbres; dotted: the better energy baseline)")
        ax.legend(fontsize=7, ncol=2)
        out.append(("models_probe_keys", fig))
    profiles = harmonic_profiles(list(cross_method))
    if profiles:
        fig, axes = plt.subplots(1, len(profiles), figsize=(5.5 * len(profiles), 4), squeeze=False, sharey=True)
        every = list(dict.fromkeys(m for p in profiles.values() for m in p["methods"]))  # one colour per method
        for ax, (model, p) in zip(axes[0], profiles.items()):
            for method, v in p["methods"].items():
                ax.plot(np.arange(1, len(v) + 1), v, "o-", ms=3, color=f"C{every.index(method) % 10}", label=method)
            ax.axhline(0, color="0.5", lw=0.8)
            ax.set_xlabel("harmonic k of a sounding key")
            ax.set_title(f"{registry.title(model)} ({p['n_pieces']} pieces; baseline: {p['baseline']})")
        axes[0][0].set_ylabel("score ÷ the method's max |score| (ratio)")
        axes[0][-1].legend(fontsize=7)
        fig.tight_layout()
        out.append(("models_harmonic_profile", fig))
    return out


def draw(name: str, caption: str, workdir: str, out: str | None = None, probe_keys=(), cross_method=()) -> Drawn:
    from amt_jax.report import load_results

    records = []
    for directory in probe_keys:  # probe-keys --out DIR writes DIR/probe_keys_<model>.json
        found = sorted(Path(directory).glob("probe_keys_*.json"))
        if not found:
            raise FileNotFoundError(f"--probe-keys {directory}: no probe_keys_<model>.json there")
        records += [json.loads(path.read_text()) for path in found]
    cross = []
    for path in cross_method:
        if not Path(path).is_file():
            raise FileNotFoundError(f"--cross-method {path}: no such file (python -m experiments.cross_method --out writes it)")
        cross.append(json.loads(Path(path).read_text()))
    made = figures(load_results(workdir), records, cross)
    drawn = save(name, caption, workdir, out, made, [])
    return Drawn(drawn.name, drawn.files, caption, command(name, workdir, out), drawn.sources)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.figures.models", description=CAPTION)
    parser.add_argument("--workdir", required=True, help="a sweep workdir with two or more models")
    parser.add_argument("--out", default=None, help="output directory (default: WORKDIR/paper_figures)")
    parser.add_argument("--probe-keys", nargs="*", default=(), metavar="DIR", help="probe-keys --out directories")
    parser.add_argument("--cross-method", nargs="*", default=(), metavar="JSON",
                        help="experiments.cross_method --out files, one per model")
    args = parser.parse_args(argv)
    try:
        drawn = draw("models", CAPTION, args.workdir, args.out, args.probe_keys, args.cross_method)
    except (ValueError, FileNotFoundError, KeyError) as exc:
        print(f"experiments.figures.models: error: {exc}", file=sys.stderr)
        return 2
    if not drawn.files:
        print(f"experiments.figures.models: error: {args.workdir} holds no reliance or factorial cells", file=sys.stderr)
        return 2
    print("\n".join(drawn.files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
