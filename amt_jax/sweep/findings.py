"""The findings sentences of the probe table: ``finding(row) -> str``, one plain sentence for a
summary row (:func:`amt_jax.report.summary.summary_rows`) of a kind, with its number, its crossed
interval (draws and pieces random) and the control it is read against. Each :class:`~amt_jax.sweep.probes.Probe` entry names
its sentence (``finding``); kinds without one have none."""

from __future__ import annotations

import math

from amt_jax.models import registry
from amt_jax.sweep import compute


def fmt(x) -> str:
    """A number as read in a sentence (3 significant digits; ``nan`` for a missing value)."""
    return "nan" if x is None else f"{x:.3g}"


LEFT_BECAUSE = {  # why a piece leaves a cell of a kind: it measured nothing in any draw
    "harmonic_swap": "in the others no draw left a co-sounding key's comb untouched",
    "factorial": "the others had no frames to score",
}


def pieces(row: dict) -> str:
    """``"k pieces"``, or ``"k of K pieces (why the others left)"`` when some left the cell."""
    k, total = row.get("n_pieces"), row.get("n_pieces_total")
    if total is None or k == total:
        return f"{k} pieces"
    return f"{k} of {total} pieces ({LEFT_BECAUSE.get(row.get('family'), 'the others measured nothing')})"


def bracket(row: dict, low: str, high: str) -> str:
    """``[low, high]`` of the row's two bounds, or why there is none (``1 draw: no interval``,
    ``fewer than 2 pieces: no interval``): never ``[nan, nan]``."""
    bounds = (row.get(low), row.get(high))
    if any(v is None or not math.isfinite(v) for v in bounds):
        return f"({compute.no_interval(row.get('n_draws', row.get('n')), row.get('n_pieces'))})"
    return f"[{fmt(bounds[0])}, {fmt(bounds[1])}]"


def _ci(row: dict) -> str:
    return (f"{fmt(row['difference'])} {bracket(row, 'difference_ci_low', 'difference_ci_high')} "
            f"(crossed: draws and pieces random) over {pieces(row)}")


def reliance(row: dict) -> str:
    """The reliance sentence: the contrast with the co-sounding keys and the real − sham comb
    difference; for a ``key_mass`` output (:func:`reliance_key_mass`) the real − sham difference alone."""
    if row.get("output_kind") == "key_mass":
        return reliance_key_mass(row)
    who = registry.title(row["model"])
    out = (f"Harmonic reliance ({row['setting']}, {who}): moving a sounding key's harmonics 2..h to mistuned bins "
           f"lowers that key's output by {_ci(row)} more than the untouched keys sounding with it (p = {fmt(row['p'])})")
    if row.get("sham_difference") is not None:
        out += (f"; and by {fmt(row['sham_difference'])} {bracket(row, 'sham_ci_low', 'sham_ci_high')} "
                "(crossed) more than moving blocks of a sham comb at inharmonic offsets, the same keys and draws")
    if "output_kind" in row and row["output_kind"] is None:
        out += (" (this result does not record its output's kind, it predates that: if the output is one softmax "
                "over pitch, the contrast is inflated and only the sham difference is read; rerun the cell)")
    return out + "."


def reliance_key_mass(row: dict) -> str:
    """The reliance sentence of an output that is each key's share of one softmax (``key_mass``):
    the key's own drop minus the sham comb's drop at the same key (same keys and draws). The
    contrast with the co-sounding keys is not read: removing mass from the key renormalises it onto
    the others, whose outputs rise, which inflates a contrast taken over the other keys."""
    who = registry.title(row["model"])
    head = f"Harmonic reliance ({row['setting']}, {who}; a key_mass output, one softmax over pitch)"
    # the contrast's columns: contrast_* when the row tests own − sham (a sham comb was fitted), else difference*
    value, lo, hi = ("contrast_difference", "contrast_ci_low", "contrast_ci_high") \
        if row.get("contrast_difference") is not None else ("difference", "difference_ci_low", "difference_ci_high")
    inflated = (f"the contrast with the co-sounding keys ({fmt(row[value])} "
                f"{bracket(row, lo, hi)}) is not read: the softmax gives the key's "
                "lost mass to the other keys, whose rise inflates it")
    if row.get("sham_difference") is None:
        return f"{head}: no sham comb fitted at this setting, so the key's own drop has no control; {inflated}."
    sham_row = {**row, "n_pieces": row.get("sham_n_pieces", row.get("n_pieces"))}
    return (f"{head}: moving a sounding key's harmonics 2..h to mistuned bins lowers that key's own output "
            f"by {fmt(row['sham_difference'])} {bracket(row, 'sham_ci_low', 'sham_ci_high')} (crossed: draws "
            f"and pieces random) over {pieces(sham_row)} more than moving blocks of a sham comb at inharmonic offsets "
            f"does, the same keys and draws (p = {fmt(row.get('sham_p'))}); {inflated}.")


def factorial(row: dict) -> str:
    sign = ("above the sum of the single replacements: the model recovers a note from either cue"
            if (row["difference_ci_low"] or 0) > 0 else
            "below the sum of the single replacements: either cue alone already removes much of the note"
            if (row["difference_ci_high"] or 0) < 0 else "additive: no evidence either way")
    scale = row.get("scale") or "probability"
    ratios = "" if row.get("ratio_F") is None else \
        f"; alone, the fundamental's replacement costs {fmt(row['ratio_F'])} and the harmonics' {fmt(row['ratio_H'])} of both"
    return (f"Missing fundamental ({row['setting']}, {scale} scale): replacing fundamental and harmonics together "
            f"(from frames where the key is silent) lowers a key's output by {_ci(row)} relative to the two "
            f"replacements' sum, i.e. {sign} (p = {fmt(row['p'])}){ratios}.")


def seed_harmonic(row: dict) -> str:
    return (f"Seed harmonic shuffle ({row['setting']}) minus its size-matched control: {_ci(row)} (p = {fmt(row['p'])}); "
            "the seed family shuffles bins that co-vary, so it moves less input: read the reliance rows.")


def pooling(row: dict) -> str:
    verdict = ("the output depends on sub-semitone detail" if (row["crossed_ci_low"] or 0) > 0 else
               "no evidence that the output depends on sub-semitone detail")
    return (f"Semitone pooling (every key): output change {fmt(row['mean'])} "
            f"{bracket(row, 'crossed_ci_low', 'crossed_ci_high')} (crossed: draws and pieces random) over "
            f"{row['n_pieces']} pieces, {fmt(row['relative'])} of the whole-axis "
            f"shuffle: {verdict} (a divergence, not a cost: the F1 cost row says whether it helps).")


def f1_cost(what: str):
    """The sentence of a frame-F1 cost row: ``what`` changes frame F1 by the row's mean (a drop is a
    cost, a rise a gain), with its crossed interval; tested against 0."""

    def sentence(row: dict) -> str:
        lo, hi = row.get("crossed_ci_low"), row.get("crossed_ci_high")
        verdict = ("a cost" if (lo or 0) > 0 else "a gain" if (hi or 0) < 0 else "no evidence of a change")
        return (f"{what}: frame F1 drops by {fmt(row['mean'])} [{fmt(lo)}, {fmt(hi)}] (crossed) over "
                f"{row['n_pieces']} pieces at the model's threshold — {verdict} (F1 per clip window, mean over "
                "pieces; not the whole-piece F1 of evaluate).")

    return sentence
