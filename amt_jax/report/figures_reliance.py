"""Figures of the designs that answer the study's questions directly: harmonic reliance (the key
whose harmonics moved vs the co-sounding keys), the factorial design for the missing fundamental,
and semitone pooling (resolution), from saved results only."""

from __future__ import annotations

import textwrap

import numpy as np

from amt_jax import stats
from amt_jax.frontend.layout import FrequencyLayout
from amt_jax.models import registry
from amt_jax.report import plots
from amt_jax.report.results import Results

ESTIMATES = {"diagonal": "drop at the key whose harmonics moved", "off_diagonal": "drop at co-sounding untouched keys",
             "contrast": "contrast (diagonal − off-diagonal)"}


def _new_figure(n_rows: int = 1, n_cols: int = 1, *, size=(6.4, 4.0)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * n_cols, size[1] * n_rows), layout="constrained")
    return fig, fig.subplots(n_rows, n_cols, squeeze=False)


def _piece(est: dict) -> tuple[float, float, float]:
    """Estimate and its crossed CI (a result computed before crossed intervals: its piece CI)."""
    keys = ("mean", "crossed_ci_low", "crossed_ci_high") if "crossed_ci_low" in est else \
        ("piece_mean", "piece_ci_low", "piece_ci_high")
    return tuple(np.nan if est.get(k) is None else float(est[k]) for k in keys)


def figure_reliance(results: Results):
    """Left: diagonal, off-diagonal and contrast vs h with crossed CIs (one panel row per model);
    right: the map R[q, p] of the first model at its largest h."""
    models = [(m, [c for c in results.of(m, "harmonic_swap") if "variant" not in c[0]["params"]])
              for m in results.config["models"]]  # the variants (width 1, attenuation) are rows of the summary
    models = [(m, cells) for m, cells in models if cells]
    if not models:
        return None
    fig, axes = _new_figure(len(models), 2)
    for row, (model, cells) in enumerate(models):
        h = [c["params"]["n_harmonics"] for c, _, _ in cells]
        est = {ESTIMATES[k]: np.array([_piece(rec["result"]["reliance"][k]) for _, rec, _ in cells]).T for k in ESTIMATES}
        plots.estimates_vs_h(h, est, ax=axes[row, 0])
        lows, highs = np.concatenate([v[1] for v in est.values()]), np.concatenate([v[2] for v in est.values()])
        axes[row, 0].set_ylabel(f"drop of the note output (probability; {plots.interval_phrase(lows, highs, 'crossed')})")
        axes[row, 0].set_title(f"Harmonic reliance — {registry.label(model)}")
        cell, rec, arrays = cells[-1]
        plots.key_map(arrays["reliance_map"], layout=FrequencyLayout.from_dict(rec["result"]),
                      label="mean drop of key p's output (probability)", ax=axes[row, 1])
        axes[row, 1].set_title(f"Drop at key p when key q's harmonics moved, h = {cell['params']['n_harmonics']}\n"
                               "(octave and fifth lines dotted; keys measured only)")
    return fig


def figure_factorial(results: Results):
    """v(F), v(H), v(F∪H) and the interaction with crossed CIs, one group of bars per model (on the
    scale the cell measured: logits by default)."""
    cells = [(m, results.of(m, "factorial")) for m in results.config["models"]]
    cells = [(m, c[0]) for m, c in cells if c]
    if not cells:
        return None
    fig, axes = _new_figure(1, len(cells))
    names = {"F": "v(F)\nfundamental", "H": "v(H)\nharmonics", "FH": "v(F∪H)\nboth", "interaction": "interaction"}
    for ax, (model, (cell, rec, _)) in zip(axes[0], cells):
        est = rec["result"]["factorial"]
        m, lo, hi = np.array([_piece(est[k]) for k in names]).T
        plots.importance_bars(list(names.values()), m, lo, hi,
                              xlabel="cue replaced from frames where the key is silent (condition)",
                              ylabel=f"drop at the key's own output ({est.get('scale', 'probability')})",
                              interval="95 % crossed CI", ax=ax)
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_title(f"Missing fundamental, h = {cell['params']['n_harmonics']} — {registry.label(model)}")
    return fig


def figure_registers(results: Results):
    """The reliance contrast (largest h) and the factorial interaction for the low, middle and high
    thirds of the sounding keys, per model, with 95 % crossed CIs (q in the summary's table)."""
    from amt_jax.report.summary import by_register

    rows = [r for r in by_register(results) if "variant" not in r["params"]]
    chosen = {}
    for r in rows:  # per model and kind, the last cell in sweep order (the largest h)
        chosen[(r["model"], r["kind"])] = r["cell"]
    panels = [(key, [r for r in rows if r["cell"] == cell]) for key, cell in chosen.items()]
    if not panels:
        return None
    fig, axes = _new_figure(1, len(panels), size=(4.4, 4.0))
    for ax, ((model, kind), mine) in zip(axes[0], panels):
        m, lo, hi = (np.array([np.nan if r[k] is None else r[k] for r in mine]) for k in ("mean", "ci_low", "ci_high"))
        plots.estimate_points([f"{r['register']}\nMIDI {r['midi']}\n({r['n_pieces']} pieces)" for r in mine], m, lo, hi,
                              xlabel="register (thirds of the sounding keys; MIDI range)",
                              ylabel=f"{'reliance contrast' if kind == 'harmonic_swap' else 'interaction'} "
                                     f"({_scale(results, mine[0]['cell'])})", interval="95 % crossed CI", ax=ax)
        ax.set_title(f"{registry.label(model)}: {'harmonic reliance' if kind == 'harmonic_swap' else 'missing fundamental'}"
                     "\nby register")
    return fig


