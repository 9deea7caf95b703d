"""CKA figures: layer × layer CKA between two networks, and per-layer CKA(h(X), h(πX)) per family.

Plot functions take arrays, draw on ``ax`` (the current axes when None) and return ``ax``; the
figure functions take :class:`amt_jax.explain.cka.CKAResult` s and return a matplotlib Figure
(save it with :func:`amt_jax.report.figures.save_figure`).
"""

from __future__ import annotations

import numpy as np

from amt_jax.report.plots import axes_or_new, error_bars


def cka_matrix(cka, rows, cols, *, title: str = "", row_label: str = "", col_label: str = "", annotate: bool = True,
               ax=None):
    """Heat map of ``cka [len(rows), len(cols)]`` on [0, 1], rows top to bottom, with the values written in."""
    ax = axes_or_new(ax)
    cka = np.asarray(cka, float)
    if cka.shape != (len(rows), len(cols)):
        raise ValueError(f"cka must have shape [{len(rows)}, {len(cols)}] (rows × cols), got {list(cka.shape)}")
    image = ax.imshow(cka, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize="small")
    ax.set_yticks(range(len(rows)), rows, fontsize="small")
    ax.set_xlabel(col_label)
    ax.set_ylabel(row_label)
    if annotate:
        for (i, j), v in np.ndenumerate(cka):
            ax.text(j, i, "" if np.isnan(v) else f"{v:.2f}", ha="center", va="center", fontsize="x-small",
                    color="black" if v > 0.6 else "white")
    ax.set_title(title)
    ax.figure.colorbar(image, ax=ax, shrink=0.8, label="linear CKA")
    return ax


def cka_by_layer(layers, mean, ci_low, ci_high, *, label: str = "", ax=None):
    """CKA per layer (input → output) with its interval as error bars; 1 = the layer does not change."""
    ax = axes_or_new(ax)
    x = np.arange(len(layers))
    yerr = np.nan_to_num(error_bars(mean, ci_low, ci_high))
    ax.errorbar(x, mean, yerr=np.maximum(yerr, 0), fmt="o-", capsize=3, label=label or None)
    ax.set_xticks(x, layers, rotation=45, ha="right", fontsize="small")
    ax.axhline(1.0, color="0.6", lw=0.8, ls=":")
    ax.set_ylabel("CKA(h(X), h(πX))")
    if label:
        ax.legend(fontsize="small")
    return ax


def _figure(n_panels: int, size=(5.2, 4.4), max_cols: int = 3):
    from matplotlib.figure import Figure

    n_cols = min(n_panels, max_cols)
    n_rows = -(-n_panels // n_cols)
    fig = Figure(figsize=(size[0] * n_cols, size[1] * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_axis_off()
    return fig, axes[:n_panels]


def figure_layer_cka(results: dict) -> object:
    """One heat map per pair: ``{"B=1 vs B=3": CKAResult, ...}`` (rows: first network's layers)."""
    if not results:
        raise ValueError("results must hold at least one CKAResult, got {}")
    fig, axes = _figure(len(results))
    for ax, (name, r) in zip(axes, results.items()):
        a, _, b = name.partition(" vs ")
        cka_matrix(r.cka, r.rows, r.cols, title=f"{name} ({r.n_clusters} pieces)", row_label=a, col_label=b, ax=ax)
    return fig


def figure_permutation_cka(results: dict, *, title: str = "") -> object:
    """Per-layer CKA(h(X), h(πX)), one line per family: ``{"harmonic h=8": CKAResult, ...}``."""
    if not results:
        raise ValueError("results must hold at least one CKAResult, got {}")
    fig, axes = _figure(1, size=(7.0, 4.4))
    lows = [0.8]
    for name, r in results.items():
        cka_by_layer(r.rows, r.cka, r.ci_low, r.ci_high, label=name, ax=axes[0])
        lows += [float(np.nanmin(v)) for v in (r.ci_low, r.cka) if np.isfinite(v).any()]
    axes[0].set_ylim(min(lows) - 0.02, 1.02)
    axes[0].set_title(title or "Where a permutation's effect shows (95 % piece-bootstrap CI)")
    return fig
