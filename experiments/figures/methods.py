"""Cross-method evidence for Basic Pitch: (a) Spearman agreement between methods within each kind of group — harmonic k of a sounding key, semitone, octave band — (mean over pieces; 95 % piece-bootstrap CIs in the record, drawn for up to 5 methods); (b) each method's score of harmonic k of a sounding key, scaled to its largest |score|; (c) I(h) of the harmonic stack's channels, mean over pieces with piece-level CIs; (d) per kind of group, the Spearman ρ of |scores| with the trained model's vs cascading randomisation depth (a method whose CI stays above the survival line in every kind reads the architecture, not the learned weights); (e) class-wise top-n LRP maps per key beside the dotted fundamental.

Reads ``WORKDIR/cross_method.json`` and its ``.npz`` (written by ``python -m experiments.cross_method
--out WORKDIR/cross_method.json``); nothing is recomputed.
"""

from __future__ import annotations

import json
import sys

from experiments.figures import Drawn, command, main, save

CAPTION = __doc__.split("\n\n")[0]
RESULT = "cross_method.json"


def figures(record: dict, arrays) -> list:
    """``[(file name, matplotlib figure)]`` from a cross-method record and its arrays."""
    import matplotlib.pyplot as plt
    import numpy as np

    from amt_jax.explain.crossmethod import SURVIVAL_KINDS
    from amt_jax.frontend.layout import FrequencyLayout
    from amt_jax.report import plots_methods

    out = []
    kinds = [k for k in SURVIVAL_KINDS if k in record.get("agreement", {})]
    if kinds:
        fig, axes = plt.subplots(1, len(kinds), figsize=(6.5 * len(kinds), 6), squeeze=False)
        for ax, kind in zip(axes[0], kinds):
            a = record["agreement"][kind]
            plots_methods.agreement_heatmap(a["methods"], a["rho"], a["ci_low"], a["ci_high"], ax=ax,
                                            title=f"{kind} groups ({a['n_pieces']} pieces)")
        out.append(("methods_agreement", fig))
    if "harmonic_profile" in record:
        fig, ax = plt.subplots(figsize=(6, 4))
        plots_methods.harmonic_profiles({m: np.asarray(p, float) for m, p in record["harmonic_profile"].items()}, ax=ax)
        out.append(("methods_harmonic_profile", fig))
    if "stack_importance" in record and "skipped" not in record["stack_importance"]:  # a model without a stack
        s = record["stack_importance"]
        h = sorted(s, key=float)
        value = lambda k, field: np.nan if s[k][field] is None else s[k][field]  # noqa: E731
        fig, ax = plt.subplots(figsize=(6, 4))
        plots_methods.stack_importance([float(k) for k in h],
                                       [s[k].get("piece_mean", s[k]["importances_mean"]) for k in h],
                                       [value(k, "clip_ci_low") for k in h], [value(k, "clip_ci_high") for k in h],
                                       ax=ax)
        out.append(("methods_stack", fig))
    if "cascade" in record:
        depths = [d for d in record["cascade"]["depths"] if "methods" in d]
        labels = [d["randomised"][-1] for d in depths]
        methods = list(depths[0]["methods"]) if depths else []
        fig, axes = plt.subplots(1, len(SURVIVAL_KINDS), figsize=(6.5 * len(SURVIVAL_KINDS), 4.5), squeeze=False)
        for ax, kind in zip(axes[0], SURVIVAL_KINDS):
            get = lambda m, field: [d["methods"][m].get(f"abs_{kind}", {}).get(field, np.nan) for d in depths]  # noqa: E731
            plots_methods.cascade_curves(labels, {m: get(m, "rho") for m in methods},
                                         {m: get(m, "ci_low") for m in methods}, {m: get(m, "ci_high") for m in methods},
                                         ylabel=f"ρ of |scores| with the trained model ({kind} groups)",
                                         null={m: get(m, "null_rho") for m in methods}, ax=ax)
        out.append(("methods_cascade", fig))
    if arrays is not None and "lrp_topn_maps" in arrays:
        maps = np.array(arrays["lrp_topn_maps"], float)
        maps[np.asarray(arrays["lrp_topn_counts"]) == 0] = np.nan
        fig, ax = plt.subplots(figsize=(7, 5))
        plots_methods.key_map(maps, layout=FrequencyLayout.from_dict(record["inputs"]["layout"]), ax=ax,
                              label=f"LRP relevance, top {record['lrp_topn']['n']} frames per key")
        out.append(("methods_lrp_maps", fig))
    for _, fig in out:
        fig.tight_layout()
    return out


def draw(name: str, caption: str, workdir: str, out: str | None = None) -> Drawn:
    """Draw the cross-method figures from ``WORKDIR/cross_method.json`` (no files when it is absent)."""
    import numpy as np
    from etils import epath

    path = epath.Path(workdir) / RESULT
    if not path.exists():
        return Drawn(name, [], caption, command(name, workdir, out), [])
    record = json.loads(path.read_text())
    npz = path.parent / (path.stem + ".npz")
    arrays = dict(np.load(npz.open("rb"))) if npz.exists() else None
    if arrays is not None and str(arrays.get("run_id", "")) != record.get("run_id", ""):
        raise ValueError(f"{npz} and {path} were written by different runs of experiments.cross_method; rerun it")
    return save(name, caption, workdir, out, figures(record, arrays), [RESULT] + ([npz.name] if arrays is not None else []))


if __name__ == "__main__":
    sys.exit(main("methods", CAPTION, drawer=draw))
