"""The plot functions' contract: ``ax=None`` → current axes; the axes drawn on is returned; and
what they mark (each key's fundamental on the weight map)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from amt_jax import FrequencyLayout  # noqa: E402
from amt_jax.report import plots  # noqa: E402


def test_plot_functions_return_the_axes_they_draw_on():
    rng = np.random.default_rng(0)
    m = rng.random(4)
    calls = [
        lambda ax: plots.harmonic_vs_control([2, 3, 4, 8], m, m - 0.1, m + 0.1, control_mean=m / 2,
                                             control_ci_low=m / 2 - 0.1, control_ci_high=m / 2 + 0.1, ax=ax),
        lambda ax: plots.importance_per_semitone(np.arange(4), m, m - 0.1, m + 0.1, label="x", ax=ax),
        lambda ax: plots.importance_bars(["a", "b", "c", "d"], m, m - 0.1, m + 0.1, xlabel="band", ax=ax),
        lambda ax: plots.per_key(m, m - 0.1, m + 0.1, ylabel="y", ax=ax),
        lambda ax: plots.per_bin(m, m - 0.1, m + 0.1, ylabel="S", ax=ax),
        lambda ax: plots.estimates_vs_h([2, 3, 4, 8], {"a": (m, m - 0.1, m + 0.1)}, ax=ax),
        lambda ax: plots.key_map(rng.standard_normal((4, 4)), layout=FrequencyLayout(12, 3, 0, 4), label="R", ax=ax),
        lambda ax: plots.weight_map(rng.standard_normal((12, 4)), layout=FrequencyLayout(12, 3, 0, 4), ax=ax),
        lambda ax: plots.spectrogram(rng.random((12, 5)), title="X", marked_bins=[1, 4], ax=ax),
        lambda ax: plots.piano_roll(rng.random((4, 5)), title="Y", ax=ax),
    ]
    for call in calls:
        fig, ax = plt.subplots()
        assert call(ax) is ax and ax.has_data()
        plt.close(fig)
        fig = plt.figure()
        ax = call(None)
        assert ax is plt.gca() and ax.figure is fig and ax.has_data()
        plt.close(fig)


def test_weight_map_fundamental_follows_the_semitone_groups():
    # Basic Pitch (c = 0, B = 3): key p's group is bins 3p-1..3p+1 (centre 3p), key 0's is clipped to 0..1
    basic_pitch_like = FrequencyLayout(n_bins=12, bins_per_semitone=3, center_offset=0, n_pitches=4)
    np.testing.assert_allclose(plots.fundamental_line(basic_pitch_like), [0.5, 3, 6, 9])
    # a trained variant (c = B // 2 = 1): centre 3p + 1
    np.testing.assert_allclose(plots.fundamental_line(FrequencyLayout(9, 3, 1, 3)), [1, 4, 7])
    fig, ax = plt.subplots()
    plots.weight_map(np.random.default_rng(0).standard_normal((12, 4)), layout=basic_pitch_like, ax=ax)
    line = next(l for l in ax.get_lines() if l.get_label() == "fundamental")
    np.testing.assert_allclose(line.get_ydata(), [0.5, 3, 6, 9])
    plt.close(fig)