def figure_resolution(results: Results):
    """Semitone pooling: per key (one key pooled per draw, MC CIs over its draws) and every key pooled
    at once per model (piece-level CI; comparable across B: 0 by construction at B = 1)."""
    per_key = [(m, results.of(m, "pooling_one")) for m in results.config["models"]]
    per_key = [(m, c[0]) for m, c in per_key if c]
    overall = [(m, results.of(m, "pooling_all")) for m in results.config["models"]]
    overall = [(m, c[0]) for m, c in overall if c]
    if not per_key and not overall:
        return None
    fig, axes = _new_figure(1, 2)
    lows, highs = [], []
    for model, (_, rec, arrays) in per_key:
        layout = FrequencyLayout.from_dict(rec["result"])
        by = stats.group_summary(arrays["importances"], arrays["group_ids"], confidence=rec["result"]["confidence"])
        full = np.full((3, layout.n_pitches), np.nan)
        full[:, by["group"]] = by["mean"], by["ci_low"], by["ci_high"]
        plots.per_key(*full, ylabel=plots.IMPORTANCE, label=f"{registry.label(model)} (B={layout.bins_per_semitone})",
                      lowest_midi=layout.lowest_midi, ax=axes[0, 0])
        lows, highs = [*lows, *full[1]], [*highs, *full[2]]
    ci = plots.interval_phrase(lows, highs, "Monte Carlo", none="too few draws per key for an interval")
    axes[0, 0].set_title(f"One key's semitone pooled per draw ({ci})")
    if overall:
        labels = [f"{registry.label(m)}\nB={rec['result']['bins_per_semitone']}" for m, (_, rec, _) in overall]
        m, lo, hi = np.array([[np.nan if rec["result"].get(k) is None else float(rec["result"][k])
                               for k in ("piece_mean", "clip_ci_low", "clip_ci_high")] for _, (_, rec, _) in overall]).T
        plots.importance_bars(labels, m, lo, hi, xlabel="model (bins per semitone B)", interval="95 % piece CI",
                              ax=axes[0, 1])
        axes[0, 1].set_title("Every semitone pooled (0 by construction at B = 1)")
    else:
        axes[0, 1].set_axis_off()
    return fig


PER_INSTRUMENT = {  # kind -> (title, y quantity) of the per-instrument figure's panel
    "harmonic_swap": ("Harmonic reliance", "reliance contrast"),
    "factorial": ("Missing fundamental", "interaction"),
    "pooling_all": ("Semitone pooling", "output change"),
    "random_spectral": ("Random spectral shuffle", "importance: mean |ΔY|"),
}


def _scale(results: Results, cell_id: str) -> str:
    """The scale a cell's numbers are on: the factorial's recorded scale, else the note output."""
    factorial = results.finished[cell_id][0]["result"].get("factorial") or {}
    return factorial.get("scale", "probability")


def _short_instrument(name: str) -> str:
    """A General MIDI program name without a trailing "1" ("String Ensemble 1"); whole otherwise, so
    names stay distinct ("Acoustic Grand Piano", "Acoustic Guitar (nylon)")."""
    return name[:-2] if name.endswith(" 1") else name


def figure_per_instrument(results: Results):
    """Per instrument (General MIDI program of the pieces): the reliance contrast, the factorial
    interaction, semitone pooling and the whole-axis shuffle, mean over that program's pieces with
    a t CI over them (one panel per probe; first model; the largest h)."""
    from amt_jax.report.summary import by_program
    from amt_jax.sweep.probes import PROBES

    def shown(r):  # the probe table says which cells of a kind the figure shows
        flag = PROBES[r["kind"]].per_instrument
        return flag is not None and flag(r["params"])

    rows = [r for r in by_program(results) if r["model"] == results.config["models"][0] and shown(r)]
    chosen = {}
    for r in rows:  # per kind, the last cell in sweep order (the largest h)
        chosen[r["kind"]] = r["cell"]
    panels = [(kind, [r for r in rows if r["cell"] == cell]) for kind, cell in chosen.items()]
    if not panels:
        return None
    fig, axes = _new_figure(1, len(panels), size=(4.8, 4.4))
    for ax, (kind, mine) in zip(axes[0], panels):
        words = PER_INSTRUMENT.get(kind, (kind.replace("_", " "), "estimate"))
        m, lo, hi = (np.array([np.nan if r[k] is None else r[k] for r in mine]) for k in ("mean", "ci_low", "ci_high"))
        plots.estimate_points([f"{_short_instrument(r['instrument'])} ({r['n_pieces']})" for r in mine], m, lo, hi,
                              xlabel="instrument (General MIDI program; pieces)",
                              ylabel=f"{words[1]} ({_scale(results, mine[0]['cell'])})",
                              interval="95 % piece CI", ax=ax)
        setting = PROBES[kind].label(mine[0]["params"]).replace("-", "–")
        ax.set_title(textwrap.fill(f"{words[0]} ({setting}) per instrument", 38))
    return fig
